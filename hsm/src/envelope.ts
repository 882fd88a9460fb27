// Envelope encryption shared by both backends. Each seal draws a fresh 256-bit data key, encrypts the
// plaintext with XChaCha20-Poly1305 under it, and has the backend wrap the data key with the
// key-encryption key (KEK). The sealed blob is self-describing and versioned (format below); the
// caller's context string ("share:<keyId>:<index>") is stored in it and bound into both AEADs, so a
// blob cannot be replayed as another share, and unsealing checks it against the context expected.
//
// Sealed blob, format version 1 (integers big-endian):
//
//   magic "CFSB" (4) | version (1) = 1 | backend (1) | wrap algorithm (1) | data algorithm (1)
//   | KEK label length (1) | KEK label (UTF-8) | KEK id (16) | context length (2) | context (UTF-8)
//     ── header: associated data of the key wrap
//   | wrap nonce length (1) | wrap nonce | wrapped key length (1) | wrapped key (data key ‖ tag)
//   | data nonce (24) | ciphertext length (4)
//     ── everything so far: associated data of the payload encryption
//   | ciphertext ‖ tag (16)
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from '@noble/ciphers/utils.js';
import { HsmError } from './errors.ts';
import { SecretBytes } from './secret.ts';

export type BackendName = 'pkcs11' | 'software';
export type WrapAlgorithm = 'aes-256-gcm' | 'xchacha20-poly1305';
export type DataAlgorithm = 'xchacha20-poly1305';

/** Public identification of a key-encryption key: its label and a random 16-byte id set at init. */
export interface KekReference {
  readonly label: string;
  readonly id: Uint8Array;
}

/** What a backend contributes to sealing: wrapping and unwrapping 32-byte data keys under its KEK. */
export interface DataKeyWrapper {
  readonly backend: BackendName;
  readonly wrapAlgorithm: WrapAlgorithm;
  readonly kek: KekReference;
  wrapDataKey(dataKey: Uint8Array, associatedData: Uint8Array): { nonce: Uint8Array; wrapped: Uint8Array };
  /** Throws HsmError('blob-authentication-failed') when the wrapped key or its associated data changed. */
  unwrapDataKey(wrapped: Uint8Array, nonce: Uint8Array, associatedData: Uint8Array): Uint8Array;
}

const MAGIC = new Uint8Array([0x43, 0x46, 0x53, 0x42]); // "CFSB": Coffer sealed blob
export const BLOB_VERSION = 1;
export const KEK_ID_LENGTH = 16;
export const DATA_KEY_LENGTH = 32;
const DATA_NONCE_LENGTH = 24;
const TAG_LENGTH = 16;
const MAX_LABEL_BYTES = 64;
const MAX_CONTEXT_BYTES = 1024;
/** Largest plaintext sealed in one blob; shares and identity seeds are far smaller. */
export const MAX_PLAINTEXT_BYTES = 16 * 1024 * 1024;

const BACKEND_CODES: Record<BackendName, number> = { pkcs11: 1, software: 2 };
const WRAP_CODES: Record<WrapAlgorithm, number> = { 'aes-256-gcm': 1, 'xchacha20-poly1305': 2 };
const WRAP_NONCE_LENGTHS: Record<WrapAlgorithm, number> = { 'aes-256-gcm': 12, 'xchacha20-poly1305': 24 };
const DATA_CODES: Record<DataAlgorithm, number> = { 'xchacha20-poly1305': 1 };

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function codeToName<T extends string>(table: Record<T, number>, code: number): T | undefined {
  for (const [name, value] of Object.entries(table) as [T, number][]) if (value === code) return name;
  return undefined;
}

/** Validates a context string and returns its UTF-8 bytes. */
export function encodeContext(context: string): Uint8Array {
  if (typeof context !== 'string' || context.length === 0) {
    throw new HsmError(
      'invalid-argument',
      'context must be a non-empty string (for example "share:<keyId>:<index>")',
    );
  }
  const bytes = utf8.encode(context);
  if (bytes.length > MAX_CONTEXT_BYTES) {
    throw new HsmError('invalid-argument', `context is ${bytes.length} bytes; at most ${MAX_CONTEXT_BYTES}`);
  }
  return bytes;
}

/** Contexts with this prefix are sealed only by the keystores themselves (the identity seed). */
export const RESERVED_CONTEXT_PREFIX = 'coffer:';

/**
 * Rejects reserved contexts in the public seal/unseal calls, so a caller can neither unseal the
 * identity seed through them nor store a blob that the keystore would take for its identity.
 */
export function assertCallerContext(context: string): void {
  encodeContext(context);
  if (context.startsWith(RESERVED_CONTEXT_PREFIX)) {
    throw new HsmError(
      'invalid-argument',
      `contexts starting with "${RESERVED_CONTEXT_PREFIX}" are reserved for the keystore`,
    );
  }
}

/** Validates a KEK / identity / token label (printable, 1..64 bytes). */
export function validateLabel(label: string, field: string): Uint8Array {
  if (typeof label !== 'string' || !/^[\x21-\x7e][\x20-\x7e]*$/.test(label) || label.endsWith(' ')) {
    throw new HsmError(
      'invalid-argument',
      `${field} must be printable ASCII without leading/trailing spaces`,
    );
  }
  const bytes = utf8.encode(label);
  if (bytes.length > MAX_LABEL_BYTES) {
    throw new HsmError('invalid-argument', `${field} is ${bytes.length} bytes; at most ${MAX_LABEL_BYTES}`);
  }
  return bytes;
}

class Writer {
  readonly #parts: Uint8Array[] = [];
  length = 0;
  bytes(value: Uint8Array): void {
    this.#parts.push(value);
    this.length += value.length;
  }
  uint(value: number, size: 1 | 2 | 4): void {
    const out = new Uint8Array(size);
    for (let i = size - 1, v = value; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v & 0xff;
    this.bytes(out);
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const part of this.#parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}

class Reader {
  offset = 0;
  constructor(readonly data: Uint8Array) {}
  bytes(length: number, field: string): Uint8Array {
    if (this.offset + length > this.data.length) {
      throw new HsmError('malformed-blob', `sealed blob truncated in field ${field}`);
    }
    const out = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }
  uint(size: 1 | 2 | 4, field: string): number {
    let value = 0;
    for (const byte of this.bytes(size, field)) value = value * 256 + byte;
    return value;
  }
}

/** Byte ranges [start, end) of a blob's regions (for diagnostics and the tamper tests). */
export interface BlobRegions {
  readonly header: readonly [number, number];
  readonly wrapNonce: readonly [number, number];
  readonly wrappedKey: readonly [number, number];
  readonly nonce: readonly [number, number];
  readonly ciphertext: readonly [number, number];
  readonly tag: readonly [number, number];
}

/** Everything a sealed blob says about itself. None of it is secret. */
export interface SealedBlobInfo {
  readonly version: number;
  readonly backend: BackendName;
  readonly wrapAlgorithm: WrapAlgorithm;
  readonly dataAlgorithm: DataAlgorithm;
  readonly kek: KekReference;
  readonly context: string;
  readonly regions: BlobRegions;
}

interface ParsedBlob extends SealedBlobInfo {
  readonly headerBytes: Uint8Array;
  readonly wrapNonceBytes: Uint8Array;
  readonly wrappedKeyBytes: Uint8Array;
  readonly nonceBytes: Uint8Array;
  readonly payloadAssociatedData: Uint8Array;
  readonly ciphertextBytes: Uint8Array;
}

function encodeHeader(
  backend: BackendName,
  wrapAlgorithm: WrapAlgorithm,
  kek: KekReference,
  contextBytes: Uint8Array,
): Uint8Array {
  const writer = new Writer();
  writer.bytes(MAGIC);
  writer.uint(BLOB_VERSION, 1);
  writer.uint(BACKEND_CODES[backend], 1);
  writer.uint(WRAP_CODES[wrapAlgorithm], 1);
  writer.uint(DATA_CODES['xchacha20-poly1305'], 1);
  const label = validateLabel(kek.label, 'KEK label');
  writer.uint(label.length, 1);
  writer.bytes(label);
  if (kek.id.length !== KEK_ID_LENGTH) throw new HsmError('invalid-argument', 'KEK id must be 16 bytes');
  writer.bytes(kek.id);
  writer.uint(contextBytes.length, 2);
  writer.bytes(contextBytes);
  return writer.finish();
}

function parseBlob(blob: Uint8Array): ParsedBlob {
  if (!(blob instanceof Uint8Array))
    throw new HsmError('invalid-argument', 'sealed blob must be a Uint8Array');
  const reader = new Reader(blob);
  const magic = reader.bytes(4, 'magic');
  if (!magic.every((byte, i) => byte === MAGIC[i])) {
    throw new HsmError('malformed-blob', 'not a Coffer sealed blob (field magic)');
  }
  const version = reader.uint(1, 'version');
  if (version !== BLOB_VERSION) {
    throw new HsmError(
      'unsupported-blob-version',
      `sealed blob has format version ${version}; this build reads ${BLOB_VERSION}`,
    );
  }
  const backendCode = reader.uint(1, 'backend');
  const backend = codeToName(BACKEND_CODES, backendCode);
  if (backend === undefined)
    throw new HsmError('malformed-blob', `unknown backend code ${backendCode} (field backend)`);
  const wrapCode = reader.uint(1, 'wrapAlgorithm');
  const wrapAlgorithm = codeToName(WRAP_CODES, wrapCode);
  if (wrapAlgorithm === undefined) {
    throw new HsmError('malformed-blob', `unknown key-wrap algorithm code ${wrapCode} (field wrapAlgorithm)`);
  }
  const dataCode = reader.uint(1, 'dataAlgorithm');
  const dataAlgorithm = codeToName(DATA_CODES, dataCode);
  if (dataAlgorithm === undefined) {
    throw new HsmError('malformed-blob', `unknown data algorithm code ${dataCode} (field dataAlgorithm)`);
  }
  const labelLength = reader.uint(1, 'kekLabelLength');
  let label: string;
  try {
    label = utf8Strict.decode(reader.bytes(labelLength, 'kekLabel'));
    validateLabel(label, 'KEK label');
  } catch (error) {
    if (error instanceof HsmError && error.code === 'malformed-blob') throw error;
    throw new HsmError('malformed-blob', 'KEK label is not a valid label (field kekLabel)');
  }
  const kekId = reader.bytes(KEK_ID_LENGTH, 'kekId').slice();
  const contextLength = reader.uint(2, 'contextLength');
  if (contextLength === 0 || contextLength > MAX_CONTEXT_BYTES) {
    throw new HsmError(
      'malformed-blob',
      `context length ${contextLength} out of range (field contextLength)`,
    );
  }
  let context: string;
  try {
    context = utf8Strict.decode(reader.bytes(contextLength, 'context'));
  } catch (error) {
    if (error instanceof HsmError) throw error;
    throw new HsmError('malformed-blob', 'context is not valid UTF-8 (field context)');
  }
  const headerEnd = reader.offset;
  const wrapNonceLength = reader.uint(1, 'wrapNonceLength');
  if (wrapNonceLength !== WRAP_NONCE_LENGTHS[wrapAlgorithm]) {
    throw new HsmError(
      'malformed-blob',
      `wrap nonce length ${wrapNonceLength} invalid for ${wrapAlgorithm} (field wrapNonceLength)`,
    );
  }
  const wrapNonceStart = reader.offset;
  const wrapNonceBytes = reader.bytes(wrapNonceLength, 'wrapNonce');
  const wrappedLength = reader.uint(1, 'wrappedKeyLength');
  if (wrappedLength !== DATA_KEY_LENGTH + TAG_LENGTH) {
    throw new HsmError(
      'malformed-blob',
      `wrapped key length ${wrappedLength}; expected 48 (field wrappedKeyLength)`,
    );
  }
  const wrappedStart = reader.offset;
  const wrappedKeyBytes = reader.bytes(wrappedLength, 'wrappedKey');
  const nonceStart = reader.offset;
  const nonceBytes = reader.bytes(DATA_NONCE_LENGTH, 'nonce');
  const ciphertextLength = reader.uint(4, 'ciphertextLength');
  if (ciphertextLength < TAG_LENGTH || ciphertextLength > MAX_PLAINTEXT_BYTES + TAG_LENGTH) {
    throw new HsmError(
      'malformed-blob',
      `ciphertext length ${ciphertextLength} out of range (field ciphertextLength)`,
    );
  }
  const payloadAssociatedData = blob.subarray(0, reader.offset);
  const ciphertextStart = reader.offset;
  const ciphertextBytes = reader.bytes(ciphertextLength, 'ciphertext');
  if (reader.offset !== blob.length) {
    throw new HsmError(
      'malformed-blob',
      `${blob.length - reader.offset} trailing bytes after the ciphertext`,
    );
  }
  const end = blob.length;
  return {
    version,
    backend,
    wrapAlgorithm,
    dataAlgorithm,
    kek: { label, id: kekId },
    context,
    regions: {
      header: [0, headerEnd],
      wrapNonce: [wrapNonceStart, wrapNonceStart + wrapNonceLength],
      wrappedKey: [wrappedStart, wrappedStart + wrappedLength],
      nonce: [nonceStart, nonceStart + DATA_NONCE_LENGTH],
      ciphertext: [ciphertextStart, end - TAG_LENGTH],
      tag: [end - TAG_LENGTH, end],
    },
    headerBytes: blob.subarray(0, headerEnd),
    wrapNonceBytes,
    wrappedKeyBytes,
    nonceBytes,
    payloadAssociatedData,
    ciphertextBytes,
  };
}

/** Decodes a blob's self-description without unsealing it (which KEK, which context, which backend). */
export function inspectSealedBlob(blob: Uint8Array): SealedBlobInfo {
  const { version, backend, wrapAlgorithm, dataAlgorithm, kek, context, regions } = parseBlob(blob);
  return { version, backend, wrapAlgorithm, dataAlgorithm, kek, context, regions };
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Seals `plaintext` for `context` under the wrapper's KEK. */
export function sealWith(
  wrapper: DataKeyWrapper,
  plaintext: Uint8Array | SecretBytes,
  context: string,
): Uint8Array {
  const contextBytes = encodeContext(context);
  const data = plaintext instanceof SecretBytes ? plaintext.expose() : plaintext;
  if (!(data instanceof Uint8Array)) throw new HsmError('invalid-argument', 'plaintext must be a Uint8Array');
  if (data.length > MAX_PLAINTEXT_BYTES) {
    throw new HsmError(
      'invalid-argument',
      `plaintext is ${data.length} bytes; at most ${MAX_PLAINTEXT_BYTES}`,
    );
  }
  const header = encodeHeader(wrapper.backend, wrapper.wrapAlgorithm, wrapper.kek, contextBytes);
  const dataKey = randomBytes(DATA_KEY_LENGTH);
  try {
    const { nonce: wrapNonce, wrapped } = wrapper.wrapDataKey(dataKey, header);
    const nonce = randomBytes(DATA_NONCE_LENGTH);
    const writer = new Writer();
    writer.bytes(header);
    writer.uint(wrapNonce.length, 1);
    writer.bytes(wrapNonce);
    writer.uint(wrapped.length, 1);
    writer.bytes(wrapped);
    writer.bytes(nonce);
    writer.uint(data.length + TAG_LENGTH, 4);
    const associatedData = writer.finish();
    const ciphertext = xchacha20poly1305(dataKey, nonce, associatedData).encrypt(data);
    const out = new Uint8Array(associatedData.length + ciphertext.length);
    out.set(associatedData, 0);
    out.set(ciphertext, associatedData.length);
    return out;
  } finally {
    dataKey.fill(0);
    if (plaintext instanceof SecretBytes) data.fill(0);
  }
}

/**
 * Unseals a blob after checking, in order: format, backend, KEK identity, context, then both AEAD tags.
 * Each failure is an HsmError with its own code; nothing secret is in the message.
 */
export function unsealWith(wrapper: DataKeyWrapper, blob: Uint8Array, expectedContext: string): SecretBytes {
  encodeContext(expectedContext);
  const parsed = parseBlob(blob);
  if (parsed.backend !== wrapper.backend) {
    throw new HsmError(
      'wrong-backend',
      `blob was sealed by the ${parsed.backend} backend; this keystore is ${wrapper.backend}`,
    );
  }
  if (parsed.wrapAlgorithm !== wrapper.wrapAlgorithm) {
    throw new HsmError(
      'malformed-blob',
      `blob wraps its data key with ${parsed.wrapAlgorithm}; the ${wrapper.backend} backend uses ${wrapper.wrapAlgorithm}`,
    );
  }
  if (parsed.kek.label !== wrapper.kek.label || hex(parsed.kek.id) !== hex(wrapper.kek.id)) {
    throw new HsmError(
      'wrong-kek',
      `blob was sealed under KEK "${parsed.kek.label}" (id ${hex(parsed.kek.id)}); ` +
        `this keystore's KEK is "${wrapper.kek.label}" (id ${hex(wrapper.kek.id)})`,
    );
  }
  if (parsed.context !== expectedContext) {
    throw new HsmError(
      'context-mismatch',
      `blob was sealed for context "${parsed.context}", not "${expectedContext}"`,
    );
  }
  const dataKey = wrapper.unwrapDataKey(parsed.wrappedKeyBytes, parsed.wrapNonceBytes, parsed.headerBytes);
  try {
    if (dataKey.length !== DATA_KEY_LENGTH) {
      throw new HsmError('blob-authentication-failed', 'unwrapped data key has the wrong length');
    }
    try {
      const plaintext = xchacha20poly1305(dataKey, parsed.nonceBytes, parsed.payloadAssociatedData).decrypt(
        parsed.ciphertextBytes,
      );
      return new SecretBytes(plaintext);
    } catch {
      throw new HsmError(
        'blob-authentication-failed',
        `ciphertext of blob for context "${expectedContext}" failed authentication: the blob was altered`,
      );
    }
  } finally {
    dataKey.fill(0);
  }
}
