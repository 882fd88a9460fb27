// PKCS#11 backend (DESIGN §4): the KEK is a non-extractable, sensitive AES-256 secret key generated
// inside the token; data keys are wrapped with AES-256-GCM computed by the token (C_Encrypt with a
// fresh random 96-bit IV and the blob header as GCM associated data, so the wrapped key is bound to
// the KEK id and the context). The node identity is an Ed25519 key pair generated in the token when
// it offers CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA (SoftHSM 2.6 does); otherwise its seed is sealed
// under the KEK and stored in the token as a private data object.
import { randomBytes } from '@noble/ciphers/utils.js';
import type * as Pkcs11Types from 'pkcs11js';
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
import { IDENTITY_CONTEXT, type NodeIdentity, newIdentitySeed, SealedIdentity } from './identity.ts';
import type { InitOptions, Keystore } from './keystore.ts';
import {
  ckrName,
  closeTokenSession,
  findObjects,
  type Handle,
  openTokenSession,
  type TokenSession,
} from './pkcs11/library.ts';
import {
  describeSecretSource,
  inspectSymbol,
  readSecret,
  type SecretBytes,
  type SecretSource,
} from './secret.ts';

/** Debian's SoftHSM2 module. */
export const SOFTHSM_LIBRARY_PATH = '/usr/lib/softhsm/libsofthsm2.so';

// PKCS#11 v3.0 EdDSA constants (absent from pkcs11js's typings).
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;
const CKK_EC_EDWARDS = 0x40;
/** DER of OID 1.3.101.112 (id-Ed25519, RFC 8410), the CKA_EC_PARAMS of an Ed25519 key. */
const ED25519_EC_PARAMS = Buffer.from('06032b6570', 'hex');
const SEALED_IDENTITY_APPLICATION = 'coffer-identity-sealed-v1';
const GCM_IV_LENGTH = 12;

export interface Pkcs11KeystoreOptions {
  /** Path of the PKCS#11 module, e.g. SOFTHSM_LIBRARY_PATH. */
  readonly libraryPath: string;
  /** Label of the token (slot ids change when tokens are added; labels do not). */
  readonly tokenLabel: string;
  /** Where the user PIN is read from: an environment variable or a file. */
  readonly pin: SecretSource;
  /** CKA_LABEL of the KEK (default "coffer-kek"). */
  readonly kekLabel?: string;
  /** CKA_LABEL of the identity key pair or sealed identity object (default "coffer-identity"). */
  readonly identityLabel?: string;
}

export interface Pkcs11InitOptions extends Pkcs11KeystoreOptions, InitOptions {
  /**
   * "auto" (default): in the token when it supports EdDSA, else sealed. "token": fail when the token
   * cannot hold Ed25519 keys. "sealed": always seal the seed under the KEK.
   */
  readonly identityStorage?: 'auto' | 'token' | 'sealed';
}

interface Labels {
  readonly kek: string;
  readonly identity: string;
}

function resolveLabels(options: Pkcs11KeystoreOptions): Labels {
  if (typeof options.tokenLabel !== 'string' || options.tokenLabel === '') {
    throw new HsmError('invalid-argument', 'tokenLabel must be a non-empty string');
  }
  const labels = {
    kek: options.kekLabel ?? 'coffer-kek',
    identity: options.identityLabel ?? 'coffer-identity',
  };
  validateLabel(labels.kek, 'kekLabel');
  validateLabel(labels.identity, 'identityLabel');
  if (labels.kek === labels.identity)
    throw new HsmError('invalid-argument', 'kekLabel and identityLabel must differ');
  return labels;
}

function openSession(options: Pkcs11KeystoreOptions): TokenSession {
  if (typeof options.pin !== 'object' || options.pin === null) {
    throw new HsmError('invalid-argument', 'pin must be { env: NAME } or { file: PATH }');
  }
  return openTokenSession(
    options.libraryPath,
    options.tokenLabel,
    () => readSecret(options.pin, 'PIN'),
    describeSecretSource(options.pin),
  );
}

function attribute(token: TokenSession, handle: Handle, type: number, what: string): Buffer {
  try {
    const [result] = token.library.api.C_GetAttributeValue(token.session, handle, [{ type }]);
    if (result?.value === undefined) throw new Error('CKR_ATTRIBUTE_TYPE_INVALID');
    return result.value;
  } catch (error) {
    throw new HsmError(
      'token-error',
      `cannot read ${what} on token "${token.tokenLabel}" (${ckrName(error)})`,
    );
  }
}

function isTrue(value: Buffer): boolean {
  return value.length > 0 && value.some((byte) => byte !== 0);
}

function unsignedLittleEndian(value: Buffer): number {
  // CK_ULONG attributes come back in host byte order (little-endian on every platform Coffer runs on).
  let result = 0;
  for (let i = value.length - 1; i >= 0; i--) result = result * 256 + value[i]!;
  return result;
}

/** Wraps 32-byte data keys with AES-256-GCM inside the token. */
class Pkcs11Wrapper implements DataKeyWrapper {
  readonly backend = 'pkcs11';
  readonly wrapAlgorithm = 'aes-256-gcm';
  readonly kek: KekReference;
  readonly #token: TokenSession;
  readonly #handle: Handle;

  constructor(token: TokenSession, handle: Handle, kek: KekReference) {
    this.#token = token;
    this.#handle = handle;
    this.kek = kek;
  }

  #mechanism(iv: Uint8Array, associatedData: Uint8Array): Pkcs11Types.Mechanism {
    const { module } = this.#token.library;
    const parameter: Pkcs11Types.GcmParams = {
      type: module.CK_PARAMS_AES_GCM_v240,
      iv: Buffer.from(iv),
      ivBits: GCM_IV_LENGTH * 8,
      aad: Buffer.from(associatedData),
      tagBits: 128,
    };
    return { mechanism: module.CKM_AES_GCM, parameter };
  }

  #live(): TokenSession {
    if (this.#token.closed) throw new HsmError('keystore-closed', 'PKCS#11 keystore used after close()');
    return this.#token;
  }

  wrapDataKey(dataKey: Uint8Array, associatedData: Uint8Array): { nonce: Uint8Array; wrapped: Uint8Array } {
    const token = this.#live();
    const iv = randomBytes(GCM_IV_LENGTH);
    const input = Buffer.from(dataKey);
    try {
      token.library.api.C_EncryptInit(token.session, this.#mechanism(iv, associatedData), this.#handle);
      const wrapped = token.library.api.C_Encrypt(token.session, input, Buffer.alloc(dataKey.length + 16));
      return { nonce: iv, wrapped: new Uint8Array(wrapped) };
    } catch (error) {
      throw new HsmError(
        'token-error',
        `token "${token.tokenLabel}" could not wrap a data key (${ckrName(error)})`,
      );
    } finally {
      input.fill(0);
    }
  }

  unwrapDataKey(wrapped: Uint8Array, nonce: Uint8Array, associatedData: Uint8Array): Uint8Array {
    const token = this.#live();
    const output = Buffer.alloc(wrapped.length);
    try {
      token.library.api.C_DecryptInit(token.session, this.#mechanism(nonce, associatedData), this.#handle);
      const plain = token.library.api.C_Decrypt(token.session, Buffer.from(wrapped), output);
      return new Uint8Array(plain);
    } catch (error) {
      // SoftHSM reports a failed GCM tag as CKR_GENERAL_ERROR, others as CKR_ENCRYPTED_DATA_INVALID.
      throw new HsmError(
        'blob-authentication-failed',
        `token "${token.tokenLabel}" refused to unwrap the data key under KEK "${this.kek.label}" ` +
          `(${ckrName(error)}): the blob header or wrapped key was altered`,
      );
    } finally {
      output.fill(0);
    }
  }
}

/** Ed25519 key pair held in the token: the private key never leaves it. */
class TokenIdentity implements NodeIdentity {
  readonly algorithm = 'ed25519';
  readonly storage = 'token';
  readonly #token: TokenSession;
  readonly #privateKey: Handle;
  readonly #publicKey: Uint8Array;

  constructor(token: TokenSession, privateKey: Handle, publicKey: Uint8Array) {
    this.#token = token;
    this.#privateKey = privateKey;
    this.#publicKey = publicKey;
  }

  get publicKey(): Uint8Array {
    return this.#publicKey.slice();
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    const token = this.#token;
    if (token.closed)
      throw new HsmError('keystore-closed', 'identity key used after the keystore was closed');
    try {
      token.library.api.C_SignInit(token.session, { mechanism: CKM_EDDSA }, this.#privateKey);
      return new Uint8Array(token.library.api.C_Sign(token.session, Buffer.from(message), Buffer.alloc(64)));
    } catch (error) {
      throw new HsmError(
        'token-error',
        `token "${token.tokenLabel}" could not sign with the identity key (${ckrName(error)})`,
      );
    }
  }

  toJSON(): Record<string, unknown> {
    return {
      algorithm: this.algorithm,
      storage: this.storage,
      publicKey: Buffer.from(this.#publicKey).toString('hex'),
    };
  }

  [inspectSymbol](): string {
    return `TokenIdentity(ed25519, public ${Buffer.from(this.#publicKey).toString('hex')})`;
  }
}

class Pkcs11Keystore implements Keystore {
  readonly backend = 'pkcs11';
  readonly identity: NodeIdentity;
  readonly #token: TokenSession;
  readonly #wrapper: Pkcs11Wrapper;

  constructor(token: TokenSession, wrapper: Pkcs11Wrapper, identity: NodeIdentity) {
    this.#token = token;
    this.#wrapper = wrapper;
    this.identity = identity;
  }

  get kek(): KekReference {
    return { label: this.#wrapper.kek.label, id: this.#wrapper.kek.id.slice() };
  }

  /** Label of the token this keystore is logged in to. */
  get tokenLabel(): string {
    return this.#token.tokenLabel;
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
    if (this.identity instanceof SealedIdentity) this.identity.wipe();
    closeTokenSession(this.#token);
  }

  toJSON(): Record<string, unknown> {
    return {
      backend: this.backend,
      token: this.#token.tokenLabel,
      kek: { label: this.#wrapper.kek.label, id: Buffer.from(this.#wrapper.kek.id).toString('hex') },
      identity: (this.identity as TokenIdentity | SealedIdentity).toJSON(),
    };
  }

  [inspectSymbol](): string {
    return `Pkcs11Keystore(token "${this.#token.tokenLabel}", kek "${this.#wrapper.kek.label}")`;
  }
}

function tokenSupportsEd25519(token: TokenSession): boolean {
  try {
    const mechanisms = token.library.api.C_GetMechanismList(token.slot);
    return mechanisms.includes(CKM_EC_EDWARDS_KEY_PAIR_GEN) && mechanisms.includes(CKM_EDDSA);
  } catch (error) {
    throw new HsmError(
      'token-error',
      `C_GetMechanismList on token "${token.tokenLabel}" failed (${ckrName(error)})`,
    );
  }
}

function generateKek(token: TokenSession, label: string): { handle: Handle; kek: KekReference } {
  const m = token.library.module;
  const id = randomBytes(KEK_ID_LENGTH);
  const template: Pkcs11Types.Template = [
    { type: m.CKA_CLASS, value: m.CKO_SECRET_KEY },
    { type: m.CKA_KEY_TYPE, value: m.CKK_AES },
    { type: m.CKA_VALUE_LEN, value: 32 },
    { type: m.CKA_TOKEN, value: true },
    { type: m.CKA_PRIVATE, value: true },
    { type: m.CKA_SENSITIVE, value: true },
    { type: m.CKA_EXTRACTABLE, value: false },
    { type: m.CKA_MODIFIABLE, value: false },
    { type: m.CKA_ENCRYPT, value: true },
    { type: m.CKA_DECRYPT, value: true },
    { type: m.CKA_WRAP, value: false },
    { type: m.CKA_UNWRAP, value: false },
    { type: m.CKA_SIGN, value: false },
    { type: m.CKA_VERIFY, value: false },
    { type: m.CKA_DERIVE, value: false },
    { type: m.CKA_LABEL, value: label },
    { type: m.CKA_ID, value: Buffer.from(id) },
  ];
  try {
    const handle = token.library.api.C_GenerateKey(token.session, { mechanism: m.CKM_AES_KEY_GEN }, template);
    return { handle, kek: { label, id } };
  } catch (error) {
    throw new HsmError(
      'token-error',
      `token "${token.tokenLabel}" could not generate the AES-256 KEK (${ckrName(error)})`,
    );
  }
}

function decodeEdwardsPoint(point: Buffer, tokenLabel: string): Uint8Array {
  // CKA_EC_POINT is a DER OCTET STRING (04 20 ‖ key) in SoftHSM; some tokens return the raw 32 bytes.
  if (point.length === 34 && point[0] === 0x04 && point[1] === 0x20) return new Uint8Array(point.subarray(2));
  if (point.length === 32) return new Uint8Array(point);
  throw new HsmError(
    'token-error',
    `token "${tokenLabel}" returned an Ed25519 public key of unexpected form`,
  );
}

function generateTokenIdentity(token: TokenSession, label: string): TokenIdentity {
  const m = token.library.module;
  const id = Buffer.from(randomBytes(16));
  const common = [
    { type: m.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
    { type: m.CKA_TOKEN, value: true },
    { type: m.CKA_LABEL, value: label },
    { type: m.CKA_ID, value: id },
  ];
  try {
    const pair = token.library.api.C_GenerateKeyPair(
      token.session,
      { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
      [
        { type: m.CKA_CLASS, value: m.CKO_PUBLIC_KEY },
        ...common,
        { type: m.CKA_VERIFY, value: true },
        { type: m.CKA_EC_PARAMS, value: ED25519_EC_PARAMS },
      ],
      [
        { type: m.CKA_CLASS, value: m.CKO_PRIVATE_KEY },
        ...common,
        { type: m.CKA_PRIVATE, value: true },
        { type: m.CKA_SENSITIVE, value: true },
        { type: m.CKA_EXTRACTABLE, value: false },
        { type: m.CKA_SIGN, value: true },
      ],
    );
    const point = attribute(token, pair.publicKey, m.CKA_EC_POINT, 'the identity public key');
    return new TokenIdentity(token, pair.privateKey, decodeEdwardsPoint(point, token.tokenLabel));
  } catch (error) {
    if (error instanceof HsmError) throw error;
    throw new HsmError(
      'token-error',
      `token "${token.tokenLabel}" could not generate the Ed25519 identity (${ckrName(error)})`,
    );
  }
}

function storeSealedIdentity(token: TokenSession, wrapper: Pkcs11Wrapper, label: string): SealedIdentity {
  const m = token.library.module;
  const seed = newIdentitySeed();
  const sealed = sealWith(wrapper, seed, IDENTITY_CONTEXT);
  try {
    token.library.api.C_CreateObject(token.session, [
      { type: m.CKA_CLASS, value: m.CKO_DATA },
      { type: m.CKA_TOKEN, value: true },
      { type: m.CKA_PRIVATE, value: true },
      { type: m.CKA_LABEL, value: label },
      { type: m.CKA_APPLICATION, value: SEALED_IDENTITY_APPLICATION },
      { type: m.CKA_VALUE, value: Buffer.from(sealed) },
    ]);
  } catch (error) {
    seed.fill(0);
    throw new HsmError(
      'token-error',
      `token "${token.tokenLabel}" could not store the sealed identity (${ckrName(error)})`,
    );
  }
  return new SealedIdentity(seed);
}

function destroy(token: TokenSession, handles: readonly Handle[]): void {
  for (const handle of handles) {
    try {
      token.library.api.C_DestroyObject(token.session, handle);
    } catch (error) {
      throw new HsmError(
        'token-error',
        `token "${token.tokenLabel}" could not delete an old object (${ckrName(error)})`,
      );
    }
  }
}

/**
 * Generates the KEK and the node identity in the token. Refuses (already-initialized) when an object
 * with either label exists, unless `overwrite` is set, in which case those objects are destroyed first.
 */
export async function initPkcs11Keystore(options: Pkcs11InitOptions): Promise<Keystore> {
  const labels = resolveLabels(options);
  const storage = options.identityStorage ?? 'auto';
  if (storage !== 'auto' && storage !== 'token' && storage !== 'sealed') {
    throw new HsmError('invalid-argument', 'identityStorage must be "auto", "token" or "sealed"');
  }
  const token = openSession(options);
  try {
    const m = token.library.module;
    const existing = [
      ...findObjects(token, [{ type: m.CKA_LABEL, value: labels.kek }]),
      ...findObjects(token, [{ type: m.CKA_LABEL, value: labels.identity }]),
    ];
    if (existing.length > 0 && options.overwrite !== true) {
      throw new HsmError(
        'already-initialized',
        `token "${token.tokenLabel}" already holds objects labelled "${labels.kek}" or "${labels.identity}"; ` +
          'pass overwrite to replace them (everything sealed under the old KEK becomes unreadable)',
      );
    }
    const supportsEd25519 = tokenSupportsEd25519(token);
    if (storage === 'token' && !supportsEd25519) {
      throw new HsmError(
        'unsupported-mechanism',
        `token "${token.tokenLabel}" offers no Ed25519 key generation and signing`,
      );
    }
    const inToken = storage === 'token' || (storage === 'auto' && supportsEd25519);
    destroy(token, existing);
    const { handle, kek } = generateKek(token, labels.kek);
    const wrapper = new Pkcs11Wrapper(token, handle, kek);
    let identity: NodeIdentity;
    try {
      identity = inToken
        ? generateTokenIdentity(token, labels.identity)
        : storeSealedIdentity(token, wrapper, labels.identity);
    } catch (error) {
      // Leave the token as it was so that init can simply be retried.
      destroy(token, findObjects(token, [{ type: m.CKA_LABEL, value: labels.identity }]));
      destroy(token, [handle]);
      throw error;
    }
    return new Pkcs11Keystore(token, wrapper, identity);
  } catch (error) {
    closeTokenSession(token);
    throw error;
  }
}

function loadKek(token: TokenSession, label: string): { handle: Handle; kek: KekReference } {
  const m = token.library.module;
  const handles = findObjects(token, [
    { type: m.CKA_CLASS, value: m.CKO_SECRET_KEY },
    { type: m.CKA_LABEL, value: label },
  ]);
  if (handles.length === 0) {
    throw new HsmError(
      'kek-not-found',
      `token "${token.tokenLabel}" holds no key-encryption key labelled "${label}"; run init`,
    );
  }
  if (handles.length > 1) {
    throw new HsmError(
      'token-error',
      `token "${token.tokenLabel}" holds ${handles.length} secret keys labelled "${label}"`,
    );
  }
  const handle = handles[0]!;
  const keyType = unsignedLittleEndian(attribute(token, handle, m.CKA_KEY_TYPE, 'the KEK key type'));
  const length = unsignedLittleEndian(attribute(token, handle, m.CKA_VALUE_LEN, 'the KEK length'));
  const sensitive = isTrue(attribute(token, handle, m.CKA_SENSITIVE, 'CKA_SENSITIVE of the KEK'));
  const extractable = isTrue(attribute(token, handle, m.CKA_EXTRACTABLE, 'CKA_EXTRACTABLE of the KEK'));
  if (keyType !== m.CKK_AES || length !== 32 || !sensitive || extractable) {
    throw new HsmError(
      'kek-not-protected',
      `KEK "${label}" on token "${token.tokenLabel}" must be a sensitive, non-extractable AES-256 key ` +
        `(type ${keyType}, ${length} bytes, sensitive ${sensitive}, extractable ${extractable}); refusing to use it`,
    );
  }
  const id = attribute(token, handle, m.CKA_ID, 'the KEK id');
  if (id.length !== KEK_ID_LENGTH) {
    throw new HsmError(
      'kek-not-protected',
      `KEK "${label}" on token "${token.tokenLabel}" has no 16-byte CKA_ID (not created by init)`,
    );
  }
  return { handle, kek: { label, id: new Uint8Array(id) } };
}

function loadIdentity(token: TokenSession, wrapper: Pkcs11Wrapper, label: string): NodeIdentity {
  const m = token.library.module;
  const privateKeys = findObjects(token, [
    { type: m.CKA_CLASS, value: m.CKO_PRIVATE_KEY },
    { type: m.CKA_LABEL, value: label },
  ]);
  const sealedObjects = findObjects(token, [
    { type: m.CKA_CLASS, value: m.CKO_DATA },
    { type: m.CKA_LABEL, value: label },
  ]);
  if (privateKeys.length + sealedObjects.length > 1) {
    throw new HsmError(
      'token-error',
      `token "${token.tokenLabel}" holds several identity objects labelled "${label}"`,
    );
  }
  if (privateKeys.length === 1) {
    const publicKeys = findObjects(token, [
      { type: m.CKA_CLASS, value: m.CKO_PUBLIC_KEY },
      { type: m.CKA_LABEL, value: label },
    ]);
    if (publicKeys.length !== 1) {
      throw new HsmError(
        'identity-not-found',
        `token "${token.tokenLabel}" holds no public key labelled "${label}"`,
      );
    }
    const point = attribute(token, publicKeys[0]!, m.CKA_EC_POINT, 'the identity public key');
    return new TokenIdentity(token, privateKeys[0]!, decodeEdwardsPoint(point, token.tokenLabel));
  }
  if (sealedObjects.length === 1) {
    const blob = attribute(token, sealedObjects[0]!, m.CKA_VALUE, 'the sealed identity');
    const seed = unsealWith(wrapper, new Uint8Array(blob), IDENTITY_CONTEXT).expose();
    return new SealedIdentity(seed);
  }
  throw new HsmError(
    'identity-not-found',
    `token "${token.tokenLabel}" holds no identity key labelled "${label}"; run init`,
  );
}

/** Logs in to the token and finds the KEK and identity created by init. Never writes to the token. */
export async function openPkcs11Keystore(options: Pkcs11KeystoreOptions): Promise<Keystore> {
  const labels = resolveLabels(options);
  const token = openSession(options);
  try {
    const { handle, kek } = loadKek(token, labels.kek);
    const wrapper = new Pkcs11Wrapper(token, handle, kek);
    const identity = loadIdentity(token, wrapper, labels.identity);
    return new Pkcs11Keystore(token, wrapper, identity);
  } catch (error) {
    closeTokenSession(token);
    throw error;
  }
}
