// KeyShare: one party's share of a threshold key, with the public data every party agrees on.
// Secret material is held in a private field: JSON.stringify and util.inspect show a redacted
// summary, and only toBytes() (explicit, for sealing by the node) exports it.

import { bytesToHex } from '@noble/hashes/utils.js';
import { sha256 } from '#hash';
import { ByteReader, ByteWriter, DecodeError, equalBytes } from './codec/bytes.ts';
import { validateSchemeMaterial } from './keyshare-validate.ts';
import {
  chainPublicKey,
  MAX_PARTIES,
  MIN_PARTIES,
  POINT_LENGTH,
  PUBLIC_KEY_LENGTH,
  SCHEME_CODE,
  type SchemeId,
  schemeFromCode,
} from './schemes.ts';

const MAGIC = Uint8Array.of(0x43, 0x46, 0x4b, 0x53); // "CFKS"
const KEYSHARE_VERSION = 1;
const CHECKSUM_LENGTH = 32;
const MAX_MATERIAL_BYTES = 4 * 1024 * 1024;

export type KeyShareFields = {
  scheme: SchemeId;
  /** This party's 1-based index. */
  index: number;
  threshold: number;
  parties: number;
  /** Identifies the key: the key-generation session id, shared by every party's share. */
  keyId: Uint8Array;
  /** The group key as the chain expects it (33-byte compressed, 32-byte x-only, or 32-byte Ed25519). */
  publicKey: Uint8Array;
  /** The group key as a full encoded point (33-byte compressed on secp256k1); used for derivation. */
  groupPoint: Uint8Array;
  /** 32-byte BIP32 chain code (secp256k1 schemes); empty for Ed25519. */
  chainCode: Uint8Array;
  /** Public share x_i·G of every party 1..n, in index order. */
  publicShares: Uint8Array[];
  /** Scheme-specific public data (for example FROST VSS commitments). */
  publicMaterial: Uint8Array;
  /** Scheme-specific secret data (the secret share, pairwise OT setup …). */
  secretMaterial: Uint8Array;
};

const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

let readSecret: (share: KeyShare) => Uint8Array;
/** Package-private token: only code inside packages/tss can build a share without re-validation. */
const PROTOCOL_OUTPUT = Symbol('keyshare-from-protocol');

export class KeyShare {
  readonly scheme: SchemeId;
  readonly index: number;
  readonly threshold: number;
  readonly parties: number;
  readonly #keyId: Uint8Array;
  readonly #publicKey: Uint8Array;
  readonly #groupPoint: Uint8Array;
  readonly #chainCode: Uint8Array;
  readonly #publicShares: Uint8Array[];
  readonly #publicMaterial: Uint8Array;
  readonly #secret: Uint8Array;

  static {
    readSecret = (share) => share.#secret;
  }

  /**
   * Builds a share and validates its structure and scheme-specific consistency (secret matches its
   * public share, public shares interpolate to the group key). Protocol code that has just verified
   * all of this itself uses keyShareFromProtocol() to skip the repeated curve arithmetic.
   */
  constructor(fields: KeyShareFields, trust?: symbol) {
    validateFields(fields);
    this.scheme = fields.scheme;
    this.index = fields.index;
    this.threshold = fields.threshold;
    this.parties = fields.parties;
    this.#keyId = Uint8Array.from(fields.keyId);
    this.#publicKey = Uint8Array.from(fields.publicKey);
    this.#groupPoint = Uint8Array.from(fields.groupPoint);
    this.#chainCode = Uint8Array.from(fields.chainCode);
    this.#publicShares = fields.publicShares.map((p) => Uint8Array.from(p));
    this.#publicMaterial = Uint8Array.from(fields.publicMaterial);
    this.#secret = Uint8Array.from(fields.secretMaterial);
    if (trust !== PROTOCOL_OUTPUT) validateSchemeMaterial(this.scheme, this.publicView(), this.#secret);
  }

  // Getters return copies so a caller can never mutate the share in place.
  get keyId(): Uint8Array {
    return Uint8Array.from(this.#keyId);
  }
  get publicKey(): Uint8Array {
    return Uint8Array.from(this.#publicKey);
  }
  get groupPoint(): Uint8Array {
    return Uint8Array.from(this.#groupPoint);
  }
  get chainCode(): Uint8Array {
    return Uint8Array.from(this.#chainCode);
  }
  get publicShares(): Uint8Array[] {
    return this.#publicShares.map((p) => Uint8Array.from(p));
  }
  get publicMaterial(): Uint8Array {
    return Uint8Array.from(this.#publicMaterial);
  }

  /** Everything but the secret, for scheme code and validators. */
  publicView(): Omit<KeyShareFields, 'secretMaterial'> {
    return {
      scheme: this.scheme,
      index: this.index,
      threshold: this.threshold,
      parties: this.parties,
      keyId: this.keyId,
      publicKey: this.publicKey,
      groupPoint: this.groupPoint,
      chainCode: this.chainCode,
      publicShares: this.publicShares,
      publicMaterial: this.publicMaterial,
    };
  }

  /** Explicit export including the secret share: for sealing by the node, never for logs. */
  toBytes(): Uint8Array {
    const w = new ByteWriter()
      .raw(MAGIC)
      .u8(KEYSHARE_VERSION)
      .u8(SCHEME_CODE[this.scheme])
      .u8(this.index)
      .u8(this.threshold)
      .u8(this.parties)
      .bytes(this.#keyId)
      .bytes(this.#publicKey)
      .bytes(this.#groupPoint)
      .bytes(this.#chainCode)
      .u8(this.#publicShares.length);
    for (const p of this.#publicShares) w.bytes(p);
    w.bytes(this.#publicMaterial).bytes(this.#secret);
    const body = w.finish();
    const out = new Uint8Array(body.length + CHECKSUM_LENGTH);
    out.set(body);
    out.set(sha256(body), body.length);
    return out;
  }

  /** Parses and fully validates a share; truncated, altered or inconsistent bytes are rejected. */
  static fromBytes(bytes: Uint8Array): KeyShare {
    if (!(bytes instanceof Uint8Array)) throw new KeyShareError('expected a Uint8Array');
    if (bytes.length < MAGIC.length + 1 + CHECKSUM_LENGTH)
      throw new KeyShareError(`too short (${bytes.length} bytes): truncated`);
    if (!equalBytes(bytes.subarray(0, MAGIC.length), MAGIC))
      throw new KeyShareError('not a Coffer key share (bad magic)');
    const body = bytes.subarray(0, bytes.length - CHECKSUM_LENGTH);
    const checksum = bytes.subarray(bytes.length - CHECKSUM_LENGTH);
    if (!equalBytes(sha256(body), checksum))
      throw new KeyShareError('checksum mismatch: the bytes were truncated or altered');
    try {
      const r = new ByteReader(body);
      r.raw(MAGIC.length, 'magic');
      const version = r.u8('version');
      if (version !== KEYSHARE_VERSION)
        throw new DecodeError(`version: unsupported key share version ${version}`);
      const schemeCode = r.u8('scheme');
      const scheme = schemeFromCode(schemeCode);
      if (!scheme) throw new DecodeError(`scheme: unknown scheme code ${schemeCode}`);
      const index = r.u8('index');
      const threshold = r.u8('threshold');
      const parties = r.u8('parties');
      const keyId = r.bytes('keyId', { max: 32, exact: 32 });
      const publicKey = r.bytes('publicKey', { max: 64, exact: PUBLIC_KEY_LENGTH[scheme] });
      const groupPoint = r.bytes('groupPoint', { max: 64, exact: POINT_LENGTH[scheme] });
      const chainCode = r.bytes('chainCode', { max: 32 });
      const shareCount = r.u8('publicShares.count');
      const publicShares: Uint8Array[] = [];
      for (let i = 0; i < shareCount; i++)
        publicShares.push(r.bytes(`publicShares[${i}]`, { max: 64, exact: POINT_LENGTH[scheme] }));
      const publicMaterial = r.bytes('publicMaterial', { max: MAX_MATERIAL_BYTES });
      const secretMaterial = r.bytes('secretMaterial', { max: MAX_MATERIAL_BYTES });
      r.end('keyShare');
      return new KeyShare({
        scheme,
        index,
        threshold,
        parties,
        keyId,
        publicKey,
        groupPoint,
        chainCode,
        publicShares,
        publicMaterial,
        secretMaterial,
      });
    } catch (e) {
      if (e instanceof KeyShareError) throw e;
      throw new KeyShareError(e instanceof Error ? e.message : String(e));
    }
  }

  /** Redacted: a share must never reach JSON output or logs by accident. */
  toJSON(): Record<string, unknown> {
    return {
      type: 'KeyShare',
      scheme: this.scheme,
      index: this.index,
      threshold: this.threshold,
      parties: this.parties,
      keyId: bytesToHex(this.#keyId),
      publicKey: bytesToHex(this.#publicKey),
      secret: '<redacted>',
    };
  }

  [inspectSymbol](): string {
    return `KeyShare { scheme: '${this.scheme}', index: ${this.index}, threshold: ${this.threshold}, parties: ${this.parties}, publicKey: '${bytesToHex(this.#publicKey)}', secret: <redacted> }`;
  }

  toString(): string {
    return this[inspectSymbol]();
  }
}

export class KeyShareError extends Error {
  override readonly name = 'KeyShareError';
  constructor(message: string) {
    super(`invalid key share: ${message}`);
  }
}

/**
 * Package-internal: a share straight from a protocol run whose checks (Feldman/VSS, confirmation
 * round) already established what the constructor would re-check. Structure is still validated.
 */
export function keyShareFromProtocol(fields: KeyShareFields): KeyShare {
  return new KeyShare(fields, PROTOCOL_OUTPUT);
}

/** Package-internal: the secret material of a share, for the scheme that owns it. */
export function keyShareSecret(share: KeyShare): Uint8Array {
  return readSecret(share);
}

function validateFields(f: KeyShareFields): void {
  const fail = (m: string) => {
    throw new KeyShareError(m);
  };
  if (!Number.isInteger(f.parties) || f.parties < MIN_PARTIES || f.parties > MAX_PARTIES)
    fail(`parties must be in ${MIN_PARTIES}..${MAX_PARTIES}, got ${f.parties}`);
  if (!Number.isInteger(f.threshold) || f.threshold < MIN_PARTIES || f.threshold > f.parties)
    fail(`threshold must be in ${MIN_PARTIES}..parties, got ${f.threshold}`);
  if (!Number.isInteger(f.index) || f.index < 1 || f.index > f.parties)
    fail(`index must be in 1..${f.parties}, got ${f.index}`);
  if (f.keyId.length !== 32) fail('keyId must be 32 bytes');
  if (f.publicKey.length !== PUBLIC_KEY_LENGTH[f.scheme])
    fail(`publicKey must be ${PUBLIC_KEY_LENGTH[f.scheme]} bytes`);
  if (f.groupPoint.length !== POINT_LENGTH[f.scheme])
    fail(`groupPoint must be ${POINT_LENGTH[f.scheme]} bytes`);
  // The key the node shows, derives addresses from and verifies signatures under is the key the
  // parties sign for: one encoding of the group point, never an independent field.
  if (!equalBytes(f.publicKey, chainPublicKey(f.scheme, f.groupPoint)))
    fail(`publicKey must be the ${f.scheme} encoding of groupPoint`);
  const chainCodeLength = f.scheme === 'eddsa-ed25519' ? 0 : 32;
  if (f.chainCode.length !== chainCodeLength)
    fail(`chainCode must be ${chainCodeLength} bytes for ${f.scheme}`);
  if (f.publicShares.length !== f.parties) fail(`publicShares must list all ${f.parties} parties`);
}
