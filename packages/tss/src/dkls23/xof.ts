// SHAKE256 (FIPS 202) for short inputs behind a fixed head: the OT-extension PRG, the pad hash, the
// base-OT keys and the GGM expansion call it thousands of times per protocol run with the same
// session id in front. XOF_D(prefix, data) = SHAKE256(D ‖ prefix ‖ data) truncated to dkLen bytes:
// the leading domain byte D separates the uses (each use has a fixed-length prefix and input layout).
// The hashing is Node's OpenSSL on Node and noble elsewhere ("#hash" in package.json); both compute
// the same function (test/dkls23/xof.test.ts).

import { headedShake256 } from '#hash';

export type PrefixedXof = (data: Uint8Array) => Uint8Array;

function head(prefix: Uint8Array, domain: number): Uint8Array {
  if (!Number.isInteger(domain) || domain < 0 || domain > 0xff) throw new RangeError(`domain byte ${domain}`);
  const out = new Uint8Array(1 + prefix.length);
  out[0] = domain;
  out.set(prefix, 1);
  return out;
}

/** data ↦ SHAKE256(domain ‖ prefix ‖ data) truncated to dkLen bytes (a fresh array per call). */
export function prefixedXof(prefix: Uint8Array, domain: number, dkLen: number): PrefixedXof {
  const sponge = headedShake256(head(prefix, domain), dkLen);
  return (data) => {
    const out = new Uint8Array(dkLen);
    sponge(data, out);
    return out;
  };
}

/**
 * Like prefixedXof, but returns a DataView over one output buffer that the next call overwrites
 * (hot loops read it into bigints at once).
 */
export function prefixedXofView(
  prefix: Uint8Array,
  domain: number,
  dkLen: number,
): (data: Uint8Array) => DataView {
  const sponge = headedShake256(head(prefix, domain), dkLen);
  const out = new Uint8Array(dkLen);
  const view = new DataView(out.buffer);
  return (data) => {
    sponge(data, out);
    return view;
  };
}
