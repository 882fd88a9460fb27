// DKLs23 key generation tamper suite (DESIGN §3 items 3–4, §9): every round and message kind of key
// generation with one flipped byte must abort and blame at most its sender. Kept apart from
// dkg.slow.test.ts so the two long files run side by side.
import { describe, expect, it } from 'vitest';
import { ecdsaKeygenParties } from '../../src/dkls23/index.ts';
import { seededRng } from '../../src/rng.ts';
import { runParties } from '../../src/simulation/network.ts';
import { abortOf, flipByte, rewrite } from './fixtures.ts';

// Every round and message kind of key generation: for 2-of-3 every sender, for 3-of-5 one sender
// per (round, kind), rotating. A flipped byte must abort and blame at most its sender.
describe.each([
  { t: 2, n: 3, everySender: true },
  { t: 3, n: 5, everySender: false },
])('DKLs23 key generation tamper suite ($t-of-$n)', ({ t, n, everySender }) => {
  const slots: Array<{ round: number; broadcast: boolean; from: number }> = [];
  let rotating = 0;
  for (const round of [1, 2, 3])
    for (const broadcast of [true, false]) {
      if (everySender) for (let from = 1; from <= n; from++) slots.push({ round, broadcast, from });
      else slots.push({ round, broadcast, from: (rotating++ % n) + 1 });
    }
  for (const s of slots) {
    it(`round ${s.round} ${s.broadcast ? 'broadcast' : 'direct'} from ${s.from}: a flipped byte aborts`, () => {
      const recipient = (s.from % n) + 1;
      const session = `dkg-tamper-${t}-${n}-${s.round}-${s.broadcast}-${s.from}`;
      const abort = abortOf(() =>
        runParties(ecdsaKeygenParties({ session, threshold: t, parties: n, rng: seededRng(session) }), {
          tamper: rewrite(
            (i) =>
              i.round === s.round &&
              i.broadcast === s.broadcast &&
              i.from === s.from &&
              i.recipient === recipient,
            // Round-3 direct: flip inside the test extension (a flip in an all-but-one correction
            // is harmless when it hits the branch the recipient did not choose; see above).
            (p) => flipByte(s.round === 3 && !s.broadcast ? p.length - 40 : p.length >> 1)(p),
          ),
        }),
      );
      expect([[], [s.from]], abort.message).toContainEqual(abort.culprits);
    });
  }
});
