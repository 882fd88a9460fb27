// Two-party random vector OLE (DKLs23 Functionality 3.5 with ℓ = 2), realised by DKLs19 Protocol 1
// (ePrint 2019/523) on top of the OT extension, with the two-round structure and the forced reuse
// of one OT batch for both of Alice's inputs described in DKLs23 §5.1 (and p. 8).
//
// Bob's input b is random: he samples β ∈ {0,1}^ξ and sets b = ⟨g, β⟩ for the public gadget g
// (κ powers of two followed by 2s random scalars, DKLs19 §3), so leaking a few bits of β through
// selective failure leaves b statistically hidden. Alice inputs (a_1, a_2) and the parties end with
// c_i + d_i = a_i·b.
//
//   Bob (round 1):   β, b; OT-extension message with choice bits β                       (Protocol 1, step 1)
//   Alice (round 2): α = (ã_1, ã_2, â) ← Z_q^3; per OT j, from her pads P0_j, P1_j:
//                    τ_j = P1_j − P0_j + α, z^A_j = P0_j                                  (steps 2–3, COTe)
//                    χ_1, χ_2 = H(sid, τ)   (Fiat–Shamir after τ fixes her correlation)   (step 4)
//                    r_j = χ_1·z^A_{j,1} + χ_2·z^A_{j,2} + z^A_{j,3};  u = χ_1·ã_1 + χ_2·ã_2 + â
//                    sends τ, H(r) (§5.1: a hash of r suffices), u, γ_i = a_i − ã_i        (steps 5, 7)
//                    c_i = Σ_j g_j·z^A_{j,i}                                               (step 8)
//   Bob (round 3):   z^B_j = β_j·τ_j − P_{β_j};  checks H(β_j·u − ⟨χ, z^B_j⟩) = H(r)       (step 6)
//                    d_i = Σ_j g_j·z^B_{j,i} + b·γ_i                                       (step 8)
//
// Intentional divergence from DKLs19/0xCarbon: one check mask â and one check equation cover both
// inputs (χ = (χ_1, χ_2, 1)); since χ is derived after τ commits Alice to every per-OT correlation,
// any OT whose correlation differs from the one matching u fails the check exactly when β_j = 1 —
// the same selective-failure leakage DKLs19 tolerates — and u stays uniform thanks to â.
import { sha256 } from '#hash';
import { ByteReader, DecodeError, equalBytes } from '../codec/bytes.ts';
import { decodeSecpScalar } from '../codec/groups.ts';
import type { Rng } from '../rng.ts';
import { Transcript } from '../transcript.ts';
import {
  type OtExtReceiverSetup,
  type OtExtSenderSetup,
  otExtReceive,
  otExtSend,
  ROW_LENGTH,
} from './ot/extension.ts';
import { CORRELATION_WIDTH, ELL, KAPPA, SCALAR_BYTES, XI } from './params.ts';
import { hashToScalar, mod, N, randomScalar, readBig256, scalarBytes, writeBig256 } from './scalar.ts';
import { prefixedXofView } from './xof.ts';

/** Alice → Bob: τ (ξ × 3 scalars), H(r), u, γ_1, γ_2. */
export const MUL_MESSAGE_BYTES = XI * CORRELATION_WIDTH * SCALAR_BYTES + 32 + SCALAR_BYTES * (1 + ELL);

let gadgetCache: bigint[] | undefined;
/** The public gadget vector g (DKLs19 §3): 2^k for k < κ, then 2s nothing-up-my-sleeve scalars. */
export function gadget(): bigint[] {
  if (!gadgetCache) {
    gadgetCache = Array.from({ length: XI }, (_, k) =>
      k < KAPPA ? 1n << BigInt(k) : hashToScalar(new Transcript('dkls23/gadget').append('k', k).digest()),
    );
  }
  return gadgetCache;
}

/**
 * SHAKE256 domain byte (xof.ts) of the pad hash. The pad hash must be correlation-robust: Alice hashes
 * q_j and q_j ⊕ Δ, and the two outputs must look independent (KOS15 §3, modelled as a random oracle).
 */
const PAD_DOMAIN = 0x0c;

/** The three scalars carried by one OT pad (PRG expansion of a row). */
type PadHash = (j: number, row: Uint8Array, rowOffset: number, mask?: Uint8Array) => bigint[];

/**
 * Pad of OT j from its row: SHAKE256(0x0c ‖ sidMul ‖ sidExt ‖ j ‖ row) read as CORRELATION_WIDTH
 * scalars. sidMul carries every party's nonce: were the pads keyed by the extension session alone
 * (which Bob chooses), a Bob replaying an old extension message would make Alice reuse pads, and
 * τ − τ' would reveal the difference of her masks and thus of her inputs across sessions.
 * A 256-bit string is below 2n, so one conditional subtraction reduces it (bias below 2^-128).
 */
function padHash(sidExt: Uint8Array, sidMul: Uint8Array): PadHash {
  const prefix = new Uint8Array(64);
  prefix.set(sidMul, 0);
  prefix.set(sidExt, 32);
  const xof = prefixedXofView(prefix, PAD_DOMAIN, CORRELATION_WIDTH * SCALAR_BYTES);
  const input = new Uint8Array(2 + ROW_LENGTH);
  return (j, row, rowOffset, mask) => {
    input[0] = j >>> 8;
    input[1] = j & 0xff;
    for (let k = 0; k < ROW_LENGTH; k++) input[2 + k] = row[rowOffset + k]! ^ (mask ? mask[k]! : 0);
    const view = xof(input);
    const scalars: bigint[] = [];
    for (let c = 0; c < CORRELATION_WIDTH; c++) {
      const v = readBig256(view, c * 32);
      scalars.push(v >= N ? v - N : v);
    }
    return scalars;
  };
}

/**
 * Σ_j g_j·z_j[i] over the gadget vector (DKLs19 Protocol 1, step 8), not reduced: the κ powers of
 * two by Horner's rule (shifts and additions instead of κ big products), then the 2s random entries.
 */
function gadgetSum(z: readonly bigint[][], i: number): bigint {
  const g = gadget();
  let acc = 0n;
  for (let j = KAPPA - 1; j >= 0; j--) acc = (acc << 1n) + z[j]![i]!;
  for (let j = KAPPA; j < XI; j++) acc += g[j]! * z[j]![i]!;
  return acc;
}

function checkChallenges(sidMul: Uint8Array, tau: Uint8Array): bigint[] {
  const digest = sha256(tau);
  return Array.from({ length: ELL }, (_, i) =>
    hashToScalar(
      new Transcript('dkls23/mul/chi').append('sid', sidMul).append('i', i).append('tau', digest).digest(),
    ),
  );
}

export type MulReceiverState = { beta: Uint8Array; b: bigint; rows: Uint8Array };

/** Bob, round 1: random input b and the OT-extension message (Protocol 1, steps 1 and 3). */
export function mulReceiverStart(
  setup: OtExtReceiverSetup,
  sidExt: Uint8Array,
  rng: Rng,
): { state: MulReceiverState; message: Uint8Array } {
  const beta = rng(XI / 8);
  const g = gadget();
  let b = 0n;
  for (let j = 0; j < XI; j++) if ((beta[j >> 3]! >>> (j & 7)) & 1) b += g[j]!;
  const { message, rows } = otExtReceive(setup, sidExt, beta, rng);
  return { state: { beta, b: mod(b), rows }, message };
}

/**
 * Alice, round 2: checks Bob's OT extension (throws OtCheckError), multiplies her inputs by Bob's
 * random b and returns her shares c_i and the message for Bob.
 */
export function mulSenderRespond(
  setup: OtExtSenderSetup,
  sidExt: Uint8Array,
  sidMul: Uint8Array,
  inputs: readonly bigint[],
  bobMessage: Uint8Array,
  rng: Rng,
): { shares: bigint[]; message: Uint8Array } {
  if (inputs.length !== ELL) throw new RangeError(`multiplication takes ${ELL} inputs`);
  const rows = otExtSend(setup, sidExt, bobMessage);
  const alpha = Array.from({ length: CORRELATION_WIDTH }, () => randomScalar(rng));
  const pad = padHash(sidExt, sidMul);
  const message = new Uint8Array(MUL_MESSAGE_BYTES);
  const messageView = new DataView(message.buffer);
  const zA: bigint[][] = [];
  for (let j = 0; j < XI; j++) {
    const p0 = pad(j, rows, j * ROW_LENGTH);
    const p1 = pad(j, rows, j * ROW_LENGTH, setup.delta);
    for (let c = 0; c < CORRELATION_WIDTH; c++)
      writeBig256(messageView, (j * CORRELATION_WIDTH + c) * SCALAR_BYTES, mod(p1[c]! - p0[c]! + alpha[c]!));
    zA.push(p0);
  }
  const tauBytes = message.subarray(0, XI * CORRELATION_WIDTH * SCALAR_BYTES);
  const chi = checkChallenges(sidMul, tauBytes);
  const r = new Uint8Array(XI * SCALAR_BYTES);
  const rView = new DataView(r.buffer);
  for (let j = 0; j < XI; j++) {
    const z = zA[j]!;
    writeBig256(rView, j * SCALAR_BYTES, mod(chi[0]! * z[0]! + chi[1]! * z[1]! + z[2]!));
  }
  const shares = Array.from({ length: ELL }, (_, i) => gadgetSum(zA, i));
  let offset = tauBytes.length;
  message.set(sha256(r), offset);
  offset += 32;
  message.set(scalarBytes(mod(chi[0]! * alpha[0]! + chi[1]! * alpha[1]! + alpha[2]!)), offset);
  offset += SCALAR_BYTES;
  for (let i = 0; i < ELL; i++) {
    message.set(scalarBytes(mod(inputs[i]! - alpha[i]!)), offset);
    offset += SCALAR_BYTES;
  }
  return { shares: shares.map(mod), message };
}

/** Bob, round 3: checks Alice's correlation (throws MulCheckError) and returns his shares d_i. */
export function mulReceiverFinish(
  state: MulReceiverState,
  sidExt: Uint8Array,
  sidMul: Uint8Array,
  aliceMessage: Uint8Array,
): bigint[] {
  if (aliceMessage.length !== MUL_MESSAGE_BYTES)
    throw new DecodeError(
      `multiplication message: expected ${MUL_MESSAGE_BYTES} bytes, got ${aliceMessage.length}`,
    );
  const reader = new ByteReader(aliceMessage);
  const tauBytes = reader.raw(XI * CORRELATION_WIDTH * SCALAR_BYTES, 'multiplication τ');
  const tauView = new DataView(tauBytes.buffer, tauBytes.byteOffset, tauBytes.length);
  const rDigest = reader.raw(32, 'multiplication H(r)');
  const u = decodeSecpScalar(reader.raw(SCALAR_BYTES, 'multiplication u'), 'multiplication u', {
    allowZero: true,
  });
  const gamma = Array.from({ length: ELL }, (_, i) =>
    decodeSecpScalar(reader.raw(SCALAR_BYTES, `multiplication γ[${i}]`), `multiplication γ[${i}]`, {
      allowZero: true,
    }),
  );
  reader.end('multiplication message');
  // Every τ is range-checked before any of them is used: rejecting only the τ_j that Bob reads
  // (those with β_j = 1) would itself leak β_j to Alice.
  const tau: bigint[] = [];
  for (let k = 0; k < XI * CORRELATION_WIDTH; k++) {
    const value = readBig256(tauView, k * SCALAR_BYTES);
    if (value >= N) throw new DecodeError(`multiplication τ[${k}]: scalar is not below the group order`);
    tau.push(value);
  }
  const chi = checkChallenges(sidMul, tauBytes);
  const pad = padHash(sidExt, sidMul);
  const r = new Uint8Array(XI * SCALAR_BYTES);
  const rView = new DataView(r.buffer);
  const zB: bigint[][] = [];
  for (let j = 0; j < XI; j++) {
    const bit = (state.beta[j >> 3]! >>> (j & 7)) & 1;
    const p = pad(j, state.rows, j * ROW_LENGTH);
    const z: bigint[] = [];
    for (let c = 0; c < CORRELATION_WIDTH; c++) {
      z.push(bit ? tau[j * CORRELATION_WIDTH + c]! - p[c]! : -p[c]!);
    }
    writeBig256(rView, j * SCALAR_BYTES, mod((bit ? u : 0n) - chi[0]! * z[0]! - chi[1]! * z[1]! - z[2]!));
    zB.push(z);
  }
  if (!equalBytes(sha256(r), rDigest))
    throw new MulCheckError('multiplication consistency check failed (DKLs23 §5.1)');
  return gamma.map((gammaI, i) => mod(gadgetSum(zB, i) + state.b * gammaI));
}

export class MulCheckError extends Error {
  override readonly name = 'MulCheckError';
}
