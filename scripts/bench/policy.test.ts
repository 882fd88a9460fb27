// The policy benchmark must measure what it claims: a policy of the size issue 6 asks for, and a request
// that goes through the whole evaluation to `allow` only with both approvals. No timing here.
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../policy/src/evaluate.ts';
import { requestDigest } from '../../policy/src/request.ts';
import { benchScenario } from './policy.ts';

describe('policy benchmark scenario', () => {
  const s = benchScenario();

  it('is a realistic policy: ≥ 50 rules, all three tiers, 20 address-book entries, limits with receipts', () => {
    expect(s.policy.rules.length).toBeGreaterThanOrEqual(50);
    expect(new Set(s.policy.wallets.map((w) => w.tier))).toEqual(new Set(['cold', 'warm', 'hot']));
    expect(s.policy.addressBook).toHaveLength(20);
    expect(s.policy.quorum).toHaveLength(3);
    expect(s.policy.limits.length).toBeGreaterThan(0);
    expect(s.full.history?.receipts.length).toBe(200);
  });

  it('the measured request is allowed with its two approvals, after every step ran', () => {
    const d = evaluate(s.policy, s.request, s.full);
    expect(d.outcome).toBe('allow');
    expect(d.trace.quorum).toMatchObject({ band: 'medium', satisfied: true, counted: ['bob', 'carol'] });
    expect(d.trace.limits.map((l) => l.id)).toEqual([
      'operator-daily',
      'wallet-daily-count',
      'hot-pooled-daily',
    ]);
    expect(d.trace.rulesMatched.map((r) => r.id)).toContain('allow-ab-10');
  });

  it('one approval is not enough, and none gives needs-approvals (the approvals are really counted)', () => {
    const one = evaluate(s.policy, s.request, { ...s.full, approvals: s.full.approvals.slice(0, 1) });
    expect(one.outcome).toBe('needs-approvals');
    expect(evaluate(s.policy, s.request, s.pending).outcome).toBe('needs-approvals');
  });

  it('approvals signed for another request do not count (the latency run signs per request)', () => {
    const other = s.transfer('req-other');
    const foreign = s.approvalsFor(requestDigest(other));
    const d = evaluate(s.policy, s.request, { ...s.full, approvals: foreign });
    expect(d.outcome).toBe('needs-approvals');
    expect(d.trace.quorum?.rejected.map((r) => r.reason)).toEqual(['different-digest', 'different-digest']);
  });
});
