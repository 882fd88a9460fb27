// Policy evaluation benchmark (issue 6): a realistic policy built here with parsePolicy (55 rules,
// three tiers, 20 address-book entries, three quorum bands, three limits with a day of receipts),
// measured on one thread of this process:
//   - throughput: evaluations per second of one request, re-evaluated as a node does while approvals
//     arrive (its approvals' and price snapshot's Ed25519 verifications are then remembered by
//     @coffer/policy, with every signed field and the signer key);
//   - added latency per signing request: what a node computes for a new request carrying two fresh
//     approvals (decode approvals and price snapshot from JSON, request digest, evaluate — which
//     verifies both approval signatures for the first time), p50 / p99 over many distinct requests.
// The policy package is imported through its source entry files (the files @coffer/policy's exports
// map names), because @coffer/scripts does not list @coffer/policy as a dependency.
import { performance } from 'node:perf_hooks';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { type Approval, signApproval } from '../../policy/src/approvals.ts';
import { type PolicyDocument, parsePolicy } from '../../policy/src/document.ts';
import { type Decision, type EvaluationContext, evaluate, type Receipt } from '../../policy/src/evaluate.ts';
import { SigningKey } from '../../policy/src/keys.ts';
import { type PriceSnapshot, signPriceSnapshot } from '../../policy/src/price.ts';
import { requestDigest, type TransferRequest } from '../../policy/src/request.ts';
import { approvalFromWire, priceSnapshotFromWire } from '../../policy/src/wire.ts';
import {
  type LatencySummary,
  latencySummary,
  positiveSeconds,
  ratePerSecond,
  type TargetRecord,
  targetRecord,
} from './latency.ts';
import { positiveInt } from './stats.ts';
import { log } from './timing.ts';

type TransferIntent = TransferRequest['intent'];

export type PolicySettings = {
  /** Distinct requests (each with two freshly signed approvals) for the latency figures (BENCH_POLICY_REQUESTS). */
  requests: number;
  /** Length of each throughput run in seconds (BENCH_POLICY_SECONDS). */
  seconds: number;
};

export function policySettings(env: NodeJS.ProcessEnv): PolicySettings {
  return {
    requests: positiveInt(env.BENCH_POLICY_REQUESTS, 2000, 'BENCH_POLICY_REQUESTS'),
    seconds: positiveSeconds(env.BENCH_POLICY_SECONDS, 5, 'BENCH_POLICY_SECONDS'),
  };
}

export const POLICY_TARGETS = { evaluationsPerSecond: 20_000, addedLatencyP50Ms: 2 } as const;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Wednesday 2026-11-18 12:00:00 UTC: inside business hours, so the time-window deny rules do not match. */
const T0 = Date.UTC(2026, 10, 18, 12, 0, 0);
const NETWORK = 'eip155:1';
const ETH = 10n ** 18n;
const USDC = '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48';
const ETH_KEY = `evm:${NETWORK}:native`;
const USDC_KEY = `evm:${NETWORK}:${USDC}`;
const ENTRIES = 20;

/** Deterministic keys from labels: every run builds the same policy (and the same policy digest). */
const key = (label: string): SigningKey => SigningKey.generate(sha256(utf8ToBytes(`coffer-bench/${label}`)));
const address = (prefix: number, i: number): string =>
  `0x${prefix.toString(16).padStart(2, '0')}${i.toString(16).padStart(38, '0')}`;
const entryId = (i: number) => `ab-${String(i).padStart(2, '0')}`;

const OFFICERS = ['alice', 'bob', 'carol', 'erin', 'frank'] as const;
const SECURITY = ['grace', 'heidi'] as const;
const KEYS: Record<string, SigningKey> = Object.fromEntries(
  [...OFFICERS, ...SECURITY, 'dave', 'oracle'].map((id) => [id, key(id)]),
);

const WALLETS = [
  { id: 'cold-1', tier: 'cold' },
  { id: 'cold-2', tier: 'cold' },
  { id: 'warm-1', tier: 'warm' },
  { id: 'warm-2', tier: 'warm' },
  { id: 'hot-1', tier: 'hot' },
  { id: 'hot-2', tier: 'hot' },
  { id: 'hot-3', tier: 'hot' },
].map((w, i) => ({ ...w, chain: 'evm', network: NETWORK, address: address(0x10, i + 1) }));

const approvers = (ids: readonly string[]) => ids.map((id) => ({ id, publicKey: KEYS[id]!.publicKey }));

/** The benchmark policy in wire form, as a policy admin would write it. */
export function benchPolicyWire(): Record<string, unknown> {
  const entries = Array.from({ length: ENTRIES }, (_, k) => k + 1);
  const businessHours = [{ days: [1, 2, 3, 4, 5], fromMinute: 6 * 60, toMinute: 22 * 60 }];
  const rules: Record<string, unknown>[] = [
    // Explicit denials first (order does not change the outcome: any matching deny wins).
    {
      id: 'deny-weekend-large',
      description: 'no transfer above 500 000 USD on weekends',
      when: { minReference: '50000000', timeWindows: [{ days: [0, 6], fromMinute: 0, toMinute: 1440 }] },
      effect: { type: 'deny' },
    },
    {
      id: 'deny-hot-night-large',
      when: {
        tiers: ['hot'],
        minReference: '10000000',
        timeWindows: [{ days: [0, 1, 2, 3, 4, 5, 6], fromMinute: 0, toMinute: 6 * 60 }],
      },
      effect: { type: 'deny' },
    },
    { id: 'deny-hot-huge', when: { tiers: ['hot'], minReference: '200000000' }, effect: { type: 'deny' } },
    {
      id: 'deny-desk2-large',
      when: { operators: ['desk-2'], minReference: '5000000' },
      effect: { type: 'deny' },
    },
    { id: 'deny-usdc-cold-direct', when: { tiers: ['cold'], assets: [USDC_KEY] }, effect: { type: 'deny' } },
    {
      id: 'deny-eth-dust',
      description: 'refuse transfers below 0.001 ETH',
      when: { assets: [ETH_KEY], maxBaseUnits: (ETH / 1000n - 1n).toString() },
      effect: { type: 'deny' },
    },
    // One allow rule per counterparty, with its own cap and operators.
    ...entries.map((i) => ({
      id: `allow-${entryId(i)}`,
      when: {
        tiers: ['hot'],
        destination: { kind: 'address-book', entries: [entryId(i)] },
        maxReference: String(5_000_000 + i * 1_000_000),
        operators: ['otc', 'treasury', 'desk-2'],
        timeWindows: businessHours,
      },
      effect: { type: 'allow' },
    })),
    // Per-counterparty extra controls: security sign-off or a delay above a per-entry amount.
    ...entries.map((i) =>
      i % 2 === 0
        ? {
            id: `security-${entryId(i)}`,
            when: {
              destination: { kind: 'address-book', entries: [entryId(i)] },
              minReference: String(4_000_000 + i * 1_000_000),
            },
            effect: { type: 'require-approvals', approvals: { group: 'security', count: 1 } },
          }
        : {
            id: `delay-${entryId(i)}`,
            when: {
              destination: { kind: 'address-book', entries: [entryId(i)] },
              minReference: String(4_000_000 + i * 1_000_000),
            },
            effect: { type: 'require-delay', delayMs: 2 * HOUR },
          },
    ),
    // Internal moves along the tier routes.
    {
      id: 'allow-cold-to-warm',
      when: { tiers: ['cold'], destination: { kind: 'wallet', tiers: ['warm'] } },
      effect: { type: 'allow' },
    },
    {
      id: 'allow-warm-to-hot',
      when: { tiers: ['warm'], destination: { kind: 'wallet', tiers: ['hot'] } },
      effect: { type: 'allow' },
    },
    {
      id: 'allow-warm-to-cold',
      when: { tiers: ['warm'], destination: { kind: 'wallet', tiers: ['cold'] } },
      effect: { type: 'allow' },
    },
    {
      id: 'cold-needs-cfo-and-security',
      when: { tiers: ['cold'] },
      effect: {
        type: 'require-approvals',
        approvals: {
          all: [
            { group: 'cfo', count: 1 },
            { group: 'security', count: 1 },
          ],
        },
      },
    },
    { id: 'cold-delay', when: { tiers: ['cold'] }, effect: { type: 'require-delay', delayMs: DAY } },
    {
      id: 'warm-large-needs-cfo',
      when: { tiers: ['warm'], minReference: '50000000' },
      effect: { type: 'require-approvals', approvals: { group: 'cfo', count: 1 } },
    },
    {
      id: 'usdc-any-two-officers-or-cfo',
      when: { assets: [USDC_KEY], minReference: '1000000' },
      effect: {
        type: 'require-approvals',
        approvals: {
          any: [
            { group: 'officers', count: 2 },
            { group: 'cfo', count: 1 },
          ],
        },
      },
    },
    {
      id: 'treasury-after-hours-delay',
      when: {
        operators: ['treasury'],
        timeWindows: [{ days: [1, 2, 3, 4, 5], fromMinute: 22 * 60, toMinute: 1440 }],
      },
      effect: { type: 'require-delay', delayMs: 4 * HOUR },
    },
    {
      id: 'raw-digest-hot-3',
      description: 'message signing for the exchange integration wallet',
      rawDigest: true,
      when: { wallets: ['hot-3'] },
      effect: { type: 'allow' },
    },
  ];
  return {
    format: 'coffer-policy/1',
    version: 7,
    activatesAtMs: T0 - 30 * DAY,
    reference: { currency: 'USD', decimals: 2 },
    pricing: { signers: [{ id: 'oracle', publicKey: KEYS.oracle!.publicKey }], maxAgeMs: HOUR },
    approvals: { maxTtlMs: DAY },
    wallets: WALLETS,
    addressBook: entries.map((i) => ({
      id: entryId(i),
      name: `Counterparty ${i}`,
      chain: 'evm',
      network: NETWORK,
      tier: 'hot',
      address: address(0xab, i),
      addedAtMs: T0 - 60 * DAY + i * HOUR,
      coolOffMs: DAY,
    })),
    approverGroups: [
      { id: 'officers', approvers: approvers(OFFICERS) },
      { id: 'cfo', approvers: approvers(['dave']) },
      { id: 'security', approvers: approvers(SECURITY) },
    ],
    operators: [
      { id: 'otc', roles: ['maker'], tiers: ['hot'] },
      { id: 'desk-2', roles: ['maker'], wallets: ['hot-2'] },
      { id: 'treasury', roles: ['maker'] },
      { id: 'alice', roles: ['maker', 'approver'] },
      { id: 'auditor', roles: ['auditor'] },
    ],
    rules,
    quorum: [
      // 10 000.00 USD = 1 000 000 cents; 1 000 000.00 USD = 100 000 000 cents.
      { id: 'small', upToReference: '1000000', approvals: { group: 'officers', count: 1 } },
      { id: 'medium', upToReference: '100000000', approvals: { group: 'officers', count: 2 } },
      {
        id: 'large',
        approvals: {
          all: [
            { group: 'officers', count: 3 },
            { group: 'cfo', count: 1 },
          ],
        },
        delayMs: DAY,
      },
    ],
    limits: [
      {
        id: 'operator-daily',
        scope: 'operator',
        windowMs: DAY,
        operators: ['otc', 'treasury', 'desk-2'],
        maxReference: '500000000',
      },
      { id: 'wallet-daily-count', scope: 'wallet', windowMs: DAY, maxCount: 1000 },
      {
        id: 'hot-pooled-daily',
        scope: 'pooled',
        windowMs: DAY,
        wallets: ['hot-1', 'hot-2', 'hot-3'],
        maxReference: '2000000000',
      },
    ],
    delays: { largeReference: '100000000', largeDelayMs: 6 * HOUR, firstTimeDestinationDelayMs: HOUR },
    screening: { denylist: Array.from({ length: 20 }, (_, i) => address(0xde, i + 1)) },
  };
}

const NOW = T0 + 2 * 60_000;
/** The request under test: hot-1 → counterparty 10, 10 ETH = 20 000.00 USD: quorum band "medium" (two officers). */
const DESTINATION = address(0xab, 10);
const AMOUNT = 10n * ETH;

function transfer(requestId: string): TransferRequest {
  const intent: TransferIntent = {
    chain: 'evm',
    network: NETWORK,
    asset: { kind: 'native', symbol: 'ETH', decimals: 18 },
    from: WALLETS[4]!.address,
    to: DESTINATION,
    amount: AMOUNT,
    fee: 21_000n * 30_000_000_000n,
  };
  // Stand-in for the unsigned EVM transaction bytes (the digest commits to them, whatever they are).
  const unsignedTransaction = sha256(utf8ToBytes(`bench ${requestId}`));
  return {
    kind: 'transfer',
    wallet: 'hot-1',
    operator: 'otc',
    submittedAtMs: T0,
    requestId,
    unsignedTransaction,
    intent,
  };
}

function snapshot(): PriceSnapshot {
  return signPriceSnapshot(
    {
      currency: 'USD',
      asOfMs: T0 - 60_000,
      signer: 'oracle',
      prices: [
        { asset: ETH_KEY, unitPrice: '2000' },
        { asset: USDC_KEY, unitPrice: '1' },
      ],
    },
    KEYS.oracle!,
  );
}

/** 200 completed transfers over the last day, so every limit sums a real window. */
function history(): EvaluationContext['history'] {
  const receipts: Receipt[] = Array.from({ length: 200 }, (_, i) => ({
    requestDigest: sha256(utf8ToBytes(`receipt ${i}`)).reduce(
      (s, b) => s + b.toString(16).padStart(2, '0'),
      '',
    ),
    wallet: `hot-${(i % 3) + 1}`,
    operator: i % 4 === 0 ? 'treasury' : 'otc',
    asset: ETH_KEY,
    to: address(0xab, (i % ENTRIES) + 1),
    amount: ETH / 10n,
    referenceValue: 20_000n,
    completedAtMs: NOW - DAY + 1 + i * 400_000,
  }));
  return { completeFromMs: NOW - 2 * DAY, completeToMs: NOW, receipts };
}

function approvalsFor(digest: string): Approval[] {
  return (['bob', 'carol'] as const).map((id) =>
    signApproval(
      { approverId: id, requestDigest: digest, approvedAtMs: T0 + 60_000, expiresAtMs: T0 + HOUR },
      KEYS[id]!,
    ),
  );
}

function context(policySnapshot: PriceSnapshot, approvals: Approval[]): EvaluationContext {
  return {
    nowMs: NOW,
    approvals,
    priceSnapshot: policySnapshot,
    history: history(),
    screening: { status: 'clear' },
    knownDestinations: Array.from({ length: ENTRIES }, (_, i) => address(0xab, i + 1)),
  };
}

function expectOutcome(decision: Decision, outcome: Decision['outcome'], what: string): void {
  if (decision.outcome !== outcome)
    throw new Error(
      `${what}: expected ${outcome}, got ${decision.outcome} (${decision.reasons.map((r) => r.code).join(', ')})`,
    );
}

/** Runs `fn` back to back for `seconds`; returns calls per second. */
function sustained(seconds: number, fn: () => void): { calls: number; seconds: number; perSecond: number } {
  const started = performance.now();
  const stopAt = started + seconds * 1000;
  let calls = 0;
  // Check the clock every 64 calls so reading it does not dominate a sub-microsecond loop.
  while (performance.now() < stopAt) for (let k = 0; k < 64; k++, calls++) fn();
  const elapsed = performance.now() - started;
  return { calls, seconds: Math.round(elapsed) / 1000, perSecond: Math.round(ratePerSecond(calls, elapsed)) };
}

export const POLICY_INCLUDES = {
  policy:
    'Built in the bench with parsePolicy (@coffer/policy/document): 7 wallets in 3 tiers (cold, warm, hot), 20 address-book entries, 3 approver groups (8 approvers), 5 operators, 55 rules (6 deny; 20 per-counterparty allow rules with caps, operators and business hours; 20 per-counterparty require-approvals / require-delay rules; 9 internal-move, cold-tier, token, after-hours and raw-digest rules), 3 quorum bands by reference value, 3 limits (operator, wallet, pooled; one day) over 200 receipts in the window, 20 denylisted addresses, large and first-time delays.',
  request:
    'A transfer of 10 ETH (20 000.00 USD at the signed snapshot price) from hot wallet hot-1 to address-book entry ab-10 by operator otc, in business hours: quorum band "medium" needs two officers; with the approvals of bob and carol the outcome is allow (checked for every timed call).',
  throughput:
    "evaluationsPerSecond: evaluate(policy, request, context) called back to back on one thread for `seconds` — the same request and its two approvals, as when a node re-evaluates a request; each call recomputes the request digest (SHA-256 by Node's OpenSSL), walks every rule, sums every limit window over all 200 receipts and checks both approvals (digest, initiator, validity interval, lifetime). The Ed25519 verifications of the approvals and of the price snapshot are remembered by @coffer/policy after the first call, keyed by the signature with every signed field and the signer key (a hit needs them all equal); the lookups of the policy document (wallets, address book, groups, keys, denylist, limit operator/wallet sets) are indexed once per parsed document. submissionPerSecond: the same request with no approvals yet (outcome needs-approvals), as evaluated when it is submitted.",
  addedLatency:
    "Per signing request, what the node adds before it lends its share, for `requests` distinct requests each with two approvals signed beforehand (never seen before, so both Ed25519 signatures are really verified): approvalFromWire ×2 and priceSnapshotFromWire on the JSON the node receives, requestDigest(request), then evaluate (which verifies both approvals with Ed25519 by OpenSSL (node:crypto), after the strict checks of @coffer/policy/keys, and the snapshot; the snapshot, shared by all requests as within its validity, is remembered after the first; the approvers' public keys are checked and imported once per key, as a node does for the keys of its active policy). Not included: decoding the unsigned transaction with @coffer/chains, the screening hook, the limit-history query to peers, database and audit-log writes.",
};

export type PolicySection = {
  includes: typeof POLICY_INCLUDES;
  settings: PolicySettings;
  policy: {
    rules: number;
    wallets: number;
    tiers: string[];
    addressBook: number;
    quorumBands: number;
    limits: number;
    receiptsInWindow: number;
  };
  throughput: {
    evaluationsPerSecond: number;
    calls: number;
    seconds: number;
    submissionPerSecond: number;
    emptyLimitWindowPerSecond: number;
  };
  addedLatency: {
    total: LatencySummary;
    decode: LatencySummary;
    requestDigest: LatencySummary;
    evaluate: LatencySummary;
  };
  targets: Record<string, TargetRecord>;
};

/** The parsed policy, the measured request, and its contexts with and without its two approvals. */
export function benchScenario(requestId = 'req-throughput') {
  const policy: PolicyDocument = parsePolicy(benchPolicyWire());
  const priceSnapshot = snapshot();
  const request = transfer(requestId);
  const approvals = approvalsFor(requestDigest(request));
  return {
    policy,
    priceSnapshot,
    request,
    full: context(priceSnapshot, approvals),
    pending: context(priceSnapshot, []),
    /** Two approvals for another request of the same shape (what the latency run feeds in). */
    approvalsFor,
    transfer,
  };
}

export function runPolicy(settings: PolicySettings): PolicySection {
  const { policy, priceSnapshot, request, full, pending } = benchScenario();
  const snapshotWire = JSON.parse(JSON.stringify(priceSnapshot)) as unknown;

  // Throughput: one request re-evaluated.
  expectOutcome(evaluate(policy, request, full), 'allow', 'throughput request with two approvals');
  expectOutcome(
    evaluate(policy, request, pending),
    'needs-approvals',
    'throughput request without approvals',
  );
  sustained(Math.min(1, settings.seconds), () => evaluate(policy, request, full)); // warm-up
  let outcome: Decision['outcome'] = 'allow';
  const withApprovals = sustained(settings.seconds, () => {
    outcome = evaluate(policy, request, full).outcome;
  });
  if (outcome !== 'allow') throw new Error(`throughput run ended with outcome ${outcome}`);
  const submission = sustained(settings.seconds, () => evaluate(policy, request, pending));
  const noReceipts = { ...full, history: { ...full.history!, receipts: [] } };
  expectOutcome(
    evaluate(policy, request, noReceipts),
    'allow',
    'throughput request with an empty limit window',
  );
  const emptyWindow = sustained(settings.seconds, () => evaluate(policy, request, noReceipts));
  log(
    `policy: ${withApprovals.perSecond} evaluations/s (two memoised approvals), ${submission.perSecond}/s on submission`,
  );

  // Added latency: distinct requests, fresh approvals, everything prepared outside the timed region.
  const warmup = Math.min(100, settings.requests);
  const prepared = Array.from({ length: warmup + settings.requests }, (_, i) => {
    const r = transfer(`req-latency-${i}`);
    return {
      request: r,
      approvalsWire: JSON.parse(JSON.stringify(approvalsFor(requestDigest(r)))) as unknown[],
    };
  });
  const total: number[] = [];
  const decode: number[] = [];
  const digestMs: number[] = [];
  const evaluateMs: number[] = [];
  for (const [i, p] of prepared.entries()) {
    const t0 = performance.now();
    const received = p.approvalsWire.map((w, k) => approvalFromWire(w, `approvals[${k}]`));
    const snap = priceSnapshotFromWire(snapshotWire);
    const t1 = performance.now();
    const digest = requestDigest(p.request);
    const t2 = performance.now();
    const decision = evaluate(policy, p.request, { ...full, approvals: received, priceSnapshot: snap });
    const t3 = performance.now();
    expectOutcome(decision, 'allow', `latency request ${i}`);
    if (decision.requestDigest !== digest) throw new Error(`latency request ${i}: digest mismatch`);
    if (i < warmup) continue;
    decode.push(t1 - t0);
    digestMs.push(t2 - t1);
    evaluateMs.push(t3 - t2);
    total.push(t3 - t0);
  }
  const addedLatency = {
    total: latencySummary(total),
    decode: latencySummary(decode),
    requestDigest: latencySummary(digestMs),
    evaluate: latencySummary(evaluateMs),
  };
  log(
    `policy: added latency per signing request p50 ${addedLatency.total.p50Ms} ms, p99 ${addedLatency.total.p99Ms} ms`,
  );

  const tiers = [...new Set(policy.wallets.map((w) => w.tier))];
  return {
    includes: POLICY_INCLUDES,
    settings,
    policy: {
      rules: policy.rules.length,
      wallets: policy.wallets.length,
      tiers,
      addressBook: policy.addressBook.length,
      quorumBands: policy.quorum.length,
      limits: policy.limits.length,
      receiptsInWindow: full.history?.receipts.length ?? 0,
    },
    throughput: {
      evaluationsPerSecond: withApprovals.perSecond,
      calls: withApprovals.calls,
      seconds: withApprovals.seconds,
      submissionPerSecond: submission.perSecond,
      emptyLimitWindowPerSecond: emptyWindow.perSecond,
    },
    addedLatency,
    targets: {
      policyEvaluationsPerSecond: targetRecord({
        what: 'policy evaluations per second on one thread (policy.throughput.evaluationsPerSecond)',
        value: withApprovals.perSecond,
        target: POLICY_TARGETS.evaluationsPerSecond,
        comparison: '>=',
        unit: 'evaluations/s',
        requires: [
          { holds: policy.rules.length >= 50, otherwise: 'policy has fewer than 50 rules' },
          {
            holds: policy.addressBook.length >= 20,
            otherwise: 'policy has fewer than 20 address-book entries',
          },
          { holds: tiers.length === 3, otherwise: 'policy does not use all three tiers' },
        ],
      }),
      policyAddedLatencyP50: targetRecord({
        what: 'added latency per signing request at p50: decode + request digest + evaluate with two fresh approvals (policy.addedLatency.total.p50Ms)',
        value: addedLatency.total.p50Ms,
        target: POLICY_TARGETS.addedLatencyP50Ms,
        comparison: '<=',
        unit: 'ms',
      }),
    },
  };
}
