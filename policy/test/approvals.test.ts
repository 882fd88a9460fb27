import { describe, expect, it } from 'vitest';
import { signApproval, verifyApproval } from '../src/approvals.ts';
import { SigningKey } from '../src/keys.ts';
import { requestDigest } from '../src/request.ts';
import { approve, DAY, ETH, HOUR, KEYS, key, policy, T0, transfer } from './fixture.ts';

describe('approvals', () => {
  const p = policy();
  const request = transfer({});
  const digest = requestDigest(request);
  const at = { requestDigest: digest, initiator: 'otc', nowMs: T0 + 120_000 };

  it('accepts an officer signature over the exact request digest', () => {
    expect(verifyApproval(p, approve('bob', request), at)).toEqual({ ok: true, approverId: 'bob' });
  });

  it('the request digest commits to the unsigned bytes and every intent field', () => {
    const other = { ...request, unsignedTransaction: Uint8Array.from(request.unsignedTransaction) };
    other.unsignedTransaction[0]! ^= 1;
    expect(requestDigest(other)).not.toBe(digest);
    expect(requestDigest(transfer({ amount: ETH + 1n }))).not.toBe(digest);
    expect(
      requestDigest({ ...request, intent: { ...request.intent, fee: request.intent.fee + 1n } }),
    ).not.toBe(digest);
    expect(requestDigest({ ...request, operator: 'alice' })).not.toBe(digest);
    expect(requestDigest(transfer({}))).toBe(digest);
  });

  it('rejects each bad approval with its reason', () => {
    const cases: [string, unknown, string][] = [
      ['different-digest', approve('bob', transfer({ requestId: 'other' })), 'replayed on another request'],
      ['unknown-approver', approve('bob', request, { key: key('eve') }), 'unknown key'],
      ['expired', approve('bob', request, { ttlMs: 1000 }), 'expired'],
      ['lifetime-too-long', approve('bob', request, { ttlMs: DAY + 1 }), 'longer than maxTtlMs'],
      ['not-yet-valid', approve('bob', request, { approvedAtMs: T0 + HOUR }), 'dated in the future'],
    ];
    for (const [reason, approval, why] of cases) {
      const a = approval as ReturnType<typeof approve>;
      const fixed = reason === 'unknown-approver' ? { ...a, approverId: 'eve' } : a;
      const check = verifyApproval(p, fixed, at);
      expect(check.ok, why).toBe(false);
      if (!check.ok) expect(check.reason, why).toBe(reason);
    }
    const selfApproval = verifyApproval(p, approve('alice', request), { ...at, initiator: 'alice' });
    expect(selfApproval).toMatchObject({ ok: false, reason: 'initiator' });
    const wrongKey = verifyApproval(p, approve('bob', request, { key: KEYS.carol }), at);
    expect(wrongKey).toMatchObject({ ok: false, reason: 'bad-signature' });
    const edited = { ...approve('bob', request), expiresAtMs: T0 + DAY };
    expect(verifyApproval(p, edited, at)).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(verifyApproval(p, { approverId: 'bob' } as never, at)).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
  });

  it('an approval signature cannot be reused as another kind of signature (domain separation)', () => {
    const approval = signApproval(
      { approverId: 'bob', requestDigest: digest, approvedAtMs: T0, expiresAtMs: T0 + HOUR },
      KEYS.bob,
    );
    expect(approval.signature).toMatch(/^[0-9a-f]{128}$/);
  });

  it('approver keys never leak their secret through JSON or inspect', async () => {
    const k = SigningKey.generate();
    const { inspect } = await import('node:util');
    const secretHex = Buffer.from(k.exportSecretKey()).toString('hex');
    expect(JSON.stringify(k)).not.toContain(secretHex);
    expect(inspect(k)).not.toContain(secretHex);
    expect(inspect(k)).toContain('<redacted>');
  });
});
