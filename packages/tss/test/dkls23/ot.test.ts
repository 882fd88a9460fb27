import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/codec/bytes.ts';
import { baseOtReceive, baseOtSenderFinish, baseOtSenderStart } from '../../src/dkls23/ot/base.ts';
import { OtCheckError, otExtReceive, otExtSend } from '../../src/dkls23/ot/extension.ts';
import { XI } from '../../src/dkls23/params.ts';
import { seededRng } from '../../src/rng.ts';
import { pairwiseSetup } from './helpers.ts';

const bit = (v: Uint8Array, i: number) => (v[i >> 3]! >>> (i & 7)) & 1;
const xor = (a: Uint8Array, b: Uint8Array) => a.map((x, i) => x ^ b[i]!);

describe('DKLs23 base OT', () => {
  it('gives the receiver exactly the key of its choice', () => {
    const rng = seededRng('base-ot');
    const sid = new Uint8Array(32).fill(1);
    const choices = rng(32);
    const s = baseOtSenderStart(rng, sid);
    const r = baseOtReceive(rng, sid, s.message, choices);
    const out = baseOtSenderFinish(s.state, sid, r.message);
    for (let j = 0; j < 256; j++) {
      const chosen = bit(choices, j) ? out.keys1[j]! : out.keys0[j]!;
      const other = bit(choices, j) ? out.keys0[j]! : out.keys1[j]!;
      expect(r.keys[j]).toEqual(chosen);
      expect(r.keys[j]).not.toEqual(other);
    }
  });

  it('rejects a sender proof of knowledge made for another OT session (session binding)', () => {
    const rng = seededRng('base-ot-sid');
    const s = baseOtSenderStart(rng, new Uint8Array(32).fill(1));
    expect(() => baseOtReceive(rng, new Uint8Array(32).fill(2), s.message, rng(32))).toThrow(
      /proof of knowledge/,
    );
  });
});

describe('DKLs23 base OT (Masny–Rindal endemic OT, ePrint 2019/706)', () => {
  it('rejects a receiver message of the wrong length, with an off-curve or an identity R', () => {
    const rng = seededRng('base-ot-malformed');
    const sid = new Uint8Array(32).fill(4);
    const s = baseOtSenderStart(rng, sid);
    const r = baseOtReceive(rng, sid, s.message, rng(32));
    expect(() => baseOtSenderFinish(s.state, sid, r.message.subarray(1))).toThrow(DecodeError);
    const offCurve = Uint8Array.from(r.message);
    offCurve.set([0x02, ...new Uint8Array(32).fill(0xff)], 33 * 7);
    expect(() => baseOtSenderFinish(s.state, sid, offCurve)).toThrow(/R_1\[3\]: not a point/);
    const identity = Uint8Array.from(r.message);
    identity.fill(0, 33 * 4, 33 * 5);
    expect(() => baseOtSenderFinish(s.state, sid, identity)).toThrow(/R_0\[2\]/);
  });

  it('rejects R_0 = R_1, which would give the sender two equal keys (its other key must stay independent)', () => {
    const rng = seededRng('base-ot-equal-branches');
    const sid = new Uint8Array(32).fill(7);
    const s = baseOtSenderStart(rng, sid);
    const r = baseOtReceive(rng, sid, s.message, rng(32));
    const j = 5;
    const forged = Uint8Array.from(r.message);
    forged.copyWithin((2 * j + 1) * 33, 2 * j * 33, (2 * j + 1) * 33);
    expect(() => baseOtSenderFinish(s.state, sid, forged)).toThrow(
      /R\[5\]: R_0 \+ H_G\(R_1\) = R_1 \+ H_G\(R_0\)/,
    );
  });

  it('keys are bound to the OT session: a receiver message replayed into another session gives other keys', () => {
    const rng = seededRng('base-ot-replay');
    const sid = new Uint8Array(32).fill(5);
    const choices = rng(32);
    const s = baseOtSenderStart(rng, sid);
    const r = baseOtReceive(rng, sid, s.message, choices);
    const other = baseOtSenderFinish(s.state, new Uint8Array(32).fill(6), r.message);
    for (let j = 0; j < 256; j++) {
      expect(r.keys[j]).not.toEqual(other.keys0[j]);
      expect(r.keys[j]).not.toEqual(other.keys1[j]);
    }
  });
});

describe('DKLs23 OT extension (KOS with corrected check)', () => {
  const { alice, bob } = pairwiseSetup('ote');
  const sid = new Uint8Array(32).fill(9);

  it('produces correlated rows q_j = t_j ⊕ x_j·Δ', () => {
    const rng = seededRng('ote-run');
    const choices = rng(XI / 8);
    const { message, rows } = otExtReceive(bob, sid, choices, rng);
    const q = otExtSend(alice, sid, message);
    for (let j = 0; j < XI; j++) {
      const t = rows.subarray(j * 32, j * 32 + 32);
      const qj = q.subarray(j * 32, j * 32 + 32);
      expect(Uint8Array.from(qj)).toEqual(bit(choices, j) ? xor(t, alice.delta) : Uint8Array.from(t));
    }
  });

  it('gives Alice every leaf but the punctured one (all-but-one OT)', () => {
    for (let b = 0; b < 128; b++) {
      const punctured = (alice.delta[(2 * b) >> 3]! >>> ((2 * b) & 7)) & 3;
      for (let x = 0; x < 4; x++) {
        if (x === punctured) expect(alice.leaves[b]![x]!.length).toBe(0);
        else expect(alice.leaves[b]![x]).toEqual(bob.leaves[b]![x]);
      }
    }
  });

  it('rejects a receiver who flips one bit of the corrections — selective-failure attack on Δ', () => {
    const rng = seededRng('ote-flip');
    const { message } = otExtReceive(bob, sid, rng(XI / 8), rng);
    const bad = Uint8Array.from(message);
    bad[100]! ^= 1;
    expect(() => otExtSend(alice, sid, bad)).toThrow(OtCheckError);
  });

  it('rejects an altered check value t̃', () => {
    const rng = seededRng('ote-check');
    const { message } = otExtReceive(bob, sid, rng(XI / 8), rng);
    const bad = Uint8Array.from(message);
    bad[bad.length - 1]! ^= 0x80;
    expect(() => otExtSend(alice, sid, bad)).toThrow(OtCheckError);
  });

  it('rejects a message extended under another session id', () => {
    const rng = seededRng('ote-sid');
    const { message } = otExtReceive(bob, new Uint8Array(32).fill(3), rng(XI / 8), rng);
    expect(() => otExtSend(alice, sid, message)).toThrow(OtCheckError);
  });
});
