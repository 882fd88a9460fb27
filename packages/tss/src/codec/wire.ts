// Versioned binary encoding of WireMessage. Decoding is strict: known version, exact layout, no
// trailing bytes, party indices in range, sender ≠ recipient. The transport (signer node or
// simulator) authenticates the sender; this codec only guarantees that the bytes mean one thing.
import { ByteReader, ByteWriter, DecodeError } from './bytes.ts';

/** One protocol message. `to: null` is a broadcast to every other party of the session. */
export type WireMessage = {
  session: string;
  round: number;
  from: number;
  to: number | null;
  payload: Uint8Array;
};

export const WIRE_VERSION = 1;
export const MAX_SESSION_LENGTH = 256;
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** Party indices are 1-based and fit one byte; 0 on the wire means broadcast. */
export const MAX_PARTY_INDEX = 255;

export function encodeWire(msg: WireMessage): Uint8Array {
  assertPartyIndex(msg.from, 'from');
  if (msg.to !== null) assertPartyIndex(msg.to, 'to');
  if (!Number.isInteger(msg.round) || msg.round < 1 || msg.round > 0xffff)
    throw new RangeError(`round must be an integer in 1..65535, got ${msg.round}`);
  const sessionBytes = new TextEncoder().encode(msg.session).length;
  if (sessionBytes === 0 || sessionBytes > MAX_SESSION_LENGTH)
    throw new RangeError(`session must be 1..${MAX_SESSION_LENGTH} bytes of UTF-8`);
  if (msg.payload.length > MAX_PAYLOAD_BYTES) throw new RangeError('payload too large');
  return new ByteWriter()
    .u8(WIRE_VERSION)
    .string(msg.session)
    .u16(msg.round)
    .u8(msg.from)
    .u8(msg.to ?? 0)
    .bytes(msg.payload)
    .finish();
}

/**
 * Decodes one message. With `parties`, the sender and recipient must belong to that set.
 * Throws DecodeError naming the field; the caller turns it into a ProtocolAbort against the
 * authenticated sender.
 */
export function decodeWire(bytes: Uint8Array, opts?: { parties?: readonly number[] }): WireMessage {
  const r = new ByteReader(bytes);
  const version = r.u8('version');
  if (version !== WIRE_VERSION) throw new DecodeError(`version: unsupported wire version ${version}`);
  const session = r.string('session', MAX_SESSION_LENGTH);
  if (session.length === 0) throw new DecodeError('session: empty');
  const round = r.u16('round');
  if (round === 0) throw new DecodeError('round: must be ≥ 1');
  const from = r.u8('from');
  const toByte = r.u8('to');
  const payload = r.bytes('payload', { max: MAX_PAYLOAD_BYTES });
  r.end('message');
  if (from === 0) throw new DecodeError('from: party index 0 is invalid');
  if (toByte === from) throw new DecodeError('to: a party never sends to itself');
  if (opts?.parties) {
    if (!opts.parties.includes(from)) throw new DecodeError(`from: party ${from} is not in this session`);
    if (toByte !== 0 && !opts.parties.includes(toByte))
      throw new DecodeError(`to: party ${toByte} is not in this session`);
  }
  return { session, round, from, to: toByte === 0 ? null : toByte, payload };
}

function assertPartyIndex(value: number, field: string): void {
  if (!Number.isInteger(value) || value < 1 || value > MAX_PARTY_INDEX)
    throw new RangeError(`${field} must be a party index in 1..${MAX_PARTY_INDEX}, got ${value}`);
}
