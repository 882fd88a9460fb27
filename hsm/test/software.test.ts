// Software backend with real files: a wrong passphrase is caught by the key check before anything is
// unsealed, failed opens and refused inits never write, the files never hold a sealed secret (or the
// passphrase, or the derived KEK) in plaintext, and an edited file is detected.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import sodium from 'libsodium-wrappers-sumo';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Keystore } from '../src/keystore.ts';
import {
  DEFAULT_ARGON2ID,
  initSoftwareKeystore,
  openSoftwareKeystore,
  SOFTWARE_KEYSTORE_FILE,
  type SoftwareKeystoreOptions,
} from '../src/software.ts';
import {
  expectHsmError,
  expectNoSecrets,
  FAST_ARGON2ID,
  randomSecret,
  renderings,
  secretInEnv,
  snapshotFiles,
  temporaryDirectory,
} from './fixtures.ts';

const passphrase = 'violet-anchor-meridian-4471';
const passphraseEnv = secretInEnv(passphrase);
const directories: { path: string; remove(): void }[] = [];
const opened: Keystore[] = [];

function freshDirectory(): string {
  const directory = temporaryDirectory('software');
  directories.push(directory);
  return directory.path;
}

async function init(directory: string, extra: Partial<Parameters<typeof initSoftwareKeystore>[0]> = {}) {
  const keystore = await initSoftwareKeystore({
    directory,
    passphrase: { env: passphraseEnv },
    argon2id: FAST_ARGON2ID,
    ...extra,
  });
  opened.push(keystore);
  return keystore;
}

async function open(options: SoftwareKeystoreOptions) {
  const keystore = await openSoftwareKeystore(options);
  opened.push(keystore);
  return keystore;
}

/** Recomputes the argon2id output from the file's salt and parameters: the KEK as the keystore holds it. */
async function derivedKek(directory: string): Promise<Uint8Array> {
  await sodium.ready;
  const file = JSON.parse(readFileSync(join(directory, SOFTWARE_KEYSTORE_FILE), 'utf8'));
  const output = sodium.crypto_pwhash(
    64,
    passphrase,
    Buffer.from(file.kdf.salt, 'hex'),
    file.kdf.opsLimit,
    file.kdf.memLimitBytes,
    sodium.crypto_pwhash_ALG_ARGON2ID13,
  );
  return output.slice(0, 32);
}

let directory: string;
let keystore: Keystore;

beforeAll(async () => {
  directory = freshDirectory();
  keystore = await init(directory);
});

afterAll(async () => {
  for (const each of opened) await each.close();
  for (const each of directories) each.remove();
});

describe('passphrase', () => {
  test('wrong passphrase: caught by the key check with a typed error, never echoing the passphrase', async () => {
    const wrong = 'violet-anchor-meridian-4472';
    const error = await expectHsmError(
      () => openSoftwareKeystore({ directory, passphrase: { env: secretInEnv(wrong) } }),
      'wrong-passphrase',
    );
    expect(error.message).toContain(SOFTWARE_KEYSTORE_FILE);
    expect(error.message).toContain('nothing was unsealed');
    expectNoSecrets(renderings(error), [wrong, passphrase]);
  });

  test('a failed open never writes: the directory is byte-for-byte unchanged', async () => {
    const before = snapshotFiles(directory);
    await expectHsmError(
      () => openSoftwareKeystore({ directory, passphrase: { env: secretInEnv('definitely wrong') } }),
      'wrong-passphrase',
    );
    await expectHsmError(
      () => openSoftwareKeystore({ directory, passphrase: { env: `COFFER_UNSET_${process.pid}` } }),
      'secret-unavailable',
    );
    expect(snapshotFiles(directory)).toEqual(before);
  });

  test('passphrase from a file; missing keystore named in the error', async () => {
    const file = join(freshDirectory(), 'passphrase');
    writeFileSync(file, `${passphrase}\n`, { mode: 0o600 });
    const reopened = await open({ directory, passphrase: { file } });
    expect(reopened.kek.id).toEqual(keystore.kek.id);
    const missing = freshDirectory();
    const error = await expectHsmError(
      () => openSoftwareKeystore({ directory: missing, passphrase: { env: passphraseEnv } }),
      'keystore-not-found',
    );
    expect(error.message).toContain(missing);
  });

  test('init refuses a passphrase shorter than 8 characters', async () => {
    await expectHsmError(
      () => initSoftwareKeystore({ directory: freshDirectory(), passphrase: { env: secretInEnv('short') } }),
      'invalid-argument',
    );
  });
});

describe('files', () => {
  test('files hold no plaintext: not the sealed share, not the passphrase, not the derived KEK', async () => {
    const share = randomSecret(64);
    const blob = await keystore.seal(share, 'share:wallet-1:1');
    // The node stores the blob next to the keystore; scan everything in the directory.
    writeFileSync(join(directory, 'share-wallet-1-1.sealed'), blob);
    const kek = await derivedKek(directory);
    const files = snapshotFiles(directory);
    expect(files.size).toBe(2);
    for (const [path, bytes] of files) {
      for (const secret of [share, kek, new TextEncoder().encode(passphrase)]) {
        expect(bytes.includes(Buffer.from(secret)), `${path} contains a secret`).toBe(false);
      }
      expectNoSecrets(bytes.toString('latin1'), [share, kek, passphrase]);
    }
    // The KEK recomputed here is really the one in use, so the scan looked for the right bytes.
    expect(renderings(keystore)).not.toContain(Buffer.from(kek).toString('hex'));
    expect((await keystore.unseal(blob, 'share:wallet-1:1')).expose()).toEqual(share);
  });

  test('keystore file is private (0600) in a private directory (0700)', () => {
    expect(statSync(join(directory, SOFTWARE_KEYSTORE_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(directory).mode & 0o777).toBe(0o700);
  });

  test('init refuses to overwrite an existing keystore; explicit overwrite replaces it', async () => {
    const target = freshDirectory();
    const first = await init(target);
    const blob = await first.seal(randomSecret(), 'share:k:1');
    const before = snapshotFiles(target);
    const error = await expectHsmError(() => init(target), 'already-initialized');
    expect(error.message).toContain('overwrite');
    expect(snapshotFiles(target)).toEqual(before);

    const replaced = await init(target, { overwrite: true });
    expect(replaced.kek.id).not.toEqual(first.kek.id);
    await expectHsmError(() => replaced.unseal(blob, 'share:k:1'), 'wrong-kek');
  });

  test('edited KEK id, KDF parameters or salt fail the key check (they are bound into it)', async () => {
    const original = readFileSync(join(directory, SOFTWARE_KEYSTORE_FILE), 'utf8');
    const edits: ((file: { kdf: { opsLimit: number; salt: string }; kek: { id: string } }) => void)[] = [
      (file) => {
        file.kek.id = `${file.kek.id.slice(0, -2)}${file.kek.id.endsWith('00') ? '01' : '00'}`;
      },
      (file) => {
        file.kdf.opsLimit += 1;
      },
      (file) => {
        file.kdf.salt = `${file.kdf.salt.slice(0, -2)}${file.kdf.salt.endsWith('00') ? '01' : '00'}`;
      },
    ];
    for (const edit of edits) {
      const target = freshDirectory();
      const file = JSON.parse(original);
      edit(file);
      writeFileSync(join(target, SOFTWARE_KEYSTORE_FILE), JSON.stringify(file));
      await expectHsmError(
        () => openSoftwareKeystore({ directory: target, passphrase: { env: passphraseEnv } }),
        'wrong-passphrase',
      );
    }
  });

  test('corrupt files are refused with the field named: absurd memory cost, bad JSON, swapped identity key', async () => {
    const original = JSON.parse(readFileSync(join(directory, SOFTWARE_KEYSTORE_FILE), 'utf8'));
    const cases: [string, string][] = [
      [JSON.stringify({ ...original, kdf: { ...original.kdf, memLimitBytes: 2 ** 50 } }), 'memLimitBytes'],
      ['{"format": "coffer-hsm-software-keystore"', 'not valid JSON'],
      [JSON.stringify({ ...original, keyCheck: 'zz' }), 'keyCheck'],
      [
        JSON.stringify({
          ...original,
          identity: {
            ...original.identity,
            publicKey: Buffer.from(ed25519.getPublicKey(randomSecret(32))).toString('hex'),
          },
        }),
        'identity.publicKey',
      ],
    ];
    for (const [content, field] of cases) {
      const target = freshDirectory();
      writeFileSync(join(target, SOFTWARE_KEYSTORE_FILE), content);
      const error = await expectHsmError(
        () => openSoftwareKeystore({ directory: target, passphrase: { env: passphraseEnv } }),
        'keystore-corrupt',
      );
      expect(error.message).toContain(field);
    }
  });

  test('tampered sealed identity in the file is detected (keystore-corrupt), not silently replaced', async () => {
    const original = JSON.parse(readFileSync(join(directory, SOFTWARE_KEYSTORE_FILE), 'utf8'));
    const sealed = Buffer.from(original.identity.sealed, 'base64');
    sealed[sealed.length - 5]! ^= 0x01;
    const target = freshDirectory();
    writeFileSync(
      join(target, SOFTWARE_KEYSTORE_FILE),
      JSON.stringify({ ...original, identity: { ...original.identity, sealed: sealed.toString('base64') } }),
    );
    const error = await expectHsmError(
      () => openSoftwareKeystore({ directory: target, passphrase: { env: passphraseEnv } }),
      'keystore-corrupt',
    );
    expect(error.message).toContain('blob-authentication-failed');
  });
});

describe('identity', () => {
  test('sealed identity: same public key after reopening, signatures verify with noble', async () => {
    expect(keystore.identity.storage).toBe('sealed');
    const reopened = await open({ directory, passphrase: { env: passphraseEnv } });
    expect(reopened.identity.publicKey).toEqual(keystore.identity.publicKey);
    const message = new TextEncoder().encode('peer envelope');
    expect(ed25519.verify(await reopened.identity.sign(message), message, keystore.identity.publicKey)).toBe(
      true,
    );
  });
});

test('default argon2id parameters (libsodium moderate: 3 passes, 256 MiB) work in this runtime', async () => {
  const target = freshDirectory();
  const created = await initSoftwareKeystore({ directory: target, passphrase: { env: passphraseEnv } });
  opened.push(created);
  const file = JSON.parse(readFileSync(join(target, SOFTWARE_KEYSTORE_FILE), 'utf8'));
  expect(file.kdf).toMatchObject({ algorithm: 'argon2id13', ...DEFAULT_ARGON2ID });
  const reopened = await open({ directory: target, passphrase: { env: passphraseEnv } });
  expect(reopened.identity.publicKey).toEqual(created.identity.publicKey);
});
