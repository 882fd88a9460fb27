// The one vector runner: RFC 9591 (FROST) and BIP340 known-answer tests, as JSON under data/.
// They pin the primitives Coffer's FROST layer wraps (noble's ciphersuites, our strict decoders and
// verifiers) and then sign with the vector keys through Coffer's own session layer.
import { readFileSync } from 'node:fs';
import { KeyShare, type SchemeId } from '@coffer/tss';
import { simulateSign } from '@coffer/tss/simulator';
import type { FROST } from '@noble/curves/abstract/frost.js';
import { ed25519, ed25519_FROST } from '@noble/curves/ed25519.js';
import { schnorr, schnorr_FROST, secp256k1, secp256k1_FROST } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';

type FrostVector = {
  source: string;
  config: { MIN_PARTICIPANTS: number; MAX_PARTICIPANTS: number; name: string };
  inputs: {
    participant_list: number[];
    group_secret_key: string;
    verifying_key: string;
    message: string;
    share_polynomial_coefficients: string[];
    participant_shares: Array<{ identifier: number; participant_share: string }>;
  };
  round_one_outputs: Array<{
    identifier: number;
    hiding_nonce_randomness: string;
    binding_nonce_randomness: string;
    hiding_nonce: string;
    binding_nonce: string;
    hiding_nonce_commitment: string;
    binding_nonce_commitment: string;
  }>;
  round_two_outputs: Array<{ identifier: number; sig_share: string }>;
  final_output: { sig: string };
};

type Bip340Vector = {
  index: number;
  secretKey: string | null;
  publicKey: string;
  auxRand: string | null;
  message: string;
  signature: string;
  valid: boolean;
  comment: string;
};

/** x·G in the suite's encoding (compressed on secp256k1). */
function publicShareOf(frost: FROST, scalar: Uint8Array): Uint8Array {
  const x = frost.utils.Fn.fromBytes(scalar);
  return frost === ed25519_FROST
    ? ed25519.Point.BASE.multiply(x).toBytes()
    : secp256k1.Point.BASE.multiply(x).toBytes(true);
}

const load = <T>(file: string): T =>
  JSON.parse(readFileSync(new URL(`./data/${file}`, import.meta.url), 'utf8')) as T;

const suites: Array<{
  file: string;
  frost: FROST;
  coffer?: SchemeId;
  verify: (sig: Uint8Array, msg: Uint8Array, verifyingKey: Uint8Array) => boolean;
}> = [
  {
    file: 'rfc9591/ed25519-sha512.json',
    frost: ed25519_FROST,
    coffer: 'eddsa-ed25519',
    verify: (sig, msg, key) => ed25519.verify(sig, msg, key),
  },
  {
    file: 'rfc9591/secp256k1-sha256.json',
    frost: secp256k1_FROST,
    verify: (sig, msg, key) => secp256k1_FROST.verify(sig, msg, key),
  },
  {
    file: 'rfc9591/secp256k1-sha256-taproot.json',
    frost: schnorr_FROST,
    coffer: 'schnorr-secp256k1-tr',
    verify: (sig, msg, key) => schnorr.verify(sig, msg, key.subarray(1)),
  },
];

describe.each(suites)('$file', ({ file, frost, verify }) => {
  const v = load<FrostVector>(file);
  const { inputs } = v;
  const id = (i: number) => frost.Identifier.fromNumber(i);
  const message = hexToBytes(inputs.message);
  const signers = { min: v.config.MIN_PARTICIPANTS, max: v.config.MAX_PARTICIPANTS };
  const secrets = Object.fromEntries(
    inputs.participant_shares.map((s) => [
      s.identifier,
      { identifier: id(s.identifier), signingShare: hexToBytes(s.participant_share) },
    ]),
  );
  const Fn = frost.utils.Fn;
  const publicOf = (scalar: Uint8Array) => publicShareOf(frost, scalar);
  const pub = {
    signers,
    commitments: [hexToBytes(inputs.verifying_key)],
    verifyingShares: Object.fromEntries(
      inputs.participant_shares.map((s) => [id(s.identifier), publicOf(hexToBytes(s.participant_share))]),
    ),
  };

  it('key material is consistent: the shares lie on the polynomial and the group key matches', () => {
    expect(bytesToHex(publicOf(hexToBytes(inputs.group_secret_key)))).toBe(inputs.verifying_key);
    const a0 = Fn.fromBytes(hexToBytes(inputs.group_secret_key));
    const a1 = Fn.fromBytes(hexToBytes(inputs.share_polynomial_coefficients[0]!));
    for (const s of inputs.participant_shares)
      expect(Fn.fromBytes(hexToBytes(s.participant_share))).toBe(
        Fn.add(a0, Fn.mul(a1, BigInt(s.identifier))),
      );
    expect(bytesToHex(frost.combineSecret(Object.values(secrets), signers))).toBe(inputs.group_secret_key);
  });

  it('round one, round two and aggregation reproduce the vector (RFC 9591 §5.1–5.3)', () => {
    const nonces: Record<string, ReturnType<FROST['commit']>['nonces']> = {};
    const commitments = v.round_one_outputs.map((o) => {
      const randomness = [hexToBytes(o.hiding_nonce_randomness), hexToBytes(o.binding_nonce_randomness)];
      const rng = () => randomness.shift()!;
      const out = frost.commit(secrets[o.identifier]!, rng);
      expect(bytesToHex(out.nonces.hiding)).toBe(o.hiding_nonce);
      expect(bytesToHex(out.nonces.binding)).toBe(o.binding_nonce);
      expect(bytesToHex(out.commitments.hiding)).toBe(o.hiding_nonce_commitment);
      expect(bytesToHex(out.commitments.binding)).toBe(o.binding_nonce_commitment);
      nonces[o.identifier] = out.nonces;
      return out.commitments;
    });
    const shares: Record<string, Uint8Array> = {};
    for (const o of v.round_two_outputs) {
      const share = frost.signShare(secrets[o.identifier]!, pub, nonces[o.identifier]!, commitments, message);
      expect(bytesToHex(share)).toBe(o.sig_share);
      expect(frost.verifyShare(pub, commitments, message, id(o.identifier), share)).toBe(true);
      shares[id(o.identifier)] = share;
    }
    const sig = frost.aggregate(pub, commitments, message, shares);
    expect(bytesToHex(sig)).toBe(v.final_output.sig);
    expect(verify(sig, message, hexToBytes(inputs.verifying_key))).toBe(true);
    expect(verify(sig, Uint8Array.of(1), hexToBytes(inputs.verifying_key))).toBe(false);
  });
});

describe.each(suites.filter((s) => s.coffer !== undefined))(
  '$file through Coffer',
  ({ file, frost, coffer, verify }) => {
    const { inputs, config } = load<FrostVector>(file);
    const signers = { min: config.MIN_PARTICIPANTS, max: config.MAX_PARTICIPANTS };
    const message = hexToBytes(inputs.message);
    const publicOf = (scalar: Uint8Array) => publicShareOf(frost, scalar);

    it('Coffer signs with the vector key through its session layer', async () => {
      const scheme = coffer!;
      const groupPoint = hexToBytes(inputs.verifying_key);
      const publicShares = inputs.participant_shares.map((s) => publicOf(hexToBytes(s.participant_share)));
      const shares = inputs.participant_shares.map(
        (s) =>
          new KeyShare({
            scheme,
            index: s.identifier,
            threshold: signers.min,
            parties: signers.max,
            keyId: new Uint8Array(32).fill(7),
            publicKey: scheme === 'schnorr-secp256k1-tr' ? groupPoint.slice(1) : groupPoint,
            groupPoint,
            chainCode: scheme === 'eddsa-ed25519' ? new Uint8Array(0) : new Uint8Array(32).fill(1),
            publicShares,
            publicMaterial: new Uint8Array(0),
            secretMaterial: hexToBytes(s.participant_share),
          }),
      );
      const subset = inputs.participant_list.map((i) => shares[i - 1]!);
      const sig = await simulateSign({ shares: subset, message });
      expect(verify(sig, message, groupPoint)).toBe(true);
    });
  },
);

describe('BIP340 vectors', () => {
  const { vectors } = load<{ vectors: Bip340Vector[] }>('bip340.json');
  it.each(vectors)('vector $index ($comment)', (v) => {
    const pub = hexToBytes(v.publicKey);
    const msg = hexToBytes(v.message);
    const sig = hexToBytes(v.signature);
    if (v.secretKey) {
      expect(bytesToHex(schnorr.getPublicKey(hexToBytes(v.secretKey)))).toBe(v.publicKey);
      expect(bytesToHex(schnorr.sign(msg, hexToBytes(v.secretKey), hexToBytes(v.auxRand!)))).toBe(
        v.signature,
      );
    }
    let ok: boolean;
    try {
      ok = schnorr.verify(sig, msg, pub);
    } catch {
      ok = false;
    }
    expect(ok).toBe(v.valid);
  });
});
