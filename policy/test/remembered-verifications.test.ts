// Evaluation remembers signatures that verified (a node re-evaluates a request as approvals arrive) and
// indexes each parsed policy. Neither may ever vouch for something it did not check: a remembered
// approval or price snapshot counts again only with every signed field and the signer key unchanged,
// and a lookup index answers only for the exact (frozen) document it was built from.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyApproval } from '../src/approvals.ts';
import { canonicalJson } from '../src/canonical.ts';
import { type PolicyDocument, parsePolicy } from '../src/document.ts';
import { evaluate, type Receipt } from '../src/evaluate.ts';
import { verifyPriceSnapshot } from '../src/price.ts';
import { requestDigest } from '../src/request.ts';
import {
  ADDRESS,
  approve,
  context,
  DAY,
  ETH,
  ETH_KEY,
  HOUR,
  key,
  policy,
  policyWire,
  snapshot,
  T0,
  transfer,
} from './fixture.ts';

describe('a remembered approval never vouches for edited content', () => {
  const p = policy();
  const request = transfer({ requestId: 'memo-approval' });
  const digest = requestDigest(request);
  const at = { requestDigest: digest, initiator: 'otc', nowMs: T0 + 120_000 };
  const approval = approve('bob', request);

  it('verifies once, then each signed field edited under the same signature is bad-signature', () => {
    expect(verifyApproval(p, approval, at)).toEqual({ ok: true, approverId: 'bob' });
    expect(verifyApproval(p, approval, at)).toEqual({ ok: true, approverId: 'bob' });
    const edits = [
      { approvedAtMs: approval.approvedAtMs - 1 },
      { expiresAtMs: approval.expiresAtMs + 1 },
      { approverId: 'carol' },
    ];
    for (const edit of edits) {
      expect(verifyApproval(p, { ...approval, ...edit }, at), JSON.stringify(edit)).toMatchObject({
        ok: false,
        reason: 'bad-signature',
      });
    }
    const other = transfer({ requestId: 'memo-approval-2' });
    const moved = { ...approval, requestDigest: requestDigest(other) };
    const atOther = { ...at, requestDigest: requestDigest(other) };
    expect(verifyApproval(p, moved, atOther)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('the same approval under a policy that gives bob another key no longer verifies', () => {
    expect(verifyApproval(p, approval, at).ok).toBe(true);
    const wire = policyWire();
    const groups = (wire.approverGroups as { id: string; approvers: { id: string }[] }[]).map((g) => ({
      ...g,
      approvers: g.approvers.map((a) =>
        a.id === 'bob' ? { id: 'bob', publicKey: key('bob-rotated').publicKey } : a,
      ),
    }));
    const rotated = parsePolicy({ ...wire, approverGroups: groups });
    expect(verifyApproval(rotated, approval, at)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('time, initiator and lifetime are checked on every call, remembered signature or not', () => {
    expect(verifyApproval(p, approval, at).ok).toBe(true);
    expect(verifyApproval(p, approval, { ...at, nowMs: approval.expiresAtMs })).toMatchObject({
      reason: 'expired',
    });
    expect(verifyApproval(p, approval, { ...at, nowMs: approval.approvedAtMs - 1 })).toMatchObject({
      reason: 'not-yet-valid',
    });
    expect(verifyApproval(p, approval, { ...at, initiator: 'bob' })).toMatchObject({ reason: 'initiator' });
  });
});

describe('a remembered price snapshot never vouches for edited content', () => {
  const p = policy();
  const now = T0;
  const signed = snapshot({ unitPrice: '2100' });

  it('verifies once, then any edited signed field fails', () => {
    expect(verifyPriceSnapshot(p, signed, now).ok).toBe(true);
    expect(verifyPriceSnapshot(p, signed, now)).toMatchObject({ ok: true });
    const edited = [
      { ...signed, asOfMs: signed.asOfMs + 1 },
      { ...signed, prices: [{ asset: ETH_KEY, unitPrice: '2100.5' }] },
      { ...signed, prices: [{ asset: 'evm:eip155:1:0xabc', unitPrice: '2100' }] },
      { ...signed, prices: [...signed.prices, { asset: 'evm:eip155:1:0xabc', unitPrice: '1' }] },
      { ...signed, prices: [] },
    ];
    for (const s of edited) expect(verifyPriceSnapshot(p, s, now).ok, JSON.stringify(s.prices)).toBe(false);
    const broken = { ...signed, prices: [null] } as never;
    expect(verifyPriceSnapshot(p, broken, now).ok).toBe(false);
  });

  it('under a policy with another key for the same price signer id, it fails', () => {
    expect(verifyPriceSnapshot(p, signed, now).ok).toBe(true);
    const other = policy({
      pricing: { signers: [{ id: 'oracle', publicKey: key('x').publicKey }], maxAgeMs: HOUR },
    });
    expect(verifyPriceSnapshot(other, signed, now)).toMatchObject({ ok: false });
  });

  it('its age is checked on every call', () => {
    expect(verifyPriceSnapshot(p, signed, now).ok).toBe(true);
    expect(verifyPriceSnapshot(p, signed, signed.asOfMs + HOUR + 1)).toEqual({
      ok: false,
      reason: 'snapshot is too old',
    });
  });

  it('the reference value follows the snapshot actually given, not the remembered one', () => {
    const request = transfer({ amount: ETH });
    const cheap = evaluate(p, request, context({ priceSnapshot: snapshot({ unitPrice: '2000' }) }));
    const dear = evaluate(p, request, context({ priceSnapshot: snapshot({ unitPrice: '2100' }) }));
    expect(cheap.trace.referenceValue).toBe('200000');
    expect(dear.trace.referenceValue).toBe('210000');
  });
});

describe('limits: a repeated receipt digest', () => {
  const daily = { id: 'otc-daily', scope: 'operator', windowMs: DAY, maxCount: 10 };
  const p = policy({ limits: [daily] });
  const receipt = (operator: string): Receipt => ({
    requestDigest: 'd'.repeat(64),
    wallet: 'hot-eth',
    operator,
    asset: ETH_KEY,
    to: ADDRESS.exchange,
    amount: ETH,
    referenceValue: 200_000n,
    completedAtMs: T0 - HOUR,
  });
  const used = (receipts: Receipt[]) => {
    const request = transfer({});
    const ctx = context({ approvals: [approve('bob', request)] });
    ctx.history = { completeFromMs: ctx.nowMs - DAY, completeToMs: ctx.nowMs, receipts };
    return evaluate(p, request, ctx).trace.limits[0]?.usedCount;
  };

  it('counts once per limit, by the first copy that limit counts (not the first copy overall)', () => {
    expect(used([receipt('otc'), receipt('otc'), receipt('otc')])).toBe(1);
    expect(used([receipt('treasury'), receipt('otc')])).toBe(1);
    expect(used([receipt('treasury'), receipt('treasury')])).toBe(0);
  });

  it('digests that only share the characters the pre-filter looks at are all counted', () => {
    const near = Array.from({ length: 40 }, (_, i) => ({
      ...receipt('otc'),
      requestDigest: `a${String(i).padStart(31, '0')}${'0'.repeat(31)}b`,
    }));
    const p40 = policy({ limits: [{ ...daily, maxCount: 100 }] });
    const request = transfer({});
    const ctx = context({ approvals: [approve('bob', request)] });
    ctx.history = { completeFromMs: ctx.nowMs - DAY, completeToMs: ctx.nowMs, receipts: [...near, ...near] };
    expect(evaluate(p40, request, ctx).trace.limits[0]?.usedCount).toBe(40);
  });
});

describe('limits: a malformed receipt digest', () => {
  it('is counted like any other receipt and never makes evaluation throw', () => {
    const p = policy({ limits: [{ id: 'count', scope: 'wallet', windowMs: DAY, maxCount: 10 }] });
    const request = transfer({});
    const ctx = context({ approvals: [approve('bob', request)] });
    const base: Receipt = {
      requestDigest: '',
      wallet: 'hot-eth',
      operator: 'otc',
      asset: ETH_KEY,
      to: ADDRESS.exchange,
      amount: ETH,
      referenceValue: 1n,
      completedAtMs: T0 - HOUR,
    };
    const receipts = [
      { ...base, requestDigest: undefined as never },
      { ...base, requestDigest: '' },
      { ...base, requestDigest: 'x' },
    ];
    ctx.history = { completeFromMs: ctx.nowMs - DAY, completeToMs: ctx.nowMs, receipts };
    expect(evaluate(p, request, ctx).trace.limits[0]?.usedCount).toBe(3);
  });
});

describe('the per-document index', () => {
  it('an unfrozen document is looked up afresh on every call (no stale index)', () => {
    const frozen = policy();
    const copy = structuredClone(frozen) as PolicyDocument;
    const request = transfer({});
    const ctx = context({ approvals: [approve('bob', request)] });
    expect(evaluate(copy, request, ctx).outcome).toBe('allow');
    (copy.screening.denylist as string[]).push(ADDRESS.exchange.toUpperCase().replace('0X', '0x'));
    expect(evaluate(copy, request, ctx).reasons.map((r) => r.code)).toContain('screening-denylist');
    expect(evaluate(frozen, request, ctx).outcome).toBe('allow');
  });
});

describe('canonical JSON', () => {
  /** Reference encoding, written plainly: keys sorted by code units at every level, JSON.stringify leaves. */
  const reference = (value: unknown): string => {
    if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
    if (value !== null && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      const keys = Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(o[k])}`).join(',')}}`;
    }
    return JSON.stringify(value);
  };

  it('equals sorted-key JSON.stringify for any JSON value with safe integers (quotes, escapes, surrogates)', () => {
    const json = fc.jsonValue({ maxDepth: 4 }).filter((v) => {
      const ok = (x: unknown): boolean =>
        typeof x === 'number'
          ? Number.isSafeInteger(x)
          : Array.isArray(x)
            ? x.every(ok)
            : x !== null && typeof x === 'object'
              ? Object.values(x).every(ok)
              : true;
      return ok(v);
    });
    const text = fc.string({ unit: 'binary' });
    fc.assert(
      fc.property(json, text, (value, s) => {
        expect(canonicalJson(value)).toBe(reference(value));
        expect(canonicalJson({ [s]: s, z: [s] })).toBe(reference({ [s]: s, z: [s] }));
      }),
      { numRuns: 300 },
    );
  });

  it('still names the field it cannot encode', () => {
    expect(() => canonicalJson({ a: [{ b: 1.5 }] })).toThrow(/\$\.a\[0\]\.b/);
  });
});
