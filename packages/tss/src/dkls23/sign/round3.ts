// DKLs23 Protocol 3.6, rounds 2→3 (steps 8–10). Processing the round-2 messages ends the message-
// independent part: every check that binds the peers' multiplication inputs to R_j and pk_j runs
// here, and the result is a presignature (R, u_i, v_i, φ_i). The message enters only afterwards:
// w_i = H(m)·φ_i + r_x·v_i is broadcast with u_i, and s = Σw / Σu.
import { bytesToHex } from '@noble/hashes/utils.js';
import { DecodeError, equalBytes } from '../../codec/bytes.ts';
import { ProtocolAbort } from '../../errors.ts';
import type { RoundInbox } from '../../party.ts';
import type { Rng } from '../../rng.ts';
import { MulCheckError, mulReceiverFinish } from '../multiplication.ts';
import {
  baseMul,
  bytesToNumberBE,
  mod,
  N,
  Point as P,
  type Point,
  pointBytes,
  publicMulShort,
  secretMul,
} from '../scalar.ts';
import type { SignContext } from './context.ts';
import { banAndAbort, type RoundHost } from './host.ts';
import { decodeSignRound2, decodeSignRound2Direct, decodeSignRound3, type SignRound2 } from './messages.ts';
import { commitmentTo, extensionSid } from './round1.ts';
import { multiplicationSid, type Round2State } from './round2.ts';

/** The per-party result of the message-independent rounds (secret: u_i, v_i, φ_i). */
export type PresignatureData = {
  ctx: SignContext;
  sid: Uint8Array;
  /** Echo of the round-2 broadcasts, checked by everyone in the online round. */
  echo2: Uint8Array;
  R: Point;
  u: bigint;
  v: bigint;
  phi: bigint;
};

export function signRound3(state: Round2State, inbox: RoundInbox, host: RoundHost): PresignatureData {
  const { ctx } = state;
  const me = host.index;
  const broadcasts = new Map<number, SignRound2>();
  for (const j of host.peers)
    broadcasts.set(
      j,
      host.decode(j, 'round-2 broadcast', () => decodeSignRound2(inbox.broadcast.get(j)!)),
    );
  // DESIGN §3 item 4: equivocation in round 1 is caught before any check that uses secrets.
  host.echoes(1, state.echo1, new Map([...broadcasts].map(([j, m]) => [j, m.echo])));

  let psiSum = state.phi;
  let uSum = 0n;
  let vSum = 0n;
  let R = state.R;
  let pkSum = state.pk;
  for (const j of host.peers) {
    const b = broadcasts.get(j)!;
    const d = host.decode(j, 'round-2 direct message', () => decodeSignRound2Direct(inbox.direct.get(j)!));
    // Step 8: decommit R_j.
    if (!equalBytes(commitmentTo(ctx, j, pointBytes(b.R), b.salt), state.commitments.get(j)!))
      throw new ProtocolAbort('commitment-mismatch', [j], `party ${j} revealed an R_j it did not commit to`);
    // Step 8: finish F_RVOLE as Bob: d^u_{i,j}, d^v_{i,j} (DKLs23 §5.1 check inside).
    let dU: bigint;
    let dV: bigint;
    try {
      [dU, dV] = mulReceiverFinish(
        state.receivers.get(j)!,
        extensionSid(ctx, j, me, state.pairNonces.get(j)!),
        multiplicationSid(state.sid, j, me),
        d.mul,
      ) as [bigint, bigint];
    } catch (e) {
      if (e instanceof MulCheckError) banAndAbort(ctx, j, 'multiplication-check-failed', e.message);
      if (e instanceof DecodeError)
        throw new ProtocolAbort(
          'malformed-message',
          [j],
          `multiplication message from party ${j}: ${e.message}`,
        );
      throw e;
    }
    // Step 8 (consistency checks): χ_{i,j}·R_j = Γ^u_j + d^u·G and χ_{i,j}·pk_j = Γ^v_j + d^v·G,
    // binding P_j's multiplication inputs to the R_j and pk_j it published.
    const chi = state.receivers.get(j)!.b;
    if (!gammaChecksHold(state.rng, chi, b, d.gammaU, d.gammaV, dU, dV)) {
      // Rare path: the separate checks name the one that failed.
      if (!secretMul(b.R, chi).equals(d.gammaU.add(baseMul(dU))))
        banAndAbort(
          ctx,
          j,
          'multiplication-check-failed',
          'Γ^u check failed: multiplication input differs from r_j',
        );
      banAndAbort(
        ctx,
        j,
        'multiplication-check-failed',
        'Γ^v check failed: multiplication input differs from sk_j',
      );
    }
    psiSum += d.psi;
    uSum += state.cu.get(j)! + dU;
    vSum += state.cv.get(j)! + dV;
    R = R.add(b.R);
    pkSum = pkSum.add(b.pk);
  }
  // Step 9: Σ pk_j must be the (derived) public key (DESIGN §3 item 6).
  if (!pkSum.equals(ctx.derivedKey))
    throw new ProtocolAbort(
      'invalid-share',
      [],
      'the public key shares do not add up to the (derived) public key',
    );
  if (R.is0()) throw new ProtocolAbort('invalid-share', [], 'the combined instance point R is the identity');
  // Step 9: u_i = r_i·(φ_i + Σψ_{j,i}) + Σ(c^u + d^u), v_i = sk_i·(φ_i + Σψ_{j,i}) + Σ(c^v + d^v).
  const u = mod(state.r * psiSum + uSum);
  const v = mod(state.sk * psiSum + vSum);
  // R in affine form (Z = 1): the online round reads x(R) and y(R) without a field inversion.
  const affineR = P.fromAffine(R.toAffine());
  return { ctx, sid: state.sid, echo2: host.digest(2, state.broadcast2), R: affineR, u, v, phi: state.phi };
}

/**
 * Both step-8 checks at once (intentional divergence: one secret-scalar product instead of two).
 * With ρ drawn here from this party's RNG, after P_j's messages fixed every term:
 *   χ·(R_j + ρ·pk_j) = (Γ^u + ρ·Γ^v) + (d^u + ρ·d^v)·G.
 * If the checks hold this holds; if either fails, the errors E_u, E_v (points in a group of prime
 * order, fixed before ρ) satisfy E_u + ρ·E_v = O for at most one ρ, so a cheating P_j passes with
 * probability at most 2^-128 and learns nothing the separate checks would not tell it. χ stays
 * under noble's constant-shape multiply; ρ multiplies public points only and is never reused.
 */
function gammaChecksHold(
  rng: Rng,
  chi: bigint,
  peer: { R: Point; pk: Point },
  gammaU: Point,
  gammaV: Point,
  dU: bigint,
  dV: bigint,
): boolean {
  const rho = bytesToNumberBE(rng(16)) + 1n;
  const left = secretMul(peer.R.add(publicMulShort(peer.pk, rho)), chi);
  const right = gammaU.add(publicMulShort(gammaV, rho)).add(baseMul(dU + rho * dV));
  return left.equals(right);
}

/** r = x(R) mod n. */
export function signatureR(R: Point): bigint {
  return mod(R.toAffine().x);
}

/** Step 9 (message-dependent part): w_i = H(m)·φ_i + r_x·v_i. */
export function onlineShare(p: PresignatureData, digest: Uint8Array): { u: bigint; w: bigint } {
  const z = mod(bytesToNumberBE(digest));
  return { u: p.u, w: mod(z * p.phi + signatureR(p.R) * p.v) };
}

/**
 * Step 10: s = Σw / Σu, normalised to low-s, then verified under the derived key before it is
 * returned (DESIGN §3 item 6). A failure means a party lied in the last round.
 */
export function combineSignature(
  p: PresignatureData,
  digest: Uint8Array,
  own: { u: bigint; w: bigint },
  inbox: RoundInbox,
  host: RoundHost,
): Uint8Array {
  let uSum = own.u;
  let wSum = own.w;
  const echoes = new Map<number, Uint8Array>();
  for (const j of host.peers) {
    const m = host.decode(j, 'online broadcast', () => decodeSignRound3(inbox.broadcast.get(j)!));
    echoes.set(j, m.echo);
    uSum += m.u;
    wSum += m.w;
  }
  host.echoes(2, p.echo2, echoes);
  uSum = mod(uSum);
  if (uSum === 0n)
    throw new ProtocolAbort('signature-check-failed', [], 'Σu is zero: a party sent a bad u_i');
  wSum = mod(wSum);
  if (wSum === 0n)
    throw new ProtocolAbort('signature-check-failed', [], 'Σw is zero: a party sent a bad w_i');
  const r = signatureR(p.R);
  // s = W/U and, for the verification, s⁻¹ = U/W: one inversion of U·W gives both.
  const inverse = P.Fn.inv(mod(uSum * wSum));
  let s = mod(wSum * wSum * inverse);
  let sInv = mod(uSum * uSum * inverse);
  const affine = p.R.toAffine();
  let recovery = (affine.y & 1n ? 1 : 0) | (affine.x >= N ? 2 : 0);
  if (s > N >> 1n) {
    s = N - s;
    sInv = N - sInv;
    recovery ^= 1;
  }
  const out = new Uint8Array(65);
  out.set(scalar32(r), 0);
  out.set(scalar32(s), 32);
  out[64] = recovery;
  if (r === 0n || !verifyEcdsa(r, s, mod(bytesToNumberBE(digest)), p.ctx.derivedKey, sInv))
    throw new ProtocolAbort(
      'signature-check-failed',
      [],
      'the combined signature does not verify: a party sent a bad u_i or w_i; lock the key for review',
    );
  return out;
}

/**
 * Standard ECDSA verification (SEC 1 §4.1.4) under the derived key, on public data: with
 * u1 = z/s and u2 = r/s, X = u1·G + u2·Q must not be the identity and x(X) mod n must equal r.
 */
export function verifyEcdsa(r: bigint, s: bigint, z: bigint, Q: Point, knownInverse?: bigint): boolean {
  if (r <= 0n || r >= N || s <= 0n || s >= N) return false;
  const sInv = knownInverse ?? P.Fn.inv(s);
  if (mod(s * sInv) !== 1n) return false;
  const u1 = mod(z * sInv);
  const u2 = mod(r * sInv);
  const table = publicKeyTable(Q);
  const X = table ? P.BASE.multiplyUnsafe(u1).add(table.multiplyUnsafe(u2)) : P.BASE.mulAddUnsafe(u1, Q, u2);
  if (X.is0()) return false;
  // x(X) mod n = r, checked projectively (x = X/Z): X ≡ r·Z, or X ≡ (r + n)·Z when r + n < p.
  const Fp = P.Fp;
  return Fp.eql(X.X, Fp.mul(r, X.Z)) || (r + N < Fp.ORDER && Fp.eql(X.X, Fp.mul(r + N, X.Z)));
}

// noble wNAF tables (`Point.precompute`) for (derived) public keys that sign repeatedly, as a hot
// wallet's do. Measured on this 2-core machine (shared, load 5) against noble's `mulAddUnsafe`
// (1.6 ms per verification there): a 5-bit window table costs 7.5 ms to build and brings a
// verification to 0.5 ms, so it pays for itself after about seven verifications (an 8-bit table:
// 43 ms for 0.4 ms, about forty). It is requested on a key's TABLE_AFTER_USES-th verification, so a
// path signed only once or twice never pays for one. Public data only; bounded, least recently
// used entry evicted first.
const MAX_TABLES = 32;
export const TABLE_AFTER_USES = 4;
const TABLE_WINDOW_BITS = 5;
const tables = new Map<string, { uses: number; point?: Point }>();

function publicKeyTable(Q: Point): Point | undefined {
  const key = bytesToHex(Q.toBytes(true));
  const entry = tables.get(key) ?? { uses: 0 };
  tables.delete(key);
  tables.set(key, entry);
  if (tables.size > MAX_TABLES) tables.delete(tables.keys().next().value!);
  entry.uses++;
  if (!entry.point && entry.uses >= TABLE_AFTER_USES)
    entry.point = P.fromAffine(Q.toAffine()).precompute(TABLE_WINDOW_BITS);
  return entry.point;
}

function scalar32(v: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let x = v;
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}
