// Wire payloads of DKLs23 key generation and refresh. Every decoder checks exact lengths, scalar
// ranges and point validity before any arithmetic (STYLE §3).
import { ByteReader, ByteWriter } from '../../codec/bytes.ts';
import { decodeSecpPoint, decodeSecpScalar } from '../../codec/groups.ts';
import { RECEIVER_MESSAGE_BYTES } from '../ot/base.ts';
import { OT_EXT_MESSAGE_BYTES } from '../ot/extension.ts';
import { PUNCTURED_MESSAGE_BYTES } from '../ot/punctured.ts';
import type { Point } from '../scalar.ts';
import { pointBytes, scalarBytes } from '../scalar.ts';

export type Round1Broadcast = { context: Uint8Array; nonce: Uint8Array; commitment: Uint8Array };
export type Round2Broadcast = {
  echo: Uint8Array;
  /** Feldman commitments a_l·G, l = 0..t−1 (keygen) or l = 1..t−1 (refresh: a_0 = 0). */
  coefficients: Point[];
  /** Proof of knowledge of a_0 (keygen only). */
  proof?: { K: Point; z: bigint };
  chainCode: Uint8Array;
  salt: Uint8Array;
  /** Digest of this round's direct message to each peer, in peer order (binds them to the broadcast). */
  directDigests: Uint8Array[];
};
export type Round2Direct = { share: bigint; zeroSeed: Uint8Array; baseOt: Uint8Array };
export type Round3Broadcast = { echo: Uint8Array; confirmation: Uint8Array };

export function encodeRound1(m: Round1Broadcast): Uint8Array {
  return new ByteWriter().raw(m.context).raw(m.nonce).raw(m.commitment).finish();
}
export function decodeRound1(bytes: Uint8Array): Round1Broadcast {
  const r = new ByteReader(bytes);
  const m = { context: r.raw(32, 'context'), nonce: r.raw(32, 'nonce'), commitment: r.raw(32, 'commitment') };
  r.end('round-1 broadcast');
  return m;
}

export function encodeRound2(m: Round2Broadcast): Uint8Array {
  const w = new ByteWriter().raw(m.echo).u8(m.coefficients.length);
  for (const c of m.coefficients) w.raw(pointBytes(c));
  if (m.proof) w.raw(pointBytes(m.proof.K)).raw(scalarBytes(m.proof.z));
  w.raw(m.chainCode).raw(m.salt).u8(m.directDigests.length);
  for (const d of m.directDigests) w.raw(d);
  return w.finish();
}
/** `count` is the exact polynomial length expected (t, or t−1 for refresh). */
export function decodeRound2(
  bytes: Uint8Array,
  count: number,
  withProof: boolean,
  peers: number,
): Round2Broadcast {
  const r = new ByteReader(bytes);
  const echo = r.raw(32, 'echo');
  const length = r.u8('coefficients.count');
  if (length !== count)
    throw new RangeError(`coefficients: expected exactly ${count} commitments, got ${length}`);
  const coefficients = Array.from({ length }, (_, l) =>
    decodeSecpPoint(r.raw(33, `coefficients[${l}]`), `coefficients[${l}]`),
  );
  const proof = withProof
    ? {
        K: decodeSecpPoint(r.raw(33, 'proof.K'), 'proof.K'),
        z: decodeSecpScalar(r.raw(32, 'proof.z'), 'proof.z', { allowZero: true }),
      }
    : undefined;
  const chainCode = r.raw(32, 'chainCode');
  const salt = r.raw(32, 'salt');
  const digests = r.u8('directDigests.count');
  if (digests !== peers) throw new RangeError(`directDigests: expected ${peers}, got ${digests}`);
  const directDigests = Array.from({ length: digests }, (_, k) => r.raw(32, `directDigests[${k}]`));
  const m = { echo, coefficients, proof, chainCode, salt, directDigests };
  r.end('round-2 broadcast');
  return m;
}

export function encodeRound2Direct(m: Round2Direct): Uint8Array {
  return new ByteWriter().raw(scalarBytes(m.share)).raw(m.zeroSeed).raw(m.baseOt).finish();
}
export function decodeRound2Direct(bytes: Uint8Array): Round2Direct {
  const r = new ByteReader(bytes);
  const m = {
    share: decodeSecpScalar(r.raw(32, 'share'), 'share', { allowZero: true }),
    zeroSeed: r.raw(32, 'zeroSeed'),
    baseOt: r.raw(RECEIVER_MESSAGE_BYTES, 'baseOt'),
  };
  r.end('round-2 direct message');
  return m;
}

export function encodeRound3(m: Round3Broadcast): Uint8Array {
  return new ByteWriter().raw(m.echo).raw(m.confirmation).finish();
}
export function decodeRound3(bytes: Uint8Array): Round3Broadcast {
  const r = new ByteReader(bytes);
  const m = { echo: r.raw(32, 'echo'), confirmation: r.raw(32, 'confirmation') };
  r.end('round-3 broadcast');
  return m;
}

/** Round-3 direct (Bob → Alice): all-but-one OT corrections and a test OT extension. */
export type Round3Direct = { corrections: Uint8Array; test: Uint8Array };

export function encodeRound3Direct(m: Round3Direct): Uint8Array {
  return new ByteWriter().raw(m.corrections).raw(m.test).finish();
}
export function decodeRound3Direct(bytes: Uint8Array): Round3Direct {
  const r = new ByteReader(bytes);
  const m = {
    corrections: r.raw(PUNCTURED_MESSAGE_BYTES, 'corrections'),
    test: r.raw(OT_EXT_MESSAGE_BYTES, 'test extension'),
  };
  r.end('round-3 direct message');
  return m;
}
