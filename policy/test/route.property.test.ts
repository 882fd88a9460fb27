// Property: no generated request that breaks a tier route is ever allowed, under a policy whose rules
// allow everything, with every approver's signature and no limits.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../src/evaluate.ts';
import { ADDRESS, approve, context, ETH, policy, policyWire, transfer, WALLET_ADDRESS } from './fixture.ts';

const TIER: Record<string, string> = {
  'cold-eth': 'cold',
  'warm-eth': 'warm',
  'hot-eth': 'hot',
  'hot-eth-2': 'hot',
};
const ALLOWED = new Set(['cold>warm', 'warm>hot', 'warm>cold', 'hot>external']);

const everyAddressBookTier = (policyWire().addressBook as Record<string, unknown>[]).flatMap((entry) =>
  ['cold', 'warm', 'hot'].map((tier) => ({
    ...entry,
    id: `${entry.id}-${tier}`,
    tier,
    addedAtMs: 0,
    coolOffMs: 0,
  })),
);

describe('tier routes (property)', () => {
  const permissive = policy({
    rules: [{ id: 'allow-everything', when: {}, effect: { type: 'allow' } }],
    quorum: [{ id: 'free' }],
    addressBook: everyAddressBookTier,
  });
  const destinations = [...Object.values(WALLET_ADDRESS), ADDRESS.exchange, ADDRESS.fresh, ADDRESS.stranger];

  it('never allows a request that violates a tier route, whatever the wallet, destination, case or amount', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(TIER)),
        fc.constantFrom(...destinations),
        fc.boolean(),
        fc.bigInt({ min: 1n, max: 1000n * ETH }),
        (wallet, to, upper, amount) => {
          const destination = upper ? to.toUpperCase().replace('0X', '0x') : to;
          const request = transfer({ wallet, to: destination, amount, operator: 'treasury' });
          const approvals = (['alice', 'bob', 'carol', 'dave'] as const).map((id) => approve(id, request));
          const decision = evaluate(permissive, request, context({ approvals }));
          const target = Object.entries(WALLET_ADDRESS).find(([, a]) => a === to)?.[0];
          const route = `${TIER[wallet]}>${target === undefined ? 'external' : TIER[target]}`;
          if (!ALLOWED.has(route)) {
            expect(decision.outcome).toBe('deny');
            expect(decision.reasons.map((r) => r.code)).toContain('tier-route');
          }
        },
      ),
      { numRuns: 300, seed: 6 },
    );
  });
});
