// Strict decoding at the boundary: wire messages, scalars and points (DESIGN §3 items 3 and 8).
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { decodeEdPoint, decodeEdScalar, decodeSecpPoint, decodeSecpScalar } from '../src/codec/groups.ts';
import { decodeWire, encodeWire, FrostSignParty, ProtocolAbort, systemRng } from '../src/index.ts';
import { runParties } from '../src/simulation/network.ts';
import { simulateKeygen } from '../src/simulator.ts';
import { tamperOne } from './helpers.ts';

const msg = { session: 'sign/abc', round: 2, from: 3, to: null, payload: Uint8Array.of(1, 2, 3) };

describe('wire codec', () => {
  it('round-trips broadcast and direct messages', () => {
    expect(decodeWire(encodeWire(msg))).toEqual(msg);
    const direct = { ...msg, to: 1 };
    expect(decodeWire(encodeWire(direct), { parties: [1, 2, 3] })).toEqual(direct);
  });

  it('rejects unknown versions, trailing bytes, truncation, index 0, self-addressed and outsiders', () => {
    const bytes = encodeWire(msg);
    const badVersion = Uint8Array.from(bytes);
    badVersion[0] = 9;
    expect(() => decodeWire(badVersion)).toThrow(/version/);
    expect(() => decodeWire(Uint8Array.of(...bytes, 0))).toThrow(/trailing/);
    expect(() => decodeWire(bytes.subarray(0, bytes.length - 1))).toThrow(/payload/);
    expect(() =>
      decodeWire(encodeWire({ ...msg, from: 1, to: 2 }).map((b, i, a) => (i === a.length - 9 ? 0 : b))),
    ).toThrow(/from/);
    expect(() => encodeWire({ ...msg, from: 0 })).toThrow(/from/);
    expect(() => decodeWire(encodeWire({ ...msg, to: 3 }))).toThrow(/itself/);
    expect(() => decodeWire(encodeWire(msg), { parties: [1, 2] })).toThrow(/not in this session/);
  });
});

describe('scalars and points', () => {
  const n = secp256k1.Point.Fn.ORDER;
  const be = (v: bigint) => Uint8Array.from(Buffer.from(v.toString(16).padStart(64, '0'), 'hex'));

  it('secp256k1: scalars ≥ n, zero and wrong lengths are rejected', () => {
    expect(decodeSecpScalar(be(n - 1n), 's')).toBe(n - 1n);
    expect(() => decodeSecpScalar(be(n), 's')).toThrow(/group order/);
    expect(() => decodeSecpScalar(be(0n), 's')).toThrow(/zero/);
    expect(() => decodeSecpScalar(new Uint8Array(31), 's')).toThrow(/32 bytes/);
  });

  it('secp256k1: off-curve and wrong-length points are rejected', () => {
    const g = secp256k1.Point.BASE.toBytes(true);
    expect(decodeSecpPoint(g, 'p').equals(secp256k1.Point.BASE)).toBe(true);
    // The first x with no y on the curve (x³ + 7 is not a square).
    let off = Uint8Array.from(g);
    for (let x = 1; ; x++) {
      off = Uint8Array.from([2, ...be(BigInt(x))]);
      try {
        secp256k1.Point.fromBytes(off);
      } catch {
        break;
      }
    }
    expect(() => decodeSecpPoint(off, 'commitment')).toThrow(/commitment: not a point/);
    expect(() => decodeSecpPoint(g.subarray(1), 'p')).toThrow(/33 bytes/);
    expect(() => decodeSecpPoint(new Uint8Array(33), 'p')).toThrow(/not a point/);
  });

  it('ed25519: identity, small-order and mixed-order points are rejected (torsion attacks)', () => {
    const torsion = ed25519.Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'); // order 8
    expect(() => decodeEdPoint(ed25519.Point.ZERO.toBytes(), 'p')).toThrow(/identity/);
    expect(() => decodeEdPoint(torsion.toBytes(), 'p')).toThrow(/prime order/);
    expect(() => decodeEdPoint(ed25519.Point.BASE.add(torsion).toBytes(), 'p')).toThrow(/prime order/);
    expect(decodeEdPoint(ed25519.Point.BASE.toBytes(), 'p').equals(ed25519.Point.BASE)).toBe(true);
    const l = ed25519.Point.Fn.ORDER;
    const le = (v: bigint) => Uint8Array.from(Buffer.from(v.toString(16).padStart(64, '0'), 'hex').reverse());
    expect(() => decodeEdScalar(le(l), 's')).toThrow(/group order/);
  });

  it('FROST signing aborts and names the sender of a nonce commitment with a torsion component', async () => {
    const shares = await simulateKeygen({ scheme: 'eddsa-ed25519', threshold: 2, parties: 3 });
    const torsion = ed25519.Point.fromHex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
    // A malicious party 3 that broadcasts (consistently, to everyone) a hiding commitment D + T with
    // T of order 8: only the prime-order check can catch it.
    class TorsionSigner extends FrostSignParty {
      protected override begin() {
        const [out] = super.begin();
        const payload = Uint8Array.from(out!.payload);
        payload.set(ed25519.Point.fromBytes(payload.subarray(32, 64)).add(torsion).toBytes(), 32);
        (this as unknown as { ownRound1: Uint8Array }).ownRound1 = payload;
        return [{ to: null, payload }];
      }
    }
    const common = { session: 'sign/torsion', signers: [1, 3], message: Uint8Array.of(1), rng: systemRng };
    const parties = [
      new FrostSignParty({ ...common, share: shares[0]! }),
      new TorsionSigner({ ...common, share: shares[2]! }),
    ];
    let error: unknown;
    try {
      runParties(parties);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProtocolAbort);
    expect((error as ProtocolAbort).reason).toBe('malformed-message');
    expect((error as ProtocolAbort).culprits).toEqual([3]);
    expect((error as ProtocolAbort).message).toMatch(/prime order/);
  });

  it('FROST key generation names the sender of a commitment vector of the wrong length', async () => {
    // Party 2 opens a package with one extra commitment point: exact polynomial length is enforced.
    const { tamper } = tamperOne({ round: 3, from: 2, recipient: 1 }, (_bytes, m) => {
      const extra = secp256k1.Point.BASE.toBytes(true);
      return encodeWire({
        ...m,
        payload: Uint8Array.from([
          ...m.payload.subarray(0, 32 + 66),
          ...extra,
          ...m.payload.subarray(32 + 66),
        ]),
      });
    });
    const error = await simulateKeygen({
      scheme: 'schnorr-secp256k1-tr',
      threshold: 2,
      parties: 3,
      tamper,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolAbort);
    expect((error as ProtocolAbort).culprits).toEqual([2]);
  });
});
