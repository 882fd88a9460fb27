// Peer envelopes (DESIGN §4): every message between nodes is signed by the sender's Ed25519 identity
// key over (kind, id, session, round, from, to, payload) in an unambiguous length-prefixed encoding,
// and point-to-point payloads are encrypted to the recipient's pinned X25519 key with
// XChaCha20-Poly1305 (the header is the associated data, so a ciphertext cannot be moved to another
// envelope). Decoding is strict: exact layout, bounded lengths, no trailing bytes.
// XChaCha20-Poly1305 is composed as draft-irtf-cfrg-xchacha §2.3 describes it: noble's HChaCha20
// derives the subkey from the key and the first 16 nonce bytes, and Node's OpenSSL runs the RFC 8439
// ChaCha20-Poly1305 AEAD with the nonce 0^4 ‖ nonce[16..24]. Same bytes as noble's xchacha20poly1305
// (test/config.test.ts checks both ways); OpenSSL's is several times faster on the protocol rounds'
// payloads of tens of kilobytes.

import { createCipheriv, createDecipheriv } from 'node:crypto';
import { verifyEd25519 } from '@coffer/policy/keys';
import { ByteReader, ByteWriter, DecodeError, Transcript } from '@coffer/tss';
import { hchacha } from '@noble/ciphers/chacha.js';
import { randomBytes } from '@noble/ciphers/utils.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';

export const ENVELOPE_VERSION = 1;
const MAGIC = [0x43, 0x46, 0x45, 0x56]; // "CFEV"
export const MAX_ENVELOPE_PAYLOAD = 16 * 1024 * 1024;
const ID_LENGTH = 16;
const SIGNATURE_LENGTH = 64;
const NONCE_LENGTH = 24;
const TAG_LENGTH = 16;

/**
 * protocol: one round's tss WireMessages for the recipient (encodeProtocolPayload); control: a JSON
 * session-control message.
 */
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

const MAX_SESSION_BYTES = 256;
const MAX_NODE_ID_BYTES = 255;

function header(e: Omit<Envelope, 'payload'>): Uint8Array {
  return new ByteWriter()
    .raw(Uint8Array.from(MAGIC))
    .u8(ENVELOPE_VERSION)
    .u8(e.kind === 'protocol' ? 0 : 1)
    .raw(hexToBytesStrict(e.id, ID_LENGTH, 'id'))
    .string(e.session)
    .u16(e.round)
    .string(e.from)
    .string(e.to)
    .u8(e.encrypted ? 1 : 0)
    .finish();
}

function signedMessage(body: Uint8Array): Uint8Array {
  return new Transcript('peer-envelope/v1').append('body', body).digest();
}

/** Most tss messages one protocol envelope carries. */
export const MAX_PROTOCOL_MESSAGES = 16;

/**
 * The payload of a protocol envelope: every message one round of a party has for one recipient (its
 * broadcast messages and those addressed to it), in the order the party produced them: u8 count, then
 * each encoded WireMessage with a u32 length. One envelope per peer per round instead of one per message.
 */
export function encodeProtocolPayload(messages: readonly Uint8Array[]): Uint8Array {
  if (messages.length === 0 || messages.length > MAX_PROTOCOL_MESSAGES)
    throw new EnvelopeError('payload', `carries ${messages.length} messages (1..${MAX_PROTOCOL_MESSAGES})`);
  const w = new ByteWriter().u8(messages.length);
  for (const m of messages) w.bytes(m);
  return w.finish();
}

/** Strict inverse of encodeProtocolPayload (exact layout, no trailing bytes); throws DecodeError. */
export function decodeProtocolPayload(payload: Uint8Array): Uint8Array[] {
  const r = new ByteReader(payload);
  const count = r.u8('payload.count');
  if (count === 0 || count > MAX_PROTOCOL_MESSAGES)
    throw new DecodeError(`payload.count: ${count} is outside 1..${MAX_PROTOCOL_MESSAGES}`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(r.bytes(`payload.messages[${i}]`, { max: MAX_ENVELOPE_PAYLOAD }));
  r.end('payload');
  return out;
}

export function newEnvelopeId(): string {
  return bytesToHex(randomBytes(ID_LENGTH));
}

/** Serialises and signs; `sign` is the node identity (in the HSM or sealed). */
export async function sealEnvelope(
  e: Envelope,
  sign: (message: Uint8Array) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  if (e.payload.length > MAX_ENVELOPE_PAYLOAD) throw new EnvelopeError('payload', 'too large');
  if (!Number.isInteger(e.round) || e.round < 0 || e.round > 0xffff)
    throw new EnvelopeError('round', 'out of range');
  const utf8 = (v: string) => new TextEncoder().encode(v).length;
  if (utf8(e.session) === 0 || utf8(e.session) > MAX_SESSION_BYTES)
    throw new EnvelopeError('session', `must be 1..${MAX_SESSION_BYTES} bytes`);
  for (const field of ['from', 'to'] as const)
    if (utf8(e[field]) > MAX_NODE_ID_BYTES)
      throw new EnvelopeError(field, `longer than ${MAX_NODE_ID_BYTES} bytes`);
  const body = new ByteWriter().raw(header(e)).bytes(e.payload).finish();
  const signature = await sign(signedMessage(body));
  return new ByteWriter().raw(body).raw(signature).finish();
}

/** Strict decode; returns the envelope and the bytes its signature covers. Does not verify. */
export function decodeEnvelope(bytes: Uint8Array): {
  envelope: Envelope;
  signed: Uint8Array;
  signature: Uint8Array;
} {
  let fields: Omit<Envelope, 'encrypted'> & { flags: number };
  let signedLength: number;
  let signature: Uint8Array;
  try {
    const r = new ByteReader(bytes);
    const magic = r.raw(4, 'magic');
    if (!MAGIC.every((m, i) => magic[i] === m)) throw new EnvelopeError('magic', 'not a Coffer envelope');
    const version = r.u8('version');
    if (version !== ENVELOPE_VERSION) throw new EnvelopeError('version', `unsupported ${version}`);
    const kindByte = r.u8('kind');
    if (kindByte > 1) throw new EnvelopeError('kind', `unknown ${kindByte}`);
    const id = bytesToHex(r.raw(ID_LENGTH, 'id'));
    const session = r.string('session', MAX_SESSION_BYTES);
    if (session.length === 0) throw new EnvelopeError('session', 'empty');
    const round = r.u16('round');
    const from = r.string('from', MAX_NODE_ID_BYTES);
    const to = r.string('to', MAX_NODE_ID_BYTES);
    const flags = r.u8('flags');
    if (flags > 1) throw new EnvelopeError('flags', `unknown ${flags}`);
    const payload = r.bytes('payload', { max: MAX_ENVELOPE_PAYLOAD });
    signedLength = bytes.length - r.remaining;
    signature = r.raw(SIGNATURE_LENGTH, 'signature');
    r.end('envelope');
    fields = { kind: kindByte === 0 ? 'protocol' : 'control', id, session, round, from, to, flags, payload };
  } catch (e) {
    if (e instanceof DecodeError) {
      const [field = '$', ...rest] = e.message.split(': ');
      throw new EnvelopeError(
        field,
        /trailing/.test(e.message)
          ? 'trailing bytes'
          : /needs \d+ bytes/.test(e.message)
            ? `truncated (${rest.join(': ')})`
            : rest.join(': '),
      );
    }
    throw e;
  }
  const { flags, payload, kind, id, session, round, from, to } = fields;
  if (flags === 1 && to === '') throw new EnvelopeError('to', 'an encrypted envelope needs a recipient');
  return {
    envelope: {
      kind,
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
  // Strict RFC 8032 verification (canonical S, prime-order key) on the platform's backend (OpenSSL in a
  // node): the same check approvals and receipts get.
  if (signature.length !== SIGNATURE_LENGTH || publicKey.length !== 32) return false;
  return verifyEd25519(bytesToHex(signature), signedMessage(signed), bytesToHex(publicKey));
}

/** Direction-bound payload key: HKDF(X25519(a, B)) with both node ids in the info. */
export function payloadKey(shared: Uint8Array, from: string, to: string): Uint8Array {
  const info = new Transcript('peer-payload/v1').append('from', from).append('to', to).digest();
  return hkdf(sha256, shared, undefined, info, 32);
}

export function encryptPayload(
  key: Uint8Array,
  e: Omit<Envelope, 'payload'>,
  plaintext: Uint8Array,
): Uint8Array {
  const nonce = randomBytes(NONCE_LENGTH);
  const sealed = xchachaSeal(key, nonce, header(e), plaintext);
  const out = new Uint8Array(NONCE_LENGTH + sealed.length);
  out.set(nonce, 0);
  out.set(sealed, NONCE_LENGTH);
  return out;
}

export function decryptPayload(key: Uint8Array, e: Envelope): Uint8Array {
  if (e.payload.length < NONCE_LENGTH + TAG_LENGTH)
    throw new EnvelopeError('payload', 'too short for a ciphertext');
  const opened = xchachaOpen(
    key,
    e.payload.subarray(0, NONCE_LENGTH),
    header(e),
    e.payload.subarray(NONCE_LENGTH),
  );
  if (!opened) throw new EnvelopeError('payload', 'does not decrypt (wrong key or altered)');
  return opened;
}

/** XChaCha20-Poly1305 encryption: ciphertext ‖ 16-byte tag. */
export function xchachaSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const { subkey, iv } = xchachaSubkey(key, nonce);
  const cipher = createCipheriv('chacha20-poly1305', subkey, iv, { authTagLength: TAG_LENGTH });
  subkey.fill(0); // OpenSSL holds its own copy
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const out = new Uint8Array(plaintext.length + TAG_LENGTH);
  const body = cipher.update(plaintext);
  out.set(body, 0);
  out.set(cipher.final(), body.length);
  out.set(cipher.getAuthTag(), plaintext.length);
  return out;
}

/** XChaCha20-Poly1305 decryption of ciphertext ‖ tag; undefined when the tag does not match. */
export function xchachaOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | undefined {
  if (sealed.length < TAG_LENGTH) return undefined;
  const { subkey, iv } = xchachaSubkey(key, nonce);
  const tagAt = sealed.length - TAG_LENGTH;
  const decipher = createDecipheriv('chacha20-poly1305', subkey, iv, { authTagLength: TAG_LENGTH });
  subkey.fill(0);
  decipher.setAAD(aad, { plaintextLength: tagAt });
  decipher.setAuthTag(sealed.subarray(tagAt));
  const body = decipher.update(sealed.subarray(0, tagAt));
  try {
    decipher.final(); // checks the tag; a stream cipher has no bytes left to give
  } catch {
    body.fill(0); // never authenticated: not handed out, not left readable
    return undefined;
  }
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * The bytes of `bytes` in a fresh Uint32Array, one word per 4 bytes in the host's byte order: the form
 * noble's hchacha takes and gives (it swaps words itself on big-endian hosts).
 */
function wordsOf(bytes: Uint8Array): Uint32Array {
  const words = new Uint32Array(bytes.length / 4);
  new Uint8Array(words.buffer).set(bytes);
  return words;
}

/** "expand 32-byte k" (RFC 8439 §2.3). */
const SIGMA = wordsOf(new TextEncoder().encode('expand 32-byte k'));

/**
 * XChaCha20 (draft-irtf-cfrg-xchacha §2.3): subkey = HChaCha20(key, nonce[0..16]) and the 12-byte
 * ChaCha20 nonce 0^4 ‖ nonce[16..24].
 */
function xchachaSubkey(key: Uint8Array, nonce: Uint8Array): { subkey: Buffer; iv: Buffer } {
  if (key.length !== 32 || nonce.length !== NONCE_LENGTH)
    throw new RangeError('XChaCha20 takes a 32-byte key and a 24-byte nonce');
  const keyWords = wordsOf(key);
  const out = new Uint32Array(8);
  hchacha(SIGMA, keyWords, wordsOf(nonce.subarray(0, 16)), out);
  const subkey = Buffer.from(new Uint8Array(out.buffer));
  keyWords.fill(0);
  out.fill(0);
  const iv = Buffer.alloc(12);
  iv.set(nonce.subarray(16, 24), 4);
  return { subkey, iv };
}

function hexToBytesStrict(hex: string, length: number, field: string): Uint8Array {
  if (hex.length !== length * 2 || !/^[0-9a-f]*$/.test(hex))
    throw new EnvelopeError(field, `must be ${length} bytes of hex`);
  return hexToBytes(hex);
}
