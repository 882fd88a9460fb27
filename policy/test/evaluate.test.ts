// Each test is named after the bypass it prevents; each fails if its check is removed from evaluate().
import { describe, expect, it } from 'vitest';
import { signVeto } from '../src/approvals.ts';
import { type Decision, evaluate, type Receipt } from '../src/evaluate.ts';
import { type RawDigestRequest, requestDigest } from '../src/request.ts';
import {
  ADDRESS,
  approve,
  context,
  DAY,
  ETH,
  ETH_KEY,
  HOUR,
  KEYS,
  key,
  policy,
  policyWire,
  snapshot,
  T0,
  transfer,
} from './fixture.ts';

const codes = (decision: Decision) => decision.reasons.map((r) => r.code);

function denied(decision: Decision, code: string): void {
  expect(decision.outcome).toBe('deny');
  expect(codes(decision)).toContain(code);
}

/** A policy whose only rule allows everything and whose only band needs no approval. */
const permissive = (overrides: Record<string, unknown> = {}) =>
  policy({
    rules: [{ id: 'allow-everything', when: {}, effect: { type: 'allow' } }],
    quorum: [{ id: 'free' }],
    addressBook: [
      ...(policyWire().addressBook as unknown[]),
      {
        id: 'exchange-cold',
        name: 'Exchange A listed for cold',
        chain: 'evm',
        network: 'eip155:1',
        tier: 'cold',
        address: ADDRESS.exchange,
        addedAtMs: 0,
        coolOffMs: 0,
      },
    ],
    ...overrides,
  });

describe('baseline', () => {
  it('a hot → address-book transfer with one officer approval is allowed, with its trace', () => {
    const request = transfer({});
    const decision = evaluate(policy(), request, context({ approvals: [approve('bob', request)] }));
    expect(decision.outcome).toBe('allow');
    expect(decision.trace.rulesMatched).toEqual([{ id: 'hot-to-address-book', effect: 'allow' }]);
    expect(decision.trace.quorum).toMatchObject({ band: 'small', satisfied: true, counted: ['bob'] });
    expect(decision.trace.referenceValue).toBe('200000');
  });
});

describe('tier routes are one-way whitelists, whatever the rules say', () => {
  const cases: [string, string, string][] = [
    ['cold → external (even an address-book entry listed for cold)', 'cold-eth', ADDRESS.exchange],
    ['cold → hot (skipping warm)', 'cold-eth', ADDRESS.hot],
    ['warm → external', 'warm-eth', ADDRESS.exchange],
    ['hot → cold', 'hot-eth', ADDRESS.cold],
    ['hot → warm', 'hot-eth', ADDRESS.warm],
    ['hot → hot', 'hot-eth', ADDRESS.hot2],
  ];
  for (const [name, wallet, to] of cases) {
    it(`denies ${name} under an allow-everything rule`, () => {
      const decision = evaluate(permissive(), transfer({ wallet, to, operator: 'treasury' }), context());
      denied(decision, 'tier-route');
      expect(decision.trace.route?.allowed).toBe(false);
    });
  }
  const allowed: [string, string, string][] = [
    ['cold → warm', 'cold-eth', ADDRESS.warm],
    ['warm → hot', 'warm-eth', ADDRESS.hot],
    ['warm → cold', 'warm-eth', ADDRESS.cold],
    ['hot → address book', 'hot-eth', ADDRESS.exchange],
  ];
  for (const [name, wallet, to] of allowed) {
    it(`allows ${name}`, () => {
      const decision = evaluate(permissive(), transfer({ wallet, to, operator: 'treasury' }), context());
      expect(decision.outcome).toBe('allow');
    });
  }

  it('denies hot → an address outside the address book (no unknown external destinations)', () => {
    denied(evaluate(permissive(), transfer({ to: ADDRESS.stranger }), context()), 'not-in-address-book');
  });

  it('denies a transaction that does not spend from the named wallet (cold funds under a hot label)', () => {
    const request = transfer({ intent: { from: ADDRESS.cold } });
    denied(evaluate(permissive(), request, context()), 'wallet-mismatch');
  });

  it('denies an operator outside its API-key scope (the OTC key on a warm wallet)', () => {
    denied(
      evaluate(permissive(), transfer({ wallet: 'warm-eth', to: ADDRESS.hot }), context()),
      'operator-scope',
    );
    denied(evaluate(permissive(), transfer({ operator: 'auditor' }), context()), 'operator');
    denied(evaluate(permissive(), transfer({ operator: 'nobody' }), context()), 'operator');
  });
});

describe('rules', () => {
  it('an explicit deny beats an allow that also matches', () => {
    const p = policy({
      rules: [
        ...(policyWire().rules as unknown[]),
        {
          id: 'no-exchange-a',
          when: { destination: { kind: 'address-book', entries: ['exchange-a'] } },
          effect: { type: 'deny' },
        },
      ],
    });
    const request = transfer({});
    const decision = evaluate(p, request, context({ approvals: [approve('bob', request)] }));
    denied(decision, 'rule-deny');
    expect(decision.trace.rulesMatched.map((r) => r.id)).toEqual(['hot-to-address-book', 'no-exchange-a']);
  });

  it('a deny rule on reference value still matches when no price can be established (fail closed)', () => {
    const p = policy({
      rules: [
        ...(policyWire().rules as unknown[]),
        { id: 'nothing-over-50k', when: { minReference: '5000000' }, effect: { type: 'deny' } },
      ],
      quorum: [{ id: 'free' }],
    });
    const request = transfer({});
    expect(evaluate(p, request, context()).outcome).toBe('allow');
    const unpriced = context();
    delete unpriced.priceSnapshot;
    denied(evaluate(p, request, unpriced), 'rule-deny');
  });

  it('no matching rule means deny', () => {
    const request = transfer({});
    denied(
      evaluate(policy({ rules: [] }), request, context({ approvals: [approve('bob', request)] })),
      'no-rule-allows',
    );
  });

  it('require-approvals from a rule adds to the band quorum', () => {
    const p = policy({
      rules: [
        ...(policyWire().rules as unknown[]),
        {
          id: 'cfo-for-otc',
          when: { operators: ['otc'] },
          effect: { type: 'require-approvals', approvals: { group: 'cfo', count: 1 } },
        },
      ],
    });
    const request = transfer({});
    expect(evaluate(p, request, context({ approvals: [approve('bob', request)] })).outcome).toBe(
      'needs-approvals',
    );
    const both = [approve('bob', request), approve('dave', request)];
    expect(evaluate(p, request, context({ approvals: both })).outcome).toBe('allow');
  });

  it('a time-window rule only allows inside its window (UTC)', () => {
    const p = policy({
      rules: [
        {
          id: 'office-hours',
          when: {
            tiers: ['hot'],
            timeWindows: [{ days: [1, 2, 3, 4, 5], fromMinute: 9 * 60, toMinute: 17 * 60 }],
          },
          effect: { type: 'allow' },
        },
      ],
    });
    const inside = transfer({});
    expect(evaluate(p, inside, context({ approvals: [approve('bob', inside)] })).outcome).toBe('allow');
    const night = transfer({ submittedAtMs: T0 + 8 * HOUR });
    const late = context({
      nowMs: T0 + 8 * HOUR + 120_000,
      approvals: [approve('bob', night, { approvedAtMs: T0 + 8 * HOUR })],
    });
    late.history = { completeFromMs: 0, completeToMs: late.nowMs, receipts: [] };
    late.priceSnapshot = snapshot({ asOfMs: T0 + 8 * HOUR });
    denied(evaluate(p, night, late), 'no-rule-allows');
  });
});

describe('quorum bands', () => {
  it('reference-value band edge: 10 000.00 USD is small, one wei more is medium', () => {
    const atEdge = transfer({ amount: 5n * ETH });
    expect(
      evaluate(policy(), atEdge, context({ approvals: [approve('bob', atEdge)] })).trace.quorum?.band,
    ).toBe('small');
    const over = transfer({ amount: 5n * ETH + 1n });
    const decision = evaluate(policy(), over, context({ approvals: [approve('bob', over)] }));
    expect(decision.trace.quorum?.band).toBe('medium');
    expect(decision.outcome).toBe('needs-approvals');
    const quorum = [approve('bob', over), approve('carol', over), approve('dave', over)];
    expect(evaluate(policy(), over, context({ approvals: quorum })).outcome).toBe('allow');
    const noCfo = [approve('bob', over), approve('carol', over)];
    expect(evaluate(policy(), over, context({ approvals: noCfo })).outcome).toBe('needs-approvals');
  });

  it('base-unit band edge: 0.1 ETH needs no approval, one wei more needs one', () => {
    const p = policy({
      quorum: [
        { id: 'tiny', asset: ETH_KEY, upToBaseUnits: String(ETH / 10n) },
        ...(policyWire().quorum as unknown[]),
      ],
    });
    expect(evaluate(p, transfer({ amount: ETH / 10n }), context()).outcome).toBe('allow');
    const over = evaluate(p, transfer({ amount: ETH / 10n + 1n }), context());
    expect(over.outcome).toBe('needs-approvals');
    expect(over.trace.quorum?.band).toBe('small');
  });

  it('above the top band: full quorum and a 24-hour delay', () => {
    const request = transfer({ amount: 500n * ETH + 1n });
    const approvals = ['alice', 'bob', 'carol', 'dave'].map((id) =>
      approve(id as 'bob', request, { ttlMs: DAY }),
    );
    const early = evaluate(policy(), request, context({ approvals }));
    expect(early.outcome).toBe('delayed');
    expect(early.delay).toEqual({ delayedUntilMs: T0 + DAY, vetoWindow: { fromMs: T0, toMs: T0 + DAY } });
    const later = context({ approvals, nowMs: T0 + DAY, priceSnapshot: snapshot({ asOfMs: T0 + DAY - 1 }) });
    later.history = { completeFromMs: 0, completeToMs: T0 + DAY, receipts: [] };
    expect(evaluate(policy(), request, later).outcome).toBe('allow');
  });

  it('refuses the initiator approving their own request', () => {
    const request = transfer({ operator: 'alice' });
    const decision = evaluate(policy(), request, context({ approvals: [approve('alice', request)] }));
    expect(decision.outcome).toBe('needs-approvals');
    expect(decision.trace.quorum?.rejected).toEqual([
      expect.objectContaining({ approverId: 'alice', reason: 'initiator' }),
    ]);
  });

  it('does not count an expired approval', () => {
    const request = transfer({});
    const decision = evaluate(
      policy(),
      request,
      context({ approvals: [approve('bob', request, { ttlMs: 30_000 })] }),
    );
    expect(decision.outcome).toBe('needs-approvals');
    expect(decision.trace.quorum?.rejected[0]?.reason).toBe('expired');
  });

  it('refuses an approval replayed from another request (different digest)', () => {
    const request = transfer({});
    const other = transfer({ requestId: 'req-2' });
    const decision = evaluate(policy(), request, context({ approvals: [approve('bob', other)] }));
    expect(decision.outcome).toBe('needs-approvals');
    expect(decision.trace.quorum?.rejected[0]?.reason).toBe('different-digest');
  });

  it('refuses an unknown approver and a known name with the wrong key', () => {
    const request = transfer({});
    const mallory = key('mallory');
    const approvals = [
      approve('bob', request, { key: mallory }),
      { ...approve('bob', request, { key: mallory }), approverId: 'mallory' },
    ];
    const decision = evaluate(policy(), request, context({ approvals }));
    expect(decision.outcome).toBe('needs-approvals');
    expect(decision.trace.quorum?.rejected.map((r) => r.reason).sort()).toEqual([
      'bad-signature',
      'unknown-approver',
    ]);
  });

  it('counts one approver once, however many approvals they send', () => {
    const over = transfer({ amount: 5n * ETH + 1n });
    const approvals = [
      approve('bob', over),
      approve('bob', over, { approvedAtMs: T0 + 61_000 }),
      approve('dave', over),
    ];
    expect(evaluate(policy(), over, context({ approvals })).outcome).toBe('needs-approvals');
  });

  it('refuses a forged or tampered price snapshot (a cheap price to slip into a lower band)', () => {
    const request = transfer({ amount: 100n * ETH });
    const forged = snapshot({ unitPrice: '1', signer: key('mallory') });
    denied(
      evaluate(policy(), request, context({ priceSnapshot: forged, approvals: [approve('bob', request)] })),
      'price-snapshot',
    );
    const tampered = { ...snapshot(), prices: [{ asset: ETH_KEY, unitPrice: '1' }] };
    denied(
      evaluate(policy(), request, context({ priceSnapshot: tampered, approvals: [approve('bob', request)] })),
      'price-snapshot',
    );
    const stale = snapshot({ asOfMs: T0 - 2 * HOUR });
    denied(evaluate(policy(), request, context({ priceSnapshot: stale })), 'price-snapshot');
  });

  it('without a price, a reference band is not skipped into a laxer one', () => {
    const p = policy({
      quorum: [...(policyWire().quorum as Record<string, unknown>[]).slice(0, 2), { id: 'rest' }],
    });
    const request = transfer({ amount: 1000n * ETH });
    const ctx = context({});
    delete ctx.priceSnapshot;
    denied(evaluate(p, request, ctx), 'no-reference-value');
  });
});

describe('limits over rolling windows', () => {
  const limited = (limit: Record<string, unknown>) => policy({ limits: [limit] });
  const daily = { id: 'otc-daily', scope: 'operator', windowMs: DAY, maxReference: '1000000' };
  const receipt = (overrides: Partial<Receipt>): Receipt => ({
    requestDigest: `r-${overrides.completedAtMs}`,
    wallet: 'hot-eth',
    operator: 'otc',
    asset: ETH_KEY,
    to: ADDRESS.exchange,
    amount: 4n * ETH,
    referenceValue: 800_000n,
    completedAtMs: T0 - HOUR,
    ...overrides,
  });
  const withHistory = (receipts: Receipt[], request: ReturnType<typeof transfer>) => {
    const ctx = context({ approvals: [approve('bob', request)] });
    ctx.history = { completeFromMs: ctx.nowMs - DAY, completeToMs: ctx.nowMs, receipts };
    return ctx;
  };

  it('allows the sum exactly at the limit and denies one base unit over (splitting does not help)', () => {
    const atLimit = transfer({ amount: ETH });
    const decision = evaluate(limited(daily), atLimit, withHistory([receipt({})], atLimit));
    expect(decision.outcome).toBe('allow');
    expect(decision.trace.limits[0]).toMatchObject({ id: 'otc-daily', usedReference: '800000', ok: true });
    const over = transfer({ amount: ETH + 1n });
    denied(evaluate(limited(daily), over, withHistory([receipt({})], over)), 'limit-exceeded');
    const split = Array.from({ length: 8 }, (_, i) =>
      receipt({ requestDigest: `s${i}`, referenceValue: 100_000n }),
    );
    denied(evaluate(limited(daily), over, withHistory(split, over)), 'limit-exceeded');
  });

  it('counts a receipt delivered by several nodes once', () => {
    const request = transfer({ amount: ETH });
    const decision = evaluate(limited(daily), request, withHistory([receipt({}), receipt({})], request));
    expect(decision.outcome).toBe('allow');
  });

  it('rolling window boundary: a receipt exactly one window old no longer counts, one ms younger does', () => {
    const request = transfer({ amount: ETH });
    const now = context().nowMs;
    const old = receipt({ completedAtMs: now - DAY, referenceValue: 900_000n });
    expect(evaluate(limited(daily), request, withHistory([old], request)).outcome).toBe('allow');
    const inside = receipt({ completedAtMs: now - DAY + 1, referenceValue: 900_000n });
    denied(evaluate(limited(daily), request, withHistory([inside], request)), 'limit-exceeded');
  });

  it('denies when the window history is incomplete or unknown ("cannot establish history")', () => {
    const request = transfer({ amount: ETH });
    const ctx = withHistory([], request);
    ctx.history = { completeFromMs: ctx.nowMs - DAY + 1, completeToMs: ctx.nowMs, receipts: [] };
    denied(evaluate(limited(daily), request, ctx), 'limit-history-unknown');
    ctx.history = { completeFromMs: 0, completeToMs: ctx.nowMs - 1, receipts: [] };
    denied(evaluate(limited(daily), request, ctx), 'limit-history-unknown');
    delete ctx.history;
    denied(evaluate(limited(daily), request, ctx), 'limit-history-unknown');
    const unpriced = receipt({});
    delete unpriced.referenceValue;
    denied(evaluate(limited(daily), request, withHistory([unpriced], request)), 'limit-history-unknown');
  });

  it('per-wallet and pooled limits count other operators and wallets', () => {
    const request = transfer({ amount: ETH });
    const other = [receipt({ operator: 'treasury', wallet: 'hot-eth-2', amount: ETH })];
    const pooled = {
      id: 'pool',
      scope: 'pooled',
      windowMs: DAY,
      asset: ETH_KEY,
      maxBaseUnits: String(ETH + ETH / 2n),
    };
    denied(evaluate(limited(pooled), request, withHistory(other, request)), 'limit-exceeded');
    const perWallet = { id: 'w', scope: 'wallet', windowMs: DAY, maxCount: 1 };
    expect(evaluate(limited(perWallet), request, withHistory(other, request)).outcome).toBe('allow');
    const same = [receipt({ operator: 'treasury' })];
    denied(evaluate(limited(perWallet), request, withHistory(same, request)), 'limit-exceeded');
  });
});

describe('delays, address book, screening, raw digests', () => {
  it('a large transfer is delayed with a veto window', () => {
    const p = policy({
      delays: { largeReference: '500000', largeDelayMs: 6 * HOUR, firstTimeDestinationDelayMs: 0 },
    });
    const request = transfer({ amount: 3n * ETH });
    const decision = evaluate(p, request, context({ approvals: [approve('bob', request)] }));
    expect(decision.outcome).toBe('delayed');
    expect(decision.delay).toEqual({
      delayedUntilMs: T0 + 6 * HOUR,
      vetoWindow: { fromMs: T0, toMs: T0 + 6 * HOUR },
    });
    expect(decision.trace.delays).toEqual([{ source: 'large', delayMs: 6 * HOUR }]);
    const small = transfer({ amount: 2n * ETH });
    expect(evaluate(p, small, context({ approvals: [approve('bob', small)] })).outcome).toBe('allow');
  });

  it('any approver can veto a delayed request; a forged or foreign veto does nothing', () => {
    const p = policy({
      delays: { largeReference: '500000', largeDelayMs: 6 * HOUR, firstTimeDestinationDelayMs: 0 },
    });
    const request = transfer({ amount: 3n * ETH });
    const approvals = [approve('bob', request)];
    const veto = (id: 'carol' | 'dave', digest: string, signer = KEYS[id]) =>
      signVeto({ approverId: id, requestDigest: digest, vetoedAtMs: T0 + HOUR }, signer);
    const digest = requestDigest(request);
    denied(evaluate(p, request, context({ approvals, vetoes: [veto('carol', digest)] })), 'vetoed');
    const forged = veto('dave', digest, key('mallory'));
    const foreign = veto('carol', requestDigest(transfer({ requestId: 'other' })));
    expect(evaluate(p, request, context({ approvals, vetoes: [forged, foreign] })).outcome).toBe('delayed');
  });

  it('a first-time destination is delayed; a known one is not', () => {
    const p = policy({ delays: { largeDelayMs: 0, firstTimeDestinationDelayMs: 2 * HOUR } });
    const request = transfer({});
    const approvals = [approve('bob', request)];
    expect(evaluate(p, request, context({ approvals })).outcome).toBe('allow');
    const first = evaluate(p, request, context({ approvals, knownDestinations: [] }));
    expect(first.outcome).toBe('delayed');
    expect(first.delay?.delayedUntilMs).toBe(T0 + 2 * HOUR);
    const unknown = context({ approvals });
    delete unknown.knownDestinations;
    expect(evaluate(p, request, unknown).outcome).toBe('delayed');
  });

  it('refuses an address-book entry inside its cool-off', () => {
    const request = transfer({ to: ADDRESS.fresh });
    denied(
      evaluate(policy(), request, context({ approvals: [approve('bob', request)] })),
      'address-book-cool-off',
    );
    const afterMs = T0 + 23 * HOUR;
    const later = transfer({ to: ADDRESS.fresh, submittedAtMs: afterMs });
    const ctx = context({
      nowMs: afterMs + 1000,
      approvals: [approve('bob', later, { approvedAtMs: afterMs })],
      priceSnapshot: snapshot({ asOfMs: afterMs }),
    });
    ctx.history = { completeFromMs: 0, completeToMs: afterMs + 1000, receipts: [] };
    expect(evaluate(policy(), later, ctx).outcome).toBe('allow');
  });

  const sanctionedEntry = {
    id: 'sanctioned',
    name: 'listed, later sanctioned',
    chain: 'evm',
    network: 'eip155:1',
    tier: 'hot',
    address: ADDRESS.sanctioned.toUpperCase().replace('0X', '0x'),
    addedAtMs: 0,
    coolOffMs: 0,
  };

  it('screening: a denylisted destination is denied even from the address book (any case)', () => {
    const p = policy({ addressBook: [...(policyWire().addressBook as unknown[]), sanctionedEntry] });
    const request = transfer({ to: ADDRESS.sanctioned });
    denied(evaluate(p, request, context({ approvals: [approve('bob', request)] })), 'screening-denylist');
  });

  it('screening fails closed: hook error, timeout or missing result denies; a hook hit denies', () => {
    const p = policy({
      screening: { denylist: [], hook: { url: 'http://127.0.0.1:9/screen', timeoutMs: 500 } },
    });
    const request = transfer({});
    const approvals = [approve('bob', request)];
    expect(evaluate(p, request, context({ approvals })).outcome).toBe('allow');
    denied(
      evaluate(p, request, context({ approvals, screening: { status: 'timeout' } })),
      'screening-unavailable',
    );
    denied(
      evaluate(p, request, context({ approvals, screening: { status: 'error', detail: '502' } })),
      'screening-unavailable',
    );
    const missing = context({ approvals });
    delete missing.screening;
    denied(evaluate(p, request, missing), 'screening-unavailable');
    denied(
      evaluate(p, request, context({ approvals, screening: { status: 'hit', detail: 'OFAC' } })),
      'screening-hit',
    );
  });

  const raw = (wallet: string): RawDigestRequest => ({
    kind: 'raw-digest',
    wallet,
    operator: 'treasury',
    submittedAtMs: T0,
    requestId: 'raw-1',
    digest: new Uint8Array(32).fill(7),
  });

  it('raw digest signing is denied by default, even under an allow-everything rule', () => {
    denied(evaluate(permissive(), raw('hot-eth'), context()), 'raw-digest-not-allowed');
  });

  it('raw digest signing is allowed only for the wallet a rule names', () => {
    const p = policy({
      rules: [{ id: 'raw-hot', rawDigest: true, when: { wallets: ['hot-eth'] }, effect: { type: 'allow' } }],
    });
    expect(evaluate(p, raw('hot-eth'), context()).outcome).toBe('allow');
    denied(evaluate(p, raw('hot-eth-2'), context()), 'raw-digest-not-allowed');
    // The raw-digest permission does not double as a transfer permission.
    denied(evaluate(p, transfer({}), context()), 'no-rule-allows');
  });
});

describe('determinism', () => {
  it('same inputs give byte-identical decision JSON, whatever the order of approvals', () => {
    const request = transfer({ amount: 5n * ETH + 1n });
    const approvals = [
      approve('dave', request),
      approve('carol', request),
      approve('bob', request),
      approve('bob', transfer({ requestId: 'x' })),
    ];
    const first = JSON.stringify(evaluate(policy(), request, context({ approvals })));
    const again = JSON.stringify(
      evaluate(
        policy(),
        transfer({ amount: 5n * ETH + 1n }),
        context({ approvals: [...approvals].reverse() }),
      ),
    );
    expect(again).toBe(first);
    expect(JSON.parse(first).outcome).toBe('allow');
  });

  it('the decision names the policy version and digest it was made under', () => {
    const decision = evaluate(policy(), transfer({}), context());
    expect(decision.policyVersion).toBe(1);
    expect(decision.policyDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(KEYS.alice.publicKey).toMatch(/^[0-9a-f]{64}$/);
  });
});
