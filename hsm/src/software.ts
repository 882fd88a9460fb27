// Software backend (DESIGN §4, for laptops and demos): the KEK is derived from a passphrase with
// argon2id (libsodium), the identity seed is sealed under it, and one JSON file holds only public
// material: salt, argon2id parameters, KEK label and id, a key-check value, the identity public key
// and the sealed identity blob. The key-check value lets a wrong passphrase fail clearly before any
// blob is touched; it is an HMAC under a key derived alongside the KEK, so it reveals nothing more
// than any sealed blob already does (both allow offline guessing, which argon2id makes expensive).
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { equalBytes, randomBytes } from '@noble/ciphers/utils.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import sodium from 'libsodium-wrappers-sumo';
import {
  assertCallerContext,
  type DataKeyWrapper,
  KEK_ID_LENGTH,
  type KekReference,
  sealWith,
  unsealWith,
  validateLabel,
} from './envelope.ts';
import { HsmError } from './errors.ts';
import { IDENTITY_CONTEXT, newIdentitySeed, publicKeyOfSeed, SealedIdentity } from './identity.ts';
import type { InitOptions, Keystore } from './keystore.ts';
import {
  describeSecretSource,
  inspectSymbol,
  readSecret,
  type SecretBytes,
  type SecretSource,
} from './secret.ts';

export const SOFTWARE_KEYSTORE_FILE = 'keystore.json';
const FORMAT = 'coffer-hsm-software-keystore';
const FORMAT_VERSION = 1;
const SALT_LENGTH = 16;
const MIN_PASSPHRASE_LENGTH = 8;

/** argon2id cost. Defaults are libsodium's "moderate" (3 passes, 256 MiB, about a second here). */
export interface Argon2idParameters {
  readonly opsLimit: number;
  readonly memLimitBytes: number;
}

export const DEFAULT_ARGON2ID: Argon2idParameters = { opsLimit: 3, memLimitBytes: 256 * 1024 * 1024 };
/** Bounds enforced on parameters read from a file, so an edited file cannot demand terabytes. */
const OPS_RANGE = [1, 64] as const;
const MEM_RANGE = [8 * 1024, 4 * 1024 * 1024 * 1024] as const;

export interface SoftwareKeystoreOptions {
  /** Directory holding keystore.json (created by init with mode 0700). */
  readonly directory: string;
  readonly passphrase: SecretSource;
}

export interface SoftwareInitOptions extends SoftwareKeystoreOptions, InitOptions {
  readonly kekLabel?: string;
  /** argon2id cost; tests use small values, production keeps the default. */
  readonly argon2id?: Argon2idParameters;
}

interface KeystoreFile {
  readonly format: typeof FORMAT;
  readonly version: typeof FORMAT_VERSION;
  readonly kek: { readonly label: string; readonly id: string };
  readonly kdf: {
    readonly algorithm: 'argon2id13';
    readonly opsLimit: number;
    readonly memLimitBytes: number;
    readonly salt: string;
  };
  readonly keyCheck: string;
  readonly identity: { readonly algorithm: 'ed25519'; readonly publicKey: string; readonly sealed: string };
}

let sodiumReady: Promise<void> | undefined;
async function loadSodium(): Promise<typeof sodium> {
  sodiumReady ??= sodium.ready;
  await sodiumReady;
  return sodium;
}

function checkParameters(
  parameters: Argon2idParameters,
  where: string,
  code: 'invalid-argument' | 'keystore-corrupt',
) {
  const { opsLimit, memLimitBytes } = parameters;
  if (!Number.isSafeInteger(opsLimit) || opsLimit < OPS_RANGE[0] || opsLimit > OPS_RANGE[1]) {
    throw new HsmError(
      code,
      `${where}: argon2id opsLimit must be an integer in [${OPS_RANGE[0]}, ${OPS_RANGE[1]}]`,
    );
  }
  if (!Number.isSafeInteger(memLimitBytes) || memLimitBytes < MEM_RANGE[0] || memLimitBytes > MEM_RANGE[1]) {
    throw new HsmError(
      code,
      `${where}: argon2id memLimitBytes must be an integer in [${MEM_RANGE[0]}, ${MEM_RANGE[1]}]`,
    );
  }
}

/** The bytes the key-check value authenticates: KEK identity and every KDF input except the passphrase. */
function keyCheckMessage(kek: KekReference, parameters: Argon2idParameters, salt: Uint8Array): Uint8Array {
  const text = `coffer-hsm/software/key-check/v1|${kek.label}|${hex(kek.id)}|argon2id13|${parameters.opsLimit}|${parameters.memLimitBytes}|${hex(salt)}`;
  return new TextEncoder().encode(text);
}

async function deriveKeys(
  passphrase: string,
  salt: Uint8Array,
  parameters: Argon2idParameters,
): Promise<{ kekKey: Uint8Array; checkKey: Uint8Array }> {
  const lib = await loadSodium();
  const output = lib.crypto_pwhash(
    64,
    passphrase,
    salt,
    parameters.opsLimit,
    parameters.memLimitBytes,
    lib.crypto_pwhash_ALG_ARGON2ID13,
  );
  const keys = { kekKey: output.slice(0, 32), checkKey: output.slice(32, 64) };
  lib.memzero(output);
  return keys;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function fromHex(value: unknown, length: number, field: string, file: string): Uint8Array {
  if (typeof value !== 'string' || value.length !== length * 2 || !/^[0-9a-f]*$/.test(value)) {
    throw new HsmError(
      'keystore-corrupt',
      `${file}: field ${field} must be ${length} bytes of lowercase hex`,
    );
  }
  return new Uint8Array(Buffer.from(value, 'hex'));
}

function fromBase64(value: unknown, field: string, file: string): Uint8Array {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw new HsmError('keystore-corrupt', `${file}: field ${field} must be base64`);
  }
  return new Uint8Array(Buffer.from(value, 'base64'));
}

function record(value: unknown, field: string, file: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HsmError('keystore-corrupt', `${file}: field ${field} must be an object`);
  }
  return value as Record<string, unknown>;
}

interface ParsedKeystore {
  readonly kek: KekReference;
  readonly parameters: Argon2idParameters;
  readonly salt: Uint8Array;
  readonly keyCheck: Uint8Array;
  readonly identityPublicKey: Uint8Array;
  readonly identitySealed: Uint8Array;
}

function parseKeystoreFile(text: string, file: string): ParsedKeystore {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new HsmError('keystore-corrupt', `${file} is not valid JSON`);
  }
  const top = record(json, '(root)', file);
  if (top.format !== FORMAT)
    throw new HsmError('keystore-corrupt', `${file}: field format must be "${FORMAT}"`);
  if (top.version !== FORMAT_VERSION) {
    throw new HsmError('keystore-corrupt', `${file}: field version must be ${FORMAT_VERSION}`);
  }
  const kek = record(top.kek, 'kek', file);
  if (typeof kek.label !== 'string')
    throw new HsmError('keystore-corrupt', `${file}: field kek.label must be a string`);
  try {
    validateLabel(kek.label, 'kek.label');
  } catch {
    throw new HsmError('keystore-corrupt', `${file}: field kek.label is not a valid label`);
  }
  const kdf = record(top.kdf, 'kdf', file);
  if (kdf.algorithm !== 'argon2id13') {
    throw new HsmError('keystore-corrupt', `${file}: field kdf.algorithm must be "argon2id13"`);
  }
  const parameters = { opsLimit: kdf.opsLimit as number, memLimitBytes: kdf.memLimitBytes as number };
  checkParameters(parameters, file, 'keystore-corrupt');
  const identity = record(top.identity, 'identity', file);
  if (identity.algorithm !== 'ed25519') {
    throw new HsmError('keystore-corrupt', `${file}: field identity.algorithm must be "ed25519"`);
  }
  return {
    kek: { label: kek.label, id: fromHex(kek.id, KEK_ID_LENGTH, 'kek.id', file) },
    parameters,
    salt: fromHex(kdf.salt, SALT_LENGTH, 'kdf.salt', file),
    keyCheck: fromHex(top.keyCheck, 32, 'keyCheck', file),
    identityPublicKey: fromHex(identity.publicKey, 32, 'identity.publicKey', file),
    identitySealed: fromBase64(identity.sealed, 'identity.sealed', file),
  };
}

/** Wraps data keys with XChaCha20-Poly1305 under the argon2id-derived KEK. */
class SoftwareWrapper implements DataKeyWrapper {
  readonly backend = 'software';
  readonly wrapAlgorithm = 'xchacha20-poly1305';
  readonly kek: KekReference;
  #key: Uint8Array | undefined;

  constructor(kek: KekReference, key: Uint8Array) {
    this.kek = kek;
    this.#key = key;
  }

  #liveKey(): Uint8Array {
    if (this.#key === undefined)
      throw new HsmError('keystore-closed', 'software keystore used after close()');
    return this.#key;
  }

  wrapDataKey(dataKey: Uint8Array, associatedData: Uint8Array): { nonce: Uint8Array; wrapped: Uint8Array } {
    const nonce = randomBytes(24);
    return { nonce, wrapped: xchacha20poly1305(this.#liveKey(), nonce, associatedData).encrypt(dataKey) };
  }

  unwrapDataKey(wrapped: Uint8Array, nonce: Uint8Array, associatedData: Uint8Array): Uint8Array {
    const key = this.#liveKey();
    try {
      return xchacha20poly1305(key, nonce, associatedData).decrypt(wrapped);
    } catch {
      throw new HsmError(
        'blob-authentication-failed',
        `wrapped data key failed authentication under KEK "${this.kek.label}": the blob header or wrapped key was altered`,
      );
    }
  }

  wipe(): void {
    this.#key?.fill(0);
    this.#key = undefined;
  }

  toJSON(): Record<string, unknown> {
    return { backend: this.backend, kek: { label: this.kek.label, id: hex(this.kek.id) }, key: '<redacted>' };
  }

  [inspectSymbol](): string {
    return `SoftwareWrapper(kek "${this.kek.label}", key <redacted>)`;
  }
}

class SoftwareKeystore implements Keystore {
  readonly backend = 'software';
  readonly identity: SealedIdentity;
  readonly #wrapper: SoftwareWrapper;
  readonly #file: string;

  constructor(wrapper: SoftwareWrapper, identity: SealedIdentity, file: string) {
    this.#wrapper = wrapper;
    this.identity = identity;
    this.#file = file;
  }

  get kek(): KekReference {
    return { label: this.#wrapper.kek.label, id: this.#wrapper.kek.id.slice() };
  }

  async seal(plaintext: Uint8Array | SecretBytes, context: string): Promise<Uint8Array> {
    assertCallerContext(context);
    return sealWith(this.#wrapper, plaintext, context);
  }

  async unseal(blob: Uint8Array, context: string): Promise<SecretBytes> {
    assertCallerContext(context);
    return unsealWith(this.#wrapper, blob, context);
  }

  async close(): Promise<void> {
    this.#wrapper.wipe();
    this.identity.wipe();
  }

  toJSON(): Record<string, unknown> {
    return {
      backend: this.backend,
      file: this.#file,
      kek: this.#wrapper.toJSON().kek,
      identity: this.identity.toJSON(),
    };
  }

  [inspectSymbol](): string {
    return `SoftwareKeystore(${this.#file}, kek "${this.#wrapper.kek.label}", keys <redacted>)`;
  }
}

function keystorePath(directory: string): string {
  if (typeof directory !== 'string' || directory === '') {
    throw new HsmError('invalid-argument', 'software keystore directory must be a non-empty path');
  }
  return join(directory, SOFTWARE_KEYSTORE_FILE);
}

function fileExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new HsmError(
      'keystore-corrupt',
      `${path} cannot be examined (${(error as NodeJS.ErrnoException).code})`,
    );
  }
}

/**
 * Writes `content` to `path` through a temporary file: fsync, then link (refuses to replace an
 * existing file) or rename (replaces it, only when overwriting was asked for). A crash leaves either
 * the old file or the new one, never a torn file.
 */
function writeFileAtomically(path: string, content: string, overwrite: boolean): void {
  const temporary = `${path}.${nodeRandomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    if (overwrite) {
      renameSync(temporary, path);
      return;
    }
    try {
      linkSync(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new HsmError(
          'already-initialized',
          `${path} appeared while initialising; it was left untouched`,
        );
      }
      throw error;
    }
  } finally {
    try {
      unlinkSync(temporary);
    } catch {
      // already renamed into place
    }
  }
}

/**
 * Creates a software keystore: a fresh KEK id and salt, the argon2id-derived KEK, and a new Ed25519
 * identity sealed under it. Refuses to replace an existing keystore unless `overwrite` is set.
 */
export async function initSoftwareKeystore(options: SoftwareInitOptions): Promise<Keystore> {
  const file = keystorePath(options.directory);
  const kekLabel = options.kekLabel ?? 'coffer-kek';
  validateLabel(kekLabel, 'kekLabel');
  const parameters = options.argon2id ?? DEFAULT_ARGON2ID;
  checkParameters(parameters, 'argon2id option', 'invalid-argument');
  const overwrite = options.overwrite === true;
  if (!overwrite && fileExists(file)) {
    throw new HsmError(
      'already-initialized',
      `software keystore ${file} already exists; pass overwrite to replace it`,
    );
  }
  const passphrase = readSecret(options.passphrase, 'passphrase');
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new HsmError(
      'invalid-argument',
      `passphrase from ${describeSecretSource(options.passphrase)} is shorter than ${MIN_PASSPHRASE_LENGTH} characters`,
    );
  }
  const kek: KekReference = { label: kekLabel, id: randomBytes(KEK_ID_LENGTH) };
  const salt = randomBytes(SALT_LENGTH);
  const { kekKey, checkKey } = await deriveKeys(passphrase, salt, parameters);
  const keyCheck = hmac(sha256, checkKey, keyCheckMessage(kek, parameters, salt));
  checkKey.fill(0);
  const wrapper = new SoftwareWrapper(kek, kekKey);
  const seed = newIdentitySeed();
  const identityPublicKey = publicKeyOfSeed(seed);
  const sealedIdentity = sealWith(wrapper, seed, IDENTITY_CONTEXT);
  const content: KeystoreFile = {
    format: FORMAT,
    version: FORMAT_VERSION,
    kek: { label: kek.label, id: hex(kek.id) },
    kdf: {
      algorithm: 'argon2id13',
      opsLimit: parameters.opsLimit,
      memLimitBytes: parameters.memLimitBytes,
      salt: hex(salt),
    },
    keyCheck: hex(keyCheck),
    identity: {
      algorithm: 'ed25519',
      publicKey: hex(identityPublicKey),
      sealed: Buffer.from(sealedIdentity).toString('base64'),
    },
  };
  try {
    mkdirSync(options.directory, { recursive: true, mode: 0o700 });
    writeFileAtomically(file, `${JSON.stringify(content, null, 2)}\n`, overwrite);
  } catch (error) {
    wrapper.wipe();
    seed.fill(0);
    throw error;
  }
  return new SoftwareKeystore(wrapper, new SealedIdentity(seed), file);
}

/**
 * Opens an existing software keystore. A wrong passphrase fails at the key check, before any blob is
 * unsealed; the file is only read, never written.
 */
export async function openSoftwareKeystore(options: SoftwareKeystoreOptions): Promise<Keystore> {
  const file = keystorePath(options.directory);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    if (reason === 'ENOENT') {
      throw new HsmError('keystore-not-found', `software keystore ${file} does not exist; run init first`);
    }
    throw new HsmError('keystore-not-found', `software keystore ${file} cannot be read (${reason})`);
  }
  const parsed = parseKeystoreFile(text, file);
  const passphrase = readSecret(options.passphrase, 'passphrase');
  const { kekKey, checkKey } = await deriveKeys(passphrase, parsed.salt, parsed.parameters);
  const expected = hmac(sha256, checkKey, keyCheckMessage(parsed.kek, parsed.parameters, parsed.salt));
  checkKey.fill(0);
  if (!equalBytes(expected, parsed.keyCheck)) {
    kekKey.fill(0);
    throw new HsmError(
      'wrong-passphrase',
      `passphrase from ${describeSecretSource(options.passphrase)} does not open ${file} ` +
        "(key check failed: wrong passphrase, or the file's KDF fields were altered); nothing was unsealed",
    );
  }
  const wrapper = new SoftwareWrapper(parsed.kek, kekKey);
  let seed: Uint8Array;
  try {
    seed = unsealWith(wrapper, parsed.identitySealed, IDENTITY_CONTEXT).expose();
  } catch (error) {
    wrapper.wipe();
    if (error instanceof HsmError) {
      throw new HsmError('keystore-corrupt', `${file}: sealed identity cannot be unsealed (${error.code})`);
    }
    throw error;
  }
  const identity = new SealedIdentity(seed);
  if (!equalBytes(identity.publicKey, parsed.identityPublicKey)) {
    identity.wipe();
    wrapper.wipe();
    throw new HsmError(
      'keystore-corrupt',
      `${file}: identity.publicKey does not match the sealed identity key`,
    );
  }
  return new SoftwareKeystore(wrapper, identity, file);
}
