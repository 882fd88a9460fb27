// Everything a signing party fixes before its first message: the signing set, the derived key
// (BIP32 non-hardened tweak, DESIGN §3 item 9), the Lagrange coefficient, and the context digest
// that binds session, key, pairwise setup, signing set and path into every message (DESIGN §3 item 1).
import { ProtocolAbort, UsageError } from '../../errors.ts';
import { lagrangeCoefficient } from '../../group.ts';
import type { KeyShare } from '../../keyshare.ts';
import { Transcript } from '../../transcript.ts';
import { N, type Point } from '../scalar.ts';
import { derivationOf, isBanned, type LoadedShare, loadShare } from '../share.ts';

export type SignContext = {
  session: string;
  share: LoadedShare;
  signers: number[];
  path: string;
  /** δ: the public derivation tweak added to the key. */
  tweak: bigint;
  derivedKey: Point;
  derivedKeyBytes: Uint8Array;
  lagrange: bigint;
  /** H(session, key id, setup id, signers, path, derived key). */
  digest: Uint8Array;
};

export function signContext(
  session: string,
  share: KeyShare,
  signers: readonly number[],
  path = 'm',
): SignContext {
  if (typeof session !== 'string' || session.length === 0)
    throw new UsageError('session must be a non-empty string');
  const loaded = loadShare(share);
  const sorted = [...signers].sort((a, b) => a - b);
  if (new Set(sorted).size !== sorted.length) throw new UsageError('signing set lists a party twice');
  if (sorted.length < loaded.threshold)
    throw new UsageError(`signing needs at least ${loaded.threshold} parties, got ${sorted.length}`);
  if (!sorted.includes(loaded.index)) throw new UsageError(`party ${loaded.index} is not in the signing set`);
  for (const p of sorted)
    if (!Number.isInteger(p) || p < 1 || p > loaded.parties)
      throw new UsageError(`party index ${p} is out of range`);
  const derived = derivationOf(loaded, path);
  const derivedKey = derived.point;
  const digest = new Transcript('dkls23/sign/context')
    .append('session', session)
    .append('keyId', loaded.keyId)
    .append('setupId', loaded.setupId)
    .appendList(
      'signers',
      sorted.map((p) => Uint8Array.of(p)),
    )
    .append('path', path)
    .append('derivedKey', derived.bytes)
    .digest();
  return {
    session,
    share: loaded,
    signers: sorted,
    path,
    tweak: derived.tweak,
    derivedKey,
    derivedKeyBytes: derived.bytes,
    lagrange: lagrangeCoefficient(N, loaded.index, sorted),
    digest,
  };
}

/** DESIGN §3 item 5: no session may use a pairwise setup discarded after a failed check. */
export function assertPeersUsable(ctx: SignContext): void {
  for (const p of ctx.signers) {
    if (p === ctx.share.index) continue;
    if (isBanned(ctx.share, p))
      throw new ProtocolAbort(
        'invalid-parameters',
        [p],
        `pairwise setup with party ${p} was discarded after a failed check`,
        {
          banned: [p],
        },
      );
  }
}
