// DKLs23 Protocol 3.6, round 2 (step 7): derive the session id from every party's nonce, compute the
// re-randomised additive key share sk_i = λ_i·(x_i + δ) + ζ_i, answer every peer's multiplication
// as Alice with inputs (r_i, sk_i), and send the check-adjust values Γ^u, Γ^v, ψ and the reveal of R_i.
import { equalBytes } from '../../codec/bytes.ts';
import { ProtocolAbort } from '../../errors.ts';
import type { Outgoing, RoundInbox } from '../../party.ts';
import { Transcript } from '../../transcript.ts';
import { mulSenderRespond } from '../multiplication.ts';
import { OtCheckError } from '../ot/extension.ts';
import { baseMul, mod, type Point } from '../scalar.ts';
import { zeroShare } from '../zero-shares.ts';
import { banAndAbort, type RoundHost } from './host.ts';
import {
  decodeSignRound1,
  decodeSignRound1Direct,
  encodeSignRound2,
  encodeSignRound2Direct,
} from './messages.ts';
import { extensionSid, type Round1State } from './round1.ts';

export type Round2State = Round1State & {
  sid: Uint8Array;
  echo1: Uint8Array;
  commitments: Map<number, Uint8Array>;
  nonces: Map<number, Uint8Array>;
  sk: bigint;
  pk: Point;
  /** c^u_{i,j}, c^v_{i,j}: this party's (Alice) multiplication shares with each peer. */
  cu: Map<number, bigint>;
  cv: Map<number, bigint>;
  broadcast2: Uint8Array;
};

export function multiplicationSid(sid: Uint8Array, alice: number, bob: number): Uint8Array {
  return new Transcript('dkls23/sign/multiplication')
    .append('sid', sid)
    .append('alice', alice)
    .append('bob', bob)
    .digest();
}

export function signRound2(
  state: Round1State,
  inbox: RoundInbox,
  host: RoundHost,
): { state: Round2State; out: Outgoing[] } {
  const { ctx } = state;
  const me = host.index;
  const own = decodeSignRound1(state.broadcast);
  const commitments = new Map<number, Uint8Array>([[me, own.commitment]]);
  const nonces = new Map<number, Uint8Array>([[me, own.nonce]]);
  for (const j of host.peers) {
    const m = host.decode(j, 'round-1 broadcast', () => decodeSignRound1(inbox.broadcast.get(j)!));
    // DESIGN §3 item 1: another session, key, setup, signing set or path is rejected here.
    if (!equalBytes(m.context, ctx.digest))
      throw new ProtocolAbort(
        'wrong-session',
        [j],
        `party ${j} signs in another context (session, key, signers or path)`,
      );
    commitments.set(j, m.commitment);
    nonces.set(j, m.nonce);
  }
  const sidT = new Transcript('dkls23/sign/session').append('context', ctx.digest);
  for (const p of ctx.signers) sidT.append(`nonce-${p}`, nonces.get(p)!);
  const sid = sidT.digest();

  // Step 7: sk_i = λ_i·(x_i + δ) + ζ_i with ζ from F_Zero (zero-shares.ts); pk_i = sk_i·G.
  const seeds = new Map([...ctx.share.setup.peers].map(([j, p]) => [j, p.zeroSeed]));
  const zeta = zeroShare(me, ctx.signers, seeds, sid);
  const sk = mod(ctx.lagrange * (ctx.share.x + ctx.tweak) + zeta + (state.faults.keyShareOffset ?? 0n));
  const pk = baseMul(sk);

  const out: Outgoing[] = [];
  const cu = new Map<number, bigint>();
  const cv = new Map<number, bigint>();
  for (const j of host.peers) {
    const direct = host.decode(j, 'round-1 direct message', () =>
      decodeSignRound1Direct(inbox.direct.get(j)!),
    );
    const setup = ctx.share.setup.peers.get(j)!;
    let result: ReturnType<typeof mulSenderRespond>;
    try {
      // Step 7: F_RVOLE with P_j as Bob, this party as Alice with inputs (r_i, sk_i).
      result = mulSenderRespond(
        setup.sender,
        extensionSid(ctx, me, j, direct.nonce),
        multiplicationSid(sid, me, j),
        [state.r, sk],
        direct.extension,
        state.rng,
      );
    } catch (e) {
      if (e instanceof OtCheckError) banAndAbort(ctx, j, 'ot-check-failed', e.message);
      throw e;
    }
    const [cU, cV] = result.shares as [bigint, bigint];
    cu.set(j, cU);
    cv.set(j, cV);
    // Step 7 (check-adjust): Γ^u = c^u·G, Γ^v = c^v·G, ψ_{i,j} = φ_i − χ_{i,j}.
    const chi = state.receivers.get(j)!.b;
    out.push({
      to: j,
      payload: encodeSignRound2Direct({
        mul: result.message,
        gammaU: baseMul(cU),
        gammaV: baseMul(cV),
        psi: mod(state.phi - chi),
      }),
    });
  }
  const echo1 = host.digest(1, state.broadcast);
  const broadcast2 = encodeSignRound2({ echo: echo1, R: state.R, salt: state.salt, pk });
  out.unshift({ to: null, payload: broadcast2 });
  return { state: { ...state, sid, echo1, commitments, nonces, sk, pk, cu, cv, broadcast2 }, out };
}
