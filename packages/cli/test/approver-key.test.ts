// Approver key files: sealed under a passphrase (argon2id, @coffer/hsm software backend), 0600, never
// overwritten, never printed; a wrong passphrase, an edited id or public key, or an altered blob is
// refused — a stolen or tampered key file must not sign approvals.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { signApproval } from '@coffer/policy/approvals';
import { verifyEd25519 } from '@coffer/policy/keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApproverKeyError,
  createApproverKeyFile,
  openApproverKeyFile,
  readApproverKeyFile,
} from '../src/approver-key.ts';

const FAST = { opsLimit: 1, memLimitBytes: 8 * 1024 * 1024 };
let dir: string;
let file: string;
let passFile: string;
let publicKey: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-approver-key-test-'));
  passFile = join(dir, 'pass');
  writeFileSync(passFile, 'correct horse battery staple\n', { mode: 0o600 });
  file = join(dir, 'alice.key');
  ({ publicKey } = await createApproverKeyFile({
    id: 'alice',
    out: file,
    passphrase: { file: passFile },
    argon2id: FAST,
  }));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function refusal(p: Promise<unknown>): Promise<ApproverKeyError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApproverKeyError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

// biome-ignore lint/suspicious/noExplicitAny: edits reach into the parsed file freely
type Json = Record<string, any>;

function tampered(name: string, edit: (json: Json) => void): string {
  const json = JSON.parse(readFileSync(file, 'utf8'));
  edit(json);
  const out = join(dir, name);
  writeFileSync(out, JSON.stringify(json));
  return out;
}

describe('approver key files', () => {
  it('writes a 0600 file with the public key only in clear, and opens it with the passphrase', async () => {
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const onDisk = readApproverKeyFile(file);
    expect(onDisk).toMatchObject({ format: 'coffer-approver-key/1', id: 'alice', publicKey });
    const opened = await openApproverKeyFile(file, { file: passFile });
    expect(opened.publicKey).toBe(publicKey);
    // The opened key signs approvals that verify under the published key.
    const approval = signApproval(
      { approverId: 'alice', requestDigest: 'ab'.repeat(32), approvedAtMs: 1, expiresAtMs: 2 },
      opened.key,
    );
    expect(approval.signature).toMatch(/^[0-9a-f]{128}$/);
    // The seed is nowhere in the file, in JSON or in inspect output.
    const seedHex = Buffer.from(opened.key.exportSecretKey()).toString('hex');
    expect(readFileSync(file, 'utf8')).not.toContain(seedHex);
    expect(readFileSync(file, 'utf8')).not.toContain(
      Buffer.from(opened.key.exportSecretKey()).toString('base64'),
    );
    expect(JSON.stringify(opened)).not.toContain(seedHex);
    expect(inspect(opened, { depth: 5 })).not.toContain(seedHex);
  });

  it('refuses to overwrite an existing file and leaves it untouched', async () => {
    const before = readFileSync(file, 'utf8');
    const e = await refusal(
      createApproverKeyFile({ id: 'mallory', out: file, passphrase: { file: passFile }, argon2id: FAST }),
    );
    expect(e.code).toBe('key-file-exists');
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('a wrong passphrase is refused as wrong-passphrase; a missing one names its source', async () => {
    const wrong = join(dir, 'wrong');
    writeFileSync(wrong, 'not the passphrase');
    expect((await refusal(openApproverKeyFile(file, { file: wrong }))).code).toBe('wrong-passphrase');
    const missing = await refusal(openApproverKeyFile(file, { env: 'COFFER_TEST_UNSET_PASSPHRASE' }));
    expect(missing.code).toBe('passphrase-unavailable');
    expect(missing.message).toContain('COFFER_TEST_UNSET_PASSPHRASE');
  });

  it('an edited id, public key, blob or KDF field is refused (the key cannot be re-labelled)', async () => {
    const other = await createApproverKeyFile({
      id: 'bob',
      out: join(dir, 'bob.key'),
      passphrase: { file: passFile },
      argon2id: FAST,
    });
    const cases: Array<[string, (j: Json) => void, string]> = [
      [
        'id.key',
        (j) => {
          j.id = 'bob';
        },
        'key-file-corrupt',
      ],
      [
        'pub.key',
        (j) => {
          j.publicKey = other.publicKey;
        },
        'key-file-corrupt',
      ],
      [
        'blob.key',
        (j) => {
          const b = Buffer.from(j.sealed.blob, 'base64');
          b[b.length - 5]! ^= 1;
          j.sealed.blob = b.toString('base64');
        },
        'key-file-corrupt',
      ],
      [
        'salt.key',
        (j) => {
          j.sealed.keystore.kdf.salt = '00'.repeat(16);
        },
        'wrong-passphrase',
      ],
      [
        'format.key',
        (j) => {
          j.format = 'coffer-approver-key/2';
        },
        'key-file-corrupt',
      ],
      [
        'extra.key',
        (j) => {
          j.seed = '00';
        },
        'key-file-corrupt',
      ],
    ];
    for (const [name, edit, code] of cases) {
      const e = await refusal(openApproverKeyFile(tampered(name, edit), { file: passFile }));
      expect(e.code, name).toBe(code);
    }
    // Bob's blob moved into Alice's file (with Alice's id) does not open either.
    const bob = JSON.parse(readFileSync(join(dir, 'bob.key'), 'utf8'));
    const swapped = tampered('swap.key', (j) => {
      j.sealed = bob.sealed;
    });
    expect((await refusal(openApproverKeyFile(swapped, { file: passFile }))).code).toBe('key-file-corrupt');
  });

  it('refuses ids the policy could not name', async () => {
    const e = await refusal(
      createApproverKeyFile({ id: 'Alice Smith', out: join(dir, 'x.key'), passphrase: { file: passFile } }),
    );
    expect(e.code).toBe('invalid-argument');
    expect(() => statSync(join(dir, 'x.key'))).toThrow();
  });

  it('verifies: the public key in the file is the key that signs', async () => {
    const opened = await openApproverKeyFile(file, { file: passFile });
    const message = new Uint8Array([1, 2, 3]);
    expect(verifyEd25519(Buffer.from(opened.key.sign(message)).toString('hex'), message, publicKey)).toBe(
      true,
    );
  });
});
