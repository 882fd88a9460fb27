// Wire payloads of DKLs23 signing (Protocol 3.6). Fixed layouts, strictly decoded.
import { ByteReader, ByteWriter } from '../../codec/bytes.ts';
import { decodeSecpPoint, decodeSecpScalar } from '../../codec/groups.ts';
import { MUL_MESSAGE_BYTES } from '../multiplication.ts';
import { OT_EXT_MESSAGE_BYTES } from '../ot/extension.ts';
import { type Point, pointBytes, scalarBytes } from '../scalar.ts';

export type SignRound1 = { context: Uint8Array; nonce: Uint8Array; commitment: Uint8Array };
export type SignRound2 = { echo: Uint8Array; R: Point; salt: Uint8Array; pk: Point };
export type SignRound2Direct = { mul: Uint8Array; gammaU: Point; gammaV: Point; psi: bigint };
export type SignRound3 = { echo: Uint8Array; u: bigint; w: bigint };

export function encodeSignRound1(m: SignRound1): Uint8Array {
  return new ByteWriter().raw(m.context).raw(m.nonce).raw(m.commitment).finish();
}
export function decodeSignRound1(bytes: Uint8Array): SignRound1 {
  const r = new ByteReader(bytes);
  const m = { context: r.raw(32, 'context'), nonce: r.raw(32, 'nonce'), commitment: r.raw(32, 'commitment') };
  r.end('round-1 broadcast');
  return m;
}

export type SignRound1Direct = { nonce: Uint8Array; extension: Uint8Array };
export function encodeSignRound1Direct(m: SignRound1Direct): Uint8Array {
  return new ByteWriter().raw(m.nonce).raw(m.extension).finish();
}
export function decodeSignRound1Direct(bytes: Uint8Array): SignRound1Direct {
  const r = new ByteReader(bytes);
  const m = { nonce: r.raw(32, 'nonce'), extension: r.raw(OT_EXT_MESSAGE_BYTES, 'OT-extension message') };
  r.end('round-1 direct message');
  return m;
}

export function encodeSignRound2(m: SignRound2): Uint8Array {
  return new ByteWriter().raw(m.echo).raw(pointBytes(m.R)).raw(m.salt).raw(pointBytes(m.pk)).finish();
}
export function decodeSignRound2(bytes: Uint8Array): SignRound2 {
  const r = new ByteReader(bytes);
  const m = {
    echo: r.raw(32, 'echo'),
    R: decodeSecpPoint(r.raw(33, 'R'), 'R'),
    salt: r.raw(32, 'salt'),
    pk: decodeSecpPoint(r.raw(33, 'pk'), 'pk'),
  };
  r.end('round-2 broadcast');
  return m;
}

export function encodeSignRound2Direct(m: SignRound2Direct): Uint8Array {
  return new ByteWriter()
    .raw(m.mul)
    .raw(pointBytes(m.gammaU))
    .raw(pointBytes(m.gammaV))
    .raw(scalarBytes(m.psi))
    .finish();
}
export function decodeSignRound2Direct(bytes: Uint8Array): SignRound2Direct {
  const r = new ByteReader(bytes);
  const m = {
    mul: r.raw(MUL_MESSAGE_BYTES, 'multiplication'),
    gammaU: decodeSecpPoint(r.raw(33, 'Γ^u'), 'Γ^u'),
    gammaV: decodeSecpPoint(r.raw(33, 'Γ^v'), 'Γ^v'),
    psi: decodeSecpScalar(r.raw(32, 'ψ'), 'ψ', { allowZero: true }),
  };
  r.end('round-2 direct message');
  return m;
}

export function encodeSignRound3(m: SignRound3): Uint8Array {
  return new ByteWriter().raw(m.echo).raw(scalarBytes(m.u)).raw(scalarBytes(m.w)).finish();
}
export function decodeSignRound3(bytes: Uint8Array): SignRound3 {
  const r = new ByteReader(bytes);
  const m = {
    echo: r.raw(32, 'echo'),
    u: decodeSecpScalar(r.raw(32, 'u'), 'u', { allowZero: true }),
    w: decodeSecpScalar(r.raw(32, 'w'), 'w', { allowZero: true }),
  };
  r.end('round-3 broadcast');
  return m;
}
