// Peer envelopes (DESIGN §4): every message between nodes is signed by the sender's Ed25519 identity
// key over (kind, id, session, round, from, to, payload) in an unambiguous length-prefixed encoding,
// and point-to-point payloads are encrypted to the recipient's pinned X25519 key with
// XChaCha20-Poly1305 (the header is the associated data, so a ciphertext cannot be moved to another
// envelope). Decoding is strict: exact layout, bounded lengths, no trailing bytes.

import { Transcript } from '@coffer/tss';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from '@noble/ciphers/utils.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';

export const ENVELOPE_VERSION = 1;
const MAGIC = [0x43, 0x46, 0x45, 0x56]; // "CFEV"
export const MAX_ENVELOPE_PAYLOAD = 16 * 1024 * 1024;
const ID_LENGTH = 16;
const SIGNATURE_LENGTH = 64;
const NONCE_LENGTH = 24;

/** protocol: a tss WireMessage payload; control: a JSON session-control message. */
export type EnvelopeKind = 'protocol' | 'control';

export type Envelope = {
  kind: EnvelopeKind;
  /** 16 random bytes, hex; replay detection. */
  id: string;
  session: string;
  round: number;
  from: string;
  /** Recipient node id; '' = the same bytes go to every participant (not encrypted). */
  to: string;
  encrypted: boolean;
  payload: Uint8Array;
};

export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`envelope ${field}: ${message}`);
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

class Writer {
  private parts: Uint8Array[] = [];
  u8(n: number): this {
    this.parts.push(Uint8Array.of(n));
    return this;
  }
  u16(n: number): this {
    this.parts.push(Uint8Array.of(n >>> 8, n & 0xff));
    return this;
  }
  raw(b: Uint8Array): this {
    this.parts.push(b);
    return this;
  }
  str8(s: string): this {
    const b = enc.encode(s);
    if (b.length > 255) throw new EnvelopeError('string', 'longer than 255 bytes');
    return this.u8(b.length).raw(b);
  }
  str16(s: string): this {
    const b = enc.encode(s);
    if (b.length > 0xffff) throw new EnvelopeError('string', 'too long');
    return this.u16(b.length).raw(b);
  }
  bytes32(b: Uint8Array): this {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, b.length);
    return this.raw(len).raw(b);
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

class Reader {
  private o = 0;
  constructor(private readonly b: Uint8Array) {}
  take(n: number, field: string): Uint8Array {
    if (this.o + n > this.b.length) throw new EnvelopeError(field, 'truncated');
    const out = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return out;
  }
  u8(field: string): number {
    return this.take(1, field)[0]!;
  }
  u16(field: string): number {
    const b = this.take(2, field);
    return (b[0]! << 8) | b[1]!;
  }
  str(len: number, field: string): string {
    try {
      return dec.decode(this.take(len, field));
    } catch (e) {
      if (e instanceof EnvelopeError) throw e;
      throw new EnvelopeError(field, 'is not UTF-8');
    }
  }
  bytes32(field: string, max: number): Uint8Array {
    const len = new DataView(this.take(4, field).slice().buffer).getUint32(0);
    if (len > max) throw new EnvelopeError(field, `longer than ${max} bytes`);
    return this.take(len, field);
  }
  get offset(): number {
    return this.o;
  }
  end(): void {
    if (this.o !== this.b.length) throw new EnvelopeError('$', 'trailing bytes');
  }
}

function header(e: Omit<Envelope, 'payload'>): Uint8Array {
  return new Writer()
    .raw(Uint8Array.from(MAGIC))
    .u8(ENVELOPE_VERSION)
    .u8(e.kind === 'protocol' ? 0 : 1)
    .raw(hexToBytesStrict(e.id, ID_LENGTH, 'id'))
    .str16(e.session)
    .u16(e.round)
    .str8(e.from)
    .str8(e.to)
    .u8(e.encrypted ? 1 : 0)
    .finish();
}

function signedMessage(body: Uint8Array): Uint8Array {
  return new Transcript('coffer/peer-envelope/v1').append('body', body).digest();
}

export function newEnvelopeId(): string {
  return Buffer.from(randomBytes(ID_LENGTH)).toString('hex');
}

/** Serialises and signs; `sign` is the node identity (in the HSM or sealed). */
export async function sealEnvelope(
  e: Envelope,
  sign: (message: Uint8Array) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  if (e.payload.length > MAX_ENVELOPE_PAYLOAD) throw new EnvelopeError('payload', 'too large');
  if (!Number.isInteger(e.round) || e.round < 0 || e.round > 0xffff)
    throw new EnvelopeError('round', 'out of range');
  const body = new Writer().raw(header(e)).bytes32(e.payload).finish();
  const signature = await sign(signedMessage(body));
  return new Writer().raw(body).raw(signature).finish();
}

/** Strict decode; returns the envelope and the bytes its signature covers. Does not verify. */
export function decodeEnvelope(bytes: Uint8Array): {
  envelope: Envelope;
  signed: Uint8Array;
  signature: Uint8Array;
} {
  const r = new Reader(bytes);
  const magic = r.take(4, 'magic');
  if (!MAGIC.every((m, i) => magic[i] === m)) throw new EnvelopeError('magic', 'not a Coffer envelope');
  const version = r.u8('version');
  if (version !== ENVELOPE_VERSION) throw new EnvelopeError('version', `unsupported ${version}`);
  const kindByte = r.u8('kind');
  if (kindByte > 1) throw new EnvelopeError('kind', `unknown ${kindByte}`);
  const id = Buffer.from(r.take(ID_LENGTH, 'id')).toString('hex');
  const session = r.str(r.u16('session'), 'session');
  if (session.length === 0) throw new EnvelopeError('session', 'empty');
  const round = r.u16('round');
  const from = r.str(r.u8('from'), 'from');
  const to = r.str(r.u8('to'), 'to');
  const flags = r.u8('flags');
  if (flags > 1) throw new EnvelopeError('flags', `unknown ${flags}`);
  const payload = r.bytes32('payload', MAX_ENVELOPE_PAYLOAD);
  const signedLength = r.offset;
  const signature = r.take(SIGNATURE_LENGTH, 'signature');
  r.end();
  if (flags === 1 && to === '') throw new EnvelopeError('to', 'an encrypted envelope needs a recipient');
  return {
    envelope: {
      kind: kindByte === 0 ? 'protocol' : 'control',
      id,
      session,
      round,
      from,
      to,
      encrypted: flags === 1,
      payload,
    },
    signed: bytes.subarray(0, signedLength),
    signature,
  };
}

export function verifyEnvelopeSignature(
  signed: Uint8Array,
  signature: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  try {
    return ed25519.verify(signature, signedMessage(signed), publicKey);
  } catch {
    return false;
  }
}

/** Direction-bound payload key: HKDF(X25519(a, B)) with both node ids in the info. */
export function payloadKey(shared: Uint8Array, from: string, to: string): Uint8Array {
  return hkdf(sha256, shared, undefined, enc.encode(`coffer/peer-payload/v1\0${from}\0${to}`), 32);
}

export function encryptPayload(
  key: Uint8Array,
  e: Omit<Envelope, 'payload'>,
  plaintext: Uint8Array,
): Uint8Array {
  const nonce = randomBytes(NONCE_LENGTH);
  const ct = xchacha20poly1305(key, nonce, header(e)).encrypt(plaintext);
  return new Writer().raw(nonce).raw(ct).finish();
}

export function decryptPayload(key: Uint8Array, e: Envelope): Uint8Array {
  if (e.payload.length < NONCE_LENGTH + 16) throw new EnvelopeError('payload', 'too short for a ciphertext');
  const nonce = e.payload.subarray(0, NONCE_LENGTH);
  try {
    return xchacha20poly1305(key, nonce, header(e)).decrypt(e.payload.subarray(NONCE_LENGTH));
  } catch {
    throw new EnvelopeError('payload', 'does not decrypt (wrong key or altered)');
  }
}

function hexToBytesStrict(hex: string, length: number, field: string): Uint8Array {
  if (hex.length !== length * 2 || !/^[0-9a-f]*$/.test(hex))
    throw new EnvelopeError(field, `must be ${length} bytes of hex`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}
