// Approver (and policy-admin) key files: an Ed25519 seed sealed under a passphrase with @coffer/hsm's
// software backend (argon2id KEK, XChaCha20-Poly1305 envelope), in one JSON file
// (signer-node/docs/policy-api.md, "Approver keys"):
//
//   { format: "coffer-approver-key/1", id, publicKey, sealed: { keystore, blob } }
//
// `sealed.keystore` is the software keystore's own file (salt, argon2id cost, key-check value: public
// material only) and `sealed.blob` the seed sealed under that keystore's KEK with the context
// `approver-key:<id>:<publicKey>`, so neither the id nor the public key can be edited without the
// unseal failing. The seed is never printed, logged or written unsealed; the file is created with mode
// 0600 and never overwritten.
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Argon2idParameters,
  HsmError,
  initSoftwareKeystore,
  openSoftwareKeystore,
  type SecretSource,
  SOFTWARE_KEYSTORE_FILE,
} from '@coffer/hsm';
import { SigningKey } from '@coffer/policy/keys';
import { ApproverKeyError } from './errors.ts';

export { ApproverKeyError };

export const APPROVER_KEY_FORMAT = 'coffer-approver-key/1';
export const APPROVER_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export type ApproverKeyFile = {
  format: typeof APPROVER_KEY_FORMAT;
  id: string;
  publicKey: string;
  sealed: { keystore: Record<string, unknown>; blob: string };
};

/** An opened key: its id and the signing key (redacted in JSON and inspect output). */
export type ApproverKey = { id: string; publicKey: string; key: SigningKey };

function context(id: string, publicKey: string): string {
  return `approver-key:${id}:${publicKey}`;
}

/** A private scratch directory for the keystore file; removed whatever happens. */
async function withScratch<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-approver-'));
  try {
    return await f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function passphraseError(e: unknown): never {
  if (e instanceof HsmError) {
    if (e.code === 'wrong-passphrase')
      throw new ApproverKeyError('wrong-passphrase', 'wrong passphrase (or the key file was altered)');
    if (e.code === 'secret-unavailable') throw new ApproverKeyError('passphrase-unavailable', e.message);
    if (e.code === 'invalid-argument' && e.message.startsWith('passphrase'))
      throw new ApproverKeyError('invalid-argument', e.message);
  }
  throw e;
}

/**
 * Creates a new approver key and writes its sealed file (mode 0600). Refuses if `out` exists.
 * Returns the public part only.
 */
export async function createApproverKeyFile(opts: {
  id: string;
  out: string;
  passphrase: SecretSource;
  /** argon2id cost; default libsodium "moderate" (tests pass a small one). */
  argon2id?: Argon2idParameters;
}): Promise<{ id: string; publicKey: string; file: string }> {
  if (!APPROVER_ID.test(opts.id))
    throw new ApproverKeyError(
      'invalid-argument',
      `id must match ${APPROVER_ID.source} (the id in the policy)`,
    );
  // Claim the path first (O_EXCL): an existing file is never touched, even if it appears meanwhile.
  let fd: number;
  try {
    fd = openSync(opts.out, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw new ApproverKeyError('key-file-exists', `${opts.out} already exists; refusing to overwrite it`);
    throw new ApproverKeyError('key-file-unreadable', `cannot create ${opts.out} (${code ?? 'error'})`);
  }
  let written = false;
  try {
    const file = await withScratch(async (dir) => {
      const keystore = await initSoftwareKeystore({
        directory: dir,
        passphrase: opts.passphrase,
        kekLabel: 'coffer-approver-key',
        ...(opts.argon2id ? { argon2id: opts.argon2id } : {}),
      }).catch((e: unknown) => passphraseError(e));
      const key = SigningKey.generate();
      const seed = key.exportSecretKey();
      try {
        const blob = await keystore.seal(seed, context(opts.id, key.publicKey));
        const content: ApproverKeyFile = {
          format: APPROVER_KEY_FORMAT,
          id: opts.id,
          publicKey: key.publicKey,
          sealed: {
            keystore: JSON.parse(readFileSync(join(dir, SOFTWARE_KEYSTORE_FILE), 'utf8')) as Record<
              string,
              unknown
            >,
            blob: Buffer.from(blob).toString('base64'),
          },
        };
        return content;
      } finally {
        seed.fill(0);
        await keystore.close();
      }
    });
    writeSync(fd, `${JSON.stringify(file, null, 2)}\n`);
    written = true;
    return { id: file.id, publicKey: file.publicKey, file: opts.out };
  } finally {
    closeSync(fd);
    if (!written) rmSync(opts.out, { force: true });
  }
}

/** Reads and checks the public part of a key file (no passphrase needed). */
export function readApproverKeyFile(path: string): ApproverKeyFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ApproverKeyError(
      'key-file-unreadable',
      `cannot read key file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  const corrupt = (field: string, reason: string): never => {
    throw new ApproverKeyError('key-file-corrupt', `key file ${path}: ${field} ${reason}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    corrupt('(file)', 'is not JSON');
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(json)) return corrupt('(file)', 'is not a JSON object');
  for (const k of Object.keys(json))
    if (!['format', 'id', 'publicKey', 'sealed'].includes(k)) corrupt(k, 'is not a known field');
  if (json.format !== APPROVER_KEY_FORMAT) corrupt('format', `must be "${APPROVER_KEY_FORMAT}"`);
  if (typeof json.id !== 'string' || !APPROVER_ID.test(json.id))
    corrupt('id', `must match ${APPROVER_ID.source}`);
  if (typeof json.publicKey !== 'string' || !/^[0-9a-f]{64}$/.test(json.publicKey))
    corrupt('publicKey', 'must be 32 bytes of lowercase hex');
  const sealed = json.sealed;
  if (!isObject(sealed)) return corrupt('sealed', 'must be an object');
  for (const k of Object.keys(sealed))
    if (k !== 'keystore' && k !== 'blob') corrupt(`sealed.${k}`, 'is not a known field');
  if (!isObject(sealed.keystore)) corrupt('sealed.keystore', 'must be an object');
  if (
    typeof sealed.blob !== 'string' ||
    sealed.blob.length > 4096 ||
    !/^[A-Za-z0-9+/]+={0,2}$/.test(sealed.blob) ||
    sealed.blob.length % 4 !== 0
  )
    corrupt('sealed.blob', 'must be base64');
  return json as ApproverKeyFile;
}

/**
 * Opens a key file with its passphrase. A wrong passphrase, an edited id or public key, or an altered
 * blob is refused with an ApproverKeyError; nothing secret is ever part of the message.
 */
export async function openApproverKeyFile(path: string, passphrase: SecretSource): Promise<ApproverKey> {
  const file = readApproverKeyFile(path);
  return withScratch(async (dir) => {
    writeFileSync(join(dir, SOFTWARE_KEYSTORE_FILE), JSON.stringify(file.sealed.keystore), { mode: 0o600 });
    const keystore = await openSoftwareKeystore({ directory: dir, passphrase }).catch((e: unknown) => {
      if (e instanceof HsmError && e.code === 'keystore-corrupt')
        throw new ApproverKeyError('key-file-corrupt', `key file ${path}: sealed.keystore is corrupt`);
      return passphraseError(e);
    });
    try {
      let seed: Uint8Array;
      try {
        const secret = await keystore.unseal(
          new Uint8Array(Buffer.from(file.sealed.blob, 'base64')),
          context(file.id, file.publicKey),
        );
        seed = secret.expose();
        secret.wipe();
      } catch (e) {
        const why = e instanceof HsmError ? e.code : 'unseal failed';
        throw new ApproverKeyError(
          'key-file-corrupt',
          `key file ${path}: sealed.blob does not unseal for id ${file.id} and its public key (${why}): the file was altered`,
        );
      }
      try {
        const key = SigningKey.fromSecretKey(seed);
        if (key.publicKey !== file.publicKey)
          throw new ApproverKeyError(
            'key-file-corrupt',
            `key file ${path}: publicKey does not match the sealed key`,
          );
        return { id: file.id, publicKey: file.publicKey, key };
      } finally {
        seed.fill(0);
      }
    } finally {
      await keystore.close();
    }
  });
}
