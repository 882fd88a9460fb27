// Pure policy evaluation: (policy, request, context) → Decision. No clock, no I/O: the node passes the
// time, approvals, receipts, prices and screening result in. Same inputs, byte-identical decision.
//
// Order (each step can only add denials; nothing later can undo one):
//   1. operator role and API-key scope      5. rules (explicit deny wins; nothing allowed → deny)
//   2. wallet and intent agree              6. quorum band by amount → required approvals
//   3. tier route / address book / cool-off 7. limits over rolling windows (history must be complete)
//   4. screening (fail closed)              8. delays (large, first-time destination, band, rules)
import type { Chain } from '@coffer/chains/intent';
import { type Approval, type Veto, verifyApproval, verifyVeto } from './approvals.ts';
import {
  type AddressBookEntry,
  type AssetKey,
  assetKey,
  type Limit,
  type PolicyDocument,
  policyDigest,
  type QuorumBand,
  type Requirement,
  type Rule,
  type Tier,
  type Wallet,
} from './document.ts';
import { addressKey, type IndexedRule, type PolicyIndex, policyIndex } from './lookup.ts';
import { type PriceSnapshot, referenceValue, verifyPriceSnapshot } from './price.ts';
import { type PolicyRequest, requestDigest } from './request.ts';

/** A completed signature, from the receipts the signer nodes exchange (DESIGN §1 step 5). */
export interface Receipt {
  requestDigest: string;
  wallet: string;
  operator: string;
  asset: AssetKey;
  to: string;
  amount: bigint;
  /** Reference minor units at completion; needed by reference-valued limits. */
  referenceValue?: bigint;
  completedAtMs: number;
}

/** Receipts the node holds, and the interval for which it knows it holds all of them. */
export interface LimitHistory {
  completeFromMs: number;
  completeToMs: number;
  receipts: Receipt[];
}

export type ScreeningResult =
  | { status: 'clear' }
  | { status: 'hit'; detail: string }
  | { status: 'error'; detail: string }
  | { status: 'timeout' };

export interface EvaluationContext {
  nowMs: number;
  approvals: Approval[];
  /** Absent: the node cannot establish any history (every applicable limit denies). */
  history?: LimitHistory;
  priceSnapshot?: PriceSnapshot;
  /** Result of the HTTP screening hook; required when the policy configures one. */
  screening?: ScreeningResult;
  /** Destinations that received a completed transfer; absent means unknown, so every one is first-time. */
  knownDestinations?: string[];
  /** Signed cancellations; one valid veto by any approver denies the request. */
  vetoes?: Veto[];
}

export type Outcome = 'allow' | 'deny' | 'needs-approvals' | 'delayed';

export interface DecisionReason {
  code: string;
  detail: string;
}

export interface Decision {
  outcome: Outcome;
  policyVersion: number;
  policyDigest: string;
  requestDigest: string;
  evaluatedAtMs: number;
  reasons: DecisionReason[];
  delay?: { delayedUntilMs: number; vetoWindow: { fromMs: number; toMs: number } };
  trace: Trace;
}

export interface Trace {
  route?: { from: Tier; to: string; allowed: boolean };
  screening?: string;
  referenceValue?: string;
  rulesMatched: { id: string; effect: string }[];
  quorum?: {
    band?: string;
    required: Requirement[];
    satisfied: boolean;
    counted: string[];
    rejected: { approverId: string; reason: string; detail: string }[];
  };
  limits: {
    id: string;
    windowMs: number;
    subject: string;
    usedCount: number;
    usedBaseUnits: string;
    usedReference?: string;
    afterThisRequest: { count: number; baseUnits: string; reference?: string };
    ok: boolean;
  }[];
  delays: { source: string; delayMs: number }[];
}

function sameAddress(chain: Chain, a: string, b: string): boolean {
  return addressKey(chain, a) === addressKey(chain, b);
}

/** Tier routes are one-way whitelists (DESIGN §5): cold → warm; warm → hot or cold; hot → external. */
const ROUTES: Record<Tier, readonly ('cold' | 'warm' | 'hot' | 'external')[]> = {
  cold: ['warm'],
  warm: ['hot', 'cold'],
  hot: ['external'],
};

type Destination =
  | { kind: 'wallet'; wallet: Wallet }
  | { kind: 'address-book'; entry: AddressBookEntry }
  | { kind: 'unknown'; address: string };

class Evaluation {
  readonly reasons: DecisionReason[] = [];
  readonly trace: Trace = { rulesMatched: [], limits: [], delays: [] };
  value: bigint | undefined;
  valueError: string | undefined;
  readonly index: PolicyIndex;
  /** UTC day of week (Sunday = 0) and minute of day of `request.submittedAtMs`, for rule time windows. */
  readonly submittedDay: number;
  readonly submittedMinute: number;

  constructor(
    readonly policy: PolicyDocument,
    readonly request: PolicyRequest,
    readonly context: EvaluationContext,
  ) {
    this.index = policyIndex(policy);
    const date = new Date(request.submittedAtMs);
    this.submittedDay = date.getUTCDay();
    this.submittedMinute = date.getUTCHours() * 60 + date.getUTCMinutes();
  }

  deny(code: string, detail: string): void {
    this.reasons.push({ code, detail });
  }

  /** The transfer's reference value, or undefined after recording why it cannot be established. */
  referenceValue(): bigint | undefined {
    if (this.value !== undefined) return this.value;
    if (this.valueError === undefined) this.valueError = 'no reference value for this request';
    return undefined;
  }
}

function destinationOf(index: PolicyIndex, wallet: Wallet, to: string): Destination {
  const target = index.walletAt(wallet.chain, wallet.network, to);
  if (target !== undefined) return { kind: 'wallet', wallet: target };
  const entry = index.entryAt(wallet.chain, wallet.network, wallet.tier, to);
  if (entry !== undefined) return { kind: 'address-book', entry };
  return { kind: 'unknown', address: to };
}

function checkRoute(e: Evaluation, wallet: Wallet, destination: Destination): void {
  const to = destination.kind === 'wallet' ? destination.wallet.tier : 'external';
  const label =
    destination.kind === 'wallet'
      ? `${destination.wallet.tier} wallet ${destination.wallet.id}`
      : destination.kind === 'address-book'
        ? `address-book entry ${destination.entry.id}`
        : `unknown address ${destination.address}`;
  const allowed = ROUTES[wallet.tier].includes(to) && destination.kind !== 'unknown';
  e.trace.route = { from: wallet.tier, to: label, allowed };
  if (!ROUTES[wallet.tier].includes(to)) {
    e.deny('tier-route', `${wallet.tier} wallet ${wallet.id} may not send to ${label}`);
  } else if (destination.kind === 'unknown') {
    e.deny(
      'not-in-address-book',
      `${destination.address} is not an address-book entry for ${wallet.tier} wallets`,
    );
  }
  if (destination.kind === 'address-book') {
    const usableAtMs = destination.entry.addedAtMs + destination.entry.coolOffMs;
    if (e.request.submittedAtMs < usableAtMs) {
      e.deny('address-book-cool-off', `entry ${destination.entry.id} is usable from ${usableAtMs}`);
    }
  }
}

function checkScreening(e: Evaluation, chain: Chain, to: string): void {
  const { screening } = e.policy;
  if (e.index.denylisted(chain, to)) {
    e.trace.screening = 'denylist-hit';
    e.deny('screening-denylist', `${to} is on the local denylist`);
    return;
  }
  const result = e.context.screening;
  if (result?.status === 'hit') {
    e.trace.screening = 'hook-hit';
    e.deny('screening-hit', result.detail);
    return;
  }
  if (screening.hook === undefined) {
    e.trace.screening = 'denylist-clear';
    return;
  }
  if (result === undefined || result.status !== 'clear') {
    const status = result === undefined ? 'missing' : result.status;
    e.trace.screening = `hook-${status}`;
    e.deny('screening-unavailable', `screening hook result is ${status}; failing closed`);
    return;
  }
  e.trace.screening = 'clear';
}

function inTimeWindows(e: Evaluation, rule: Rule): boolean {
  const windows = rule.when.timeWindows;
  if (windows === undefined) return true;
  const day = e.submittedDay;
  const minute = e.submittedMinute;
  return windows.some((w) => w.days.includes(day) && minute >= w.fromMinute && minute < w.toMinute);
}

function ruleMatches(
  e: Evaluation,
  { rule, intentConditions }: IndexedRule,
  wallet: Wallet,
  destination: Destination | undefined,
): boolean {
  const c = rule.when;
  const { request } = e;
  if (c.tiers !== undefined && !c.tiers.includes(wallet.tier)) return false;
  if (c.wallets !== undefined && !c.wallets.includes(wallet.id)) return false;
  if (c.operators !== undefined && !c.operators.includes(request.operator)) return false;
  // Conditions are a conjunction: their order changes no result, only how soon a rule is ruled out.
  // The reference-value test stays last (it records why a value is missing).
  if (request.kind === 'raw-digest') {
    // A raw digest has no decoded intent: only rules without intent conditions can speak about it, and
    // only an allow rule that says rawDigest for this wallet can allow it.
    if (intentConditions || !inTimeWindows(e, rule)) return false;
    return rule.effect.type !== 'allow' || rule.rawDigest === true;
  }
  if (rule.rawDigest === true) return false;
  const { intent } = request;
  if (c.chains !== undefined && !c.chains.includes(intent.chain)) return false;
  if (
    c.assets !== undefined &&
    !c.assets.includes(assetKey(intent.chain, intent.network, intent.asset.contract))
  ) {
    return false;
  }
  if (c.destination !== undefined && destination !== undefined) {
    const d = c.destination;
    if (d.kind === 'address-book') {
      if (destination.kind !== 'address-book') return false;
      if (d.entries !== undefined && !d.entries.includes(destination.entry.id)) return false;
    } else if (d.kind === 'wallet') {
      if (destination.kind !== 'wallet') return false;
      if (d.tiers !== undefined && !d.tiers.includes(destination.wallet.tier)) return false;
    }
  }
  if (c.minBaseUnits !== undefined && intent.amount < c.minBaseUnits) return false;
  if (c.maxBaseUnits !== undefined && intent.amount > c.maxBaseUnits) return false;
  if (!inTimeWindows(e, rule)) return false;
  if (c.minReference !== undefined || c.maxReference !== undefined) {
    const value = e.referenceValue();
    // Unknown value: a deny rule still matches (fail closed); an allow rule does not.
    if (value === undefined) return rule.effect.type === 'deny';
    if (c.minReference !== undefined && value < c.minReference) return false;
    if (c.maxReference !== undefined && value > c.maxReference) return false;
  }
  return true;
}

function bandApplies(band: QuorumBand, asset: AssetKey, amount: bigint, value: bigint | undefined): boolean {
  if (band.asset !== undefined && band.asset !== asset) return false;
  if (band.upToBaseUnits !== undefined && amount > band.upToBaseUnits) return false;
  if (band.upToReference !== undefined && (value === undefined || value > band.upToReference)) return false;
  return true;
}

function satisfied(index: PolicyIndex, requirement: Requirement, approvers: ReadonlySet<string>): boolean {
  if ('group' in requirement) {
    const group = index.groups.get(requirement.group);
    if (group === undefined) return false;
    return group.approvers.filter((a) => approvers.has(a.id)).length >= requirement.count;
  }
  if ('all' in requirement) return requirement.all.every((r) => satisfied(index, r, approvers));
  return requirement.any.some((r) => satisfied(index, r, approvers));
}

function limitApplies(limit: Limit, wallet: string, operator: string, asset: AssetKey | undefined): boolean {
  if (limit.operators !== undefined && !limit.operators.includes(operator)) return false;
  if (limit.wallets !== undefined && !limit.wallets.includes(wallet)) return false;
  if (limit.asset !== undefined && limit.asset !== asset) return false;
  return true;
}

/** Receipts per bucket of `digestBucket`, reset to zero after each use (evaluation is synchronous). */
const bucketCounts = new Uint8Array(1 << 15);
/** Scratch: each receipt's bucket, so a digest's characters are read once per evaluation. */
let receiptBuckets = new Uint16Array(256);

/** Five bits of each of three characters: a cheap pre-filter before exact comparison, never a verdict. */
function digestBucket(digest: string): number {
  // Receipts are typed, but evaluation never throws on what it is given.
  if (typeof digest !== 'string' || digest.length === 0) return 0;
  const n = digest.length;
  return (
    ((digest.charCodeAt(0) & 31) << 10) |
    ((digest.charCodeAt(n >> 1) & 31) << 5) |
    (digest.charCodeAt(n - 1) & 31)
  );
}

/**
 * The request digests that more than one receipt carries (each node of a signing subset delivers its own
 * receipt of the same request). Only receipts with one of these need the per-limit de-duplication set;
 * any other receipt is counted directly. Only digests that share a bucket are compared exactly.
 * Computed on every evaluation from the receipts given.
 */
function repeatedDigests(receipts: readonly Receipt[]): ReadonlySet<string> {
  if (receiptBuckets.length < receipts.length) receiptBuckets = new Uint16Array(receipts.length * 2);
  const buckets = receiptBuckets;
  for (let i = 0; i < receipts.length; i++) {
    const bucket = digestBucket(receipts[i]!.requestDigest);
    buckets[i] = bucket;
    if (bucketCounts[bucket]! < 2) bucketCounts[bucket]! += 1;
  }
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (let i = 0; i < receipts.length; i++) {
    if (bucketCounts[buckets[i]!]! < 2) continue;
    const digest = receipts[i]!.requestDigest;
    if (seen.has(digest)) repeated.add(digest);
    else seen.add(digest);
  }
  for (let i = 0; i < receipts.length; i++) bucketCounts[buckets[i]!] = 0;
  return repeated;
}

function checkLimits(e: Evaluation, wallet: Wallet, asset: AssetKey, amount: bigint): void {
  const { request, context } = e;
  const nowMs = context.nowMs;
  let repeated: ReadonlySet<string> | undefined;
  const { limits } = e.policy;
  for (let l = 0; l < limits.length; l++) {
    const limit = limits[l]!;
    if (!limitApplies(limit, wallet.id, request.operator, asset)) continue;
    const subject =
      limit.scope === 'operator'
        ? `operator ${request.operator}`
        : limit.scope === 'wallet'
          ? `wallet ${wallet.id}`
          : 'pooled';
    const history = context.history;
    const windowStartMs = nowMs - limit.windowMs;
    if (history === undefined || history.completeFromMs > windowStartMs || history.completeToMs < nowMs) {
      e.deny(
        'limit-history-unknown',
        `cannot establish history for limit ${limit.id} (${subject}) over its window`,
      );
      continue;
    }
    const { receipts } = history;
    repeated ??= repeatedDigests(receipts);
    let seen: Set<string> | undefined;
    const sumBase = limit.asset !== undefined;
    const sumReference = limit.maxReference !== undefined;
    let count = 0;
    let base = 0n;
    let reference: bigint | undefined = 0n;
    // The same conditions as limitApplies and the scope, read once per limit rather than per receipt.
    const operator = limit.scope === 'operator' ? request.operator : undefined;
    const walletId = limit.scope === 'wallet' ? wallet.id : undefined;
    const { operators, wallets } = e.index.limits[l]!;
    const limitAsset = limit.asset;
    const anyRepeated = repeated.size > 0;
    for (let i = 0; i < receipts.length; i++) {
      const receipt = receipts[i]!;
      if (receipt.completedAtMs <= windowStartMs || receipt.completedAtMs > nowMs) continue;
      if (operator !== undefined && receipt.operator !== operator) continue;
      if (walletId !== undefined && receipt.wallet !== walletId) continue;
      if (operators !== undefined && !operators.has(receipt.operator)) continue;
      if (wallets !== undefined && !wallets.has(receipt.wallet)) continue;
      if (limitAsset !== undefined && receipt.asset !== limitAsset) continue;
      // Each node of the signing subset delivers the same receipt: count a request once.
      if (anyRepeated && repeated.has(receipt.requestDigest)) {
        seen ??= new Set<string>();
        if (seen.has(receipt.requestDigest)) continue;
        seen.add(receipt.requestDigest);
      }
      count += 1;
      if (sumBase) base += receipt.amount;
      // Reference sums matter only to a reference limit (and only it reports them in the trace).
      if (sumReference && reference !== undefined) {
        reference = receipt.referenceValue === undefined ? undefined : reference + receipt.referenceValue;
      }
    }
    const afterCount = count + 1;
    const afterBase = limit.asset !== undefined ? base + amount : 0n;
    let ok = true;
    let afterReference: bigint | undefined;
    if (limit.maxCount !== undefined && afterCount > limit.maxCount) ok = false;
    if (limit.maxBaseUnits !== undefined && afterBase > limit.maxBaseUnits) ok = false;
    if (limit.maxReference !== undefined) {
      const value = e.referenceValue();
      if (reference === undefined) {
        e.deny('limit-history-unknown', `a receipt in limit ${limit.id}'s window has no reference value`);
        ok = false;
      } else if (value !== undefined) {
        afterReference = reference + value;
        if (afterReference > limit.maxReference) ok = false;
      } else {
        ok = false;
      }
    }
    e.trace.limits.push({
      id: limit.id,
      windowMs: limit.windowMs,
      subject,
      usedCount: count,
      usedBaseUnits: base.toString(),
      ...(limit.maxReference !== undefined && reference !== undefined
        ? { usedReference: reference.toString() }
        : {}),
      afterThisRequest: {
        count: afterCount,
        baseUnits: afterBase.toString(),
        ...(afterReference !== undefined ? { reference: afterReference.toString() } : {}),
      },
      ok,
    });
    if (!ok) e.deny('limit-exceeded', `limit ${limit.id} (${subject}) would be exceeded`);
  }
}

function isKnownDestination(context: EvaluationContext, chain: Chain, to: string): boolean {
  const key = addressKey(chain, to);
  return context.knownDestinations?.some((d) => d === to || addressKey(chain, d) === key) ?? false;
}

/** Evaluates a request under one policy version. Never throws on request content: it denies. */
export function evaluate(
  policy: PolicyDocument,
  request: PolicyRequest,
  context: EvaluationContext,
): Decision {
  const e = new Evaluation(policy, request, context);
  const digest = requestDigest(request);

  // 1. Operator role and scope.
  const operator = e.index.operators.get(request.operator);
  const wallet = e.index.wallets.get(request.wallet);
  if (operator === undefined || !operator.roles.includes('maker')) {
    e.deny('operator', `${request.operator} is not a maker in this policy`);
  } else if (wallet !== undefined) {
    if (operator.wallets !== undefined && !operator.wallets.includes(wallet.id)) {
      e.deny('operator-scope', `${operator.id} is not scoped to wallet ${wallet.id}`);
    }
    if (operator.tiers !== undefined && !operator.tiers.includes(wallet.tier)) {
      e.deny('operator-scope', `${operator.id} is not scoped to ${wallet.tier} wallets`);
    }
  }
  if (wallet === undefined) {
    e.deny('unknown-wallet', `${request.wallet} is not a wallet in this policy`);
    return finish(e, digest);
  }

  // Reference value from a signed snapshot; a snapshot that does not verify is itself a denial.
  let destination: Destination | undefined;
  let asset: AssetKey | undefined;
  if (request.kind === 'transfer') {
    const { intent } = request;
    asset = assetKey(intent.chain, intent.network, intent.asset.contract);
    if (context.priceSnapshot !== undefined) {
      const check = verifyPriceSnapshot(policy, context.priceSnapshot, context.nowMs);
      if (!check.ok) {
        e.deny('price-snapshot', check.reason);
        e.valueError = check.reason;
      } else {
        const price = check.prices.get(asset);
        if (price === undefined) e.valueError = `the price snapshot has no price for ${asset}`;
        else e.value = referenceValue(intent.amount, intent.asset.decimals, price, policy.reference.decimals);
      }
    } else {
      e.valueError = 'no price snapshot';
    }
    if (e.value !== undefined) e.trace.referenceValue = e.value.toString();

    // 2. The decoded intent spends from this wallet, on its chain and network.
    if (
      intent.chain !== wallet.chain ||
      intent.network !== wallet.network ||
      !sameAddress(wallet.chain, intent.from, wallet.address)
    ) {
      e.deny('wallet-mismatch', `the transaction does not spend from wallet ${wallet.id} on ${wallet.chain}`);
    }
    if (intent.amount <= 0n) e.deny('invalid-amount', 'amount must be positive');
    // 3. Tier route, address book, cool-off.
    destination = destinationOf(e.index, wallet, intent.to);
    checkRoute(e, wallet, destination);
    // 4. Screening.
    checkScreening(e, intent.chain, intent.to);
  }

  // 5. Rules, in document order; the trace lists every match.
  const requirements: Requirement[] = [];
  let allowed = false;
  let denied = false;
  for (const indexed of e.index.rules) {
    if (!ruleMatches(e, indexed, wallet, destination)) continue;
    const { rule } = indexed;
    e.trace.rulesMatched.push({ id: rule.id, effect: rule.effect.type });
    if (rule.effect.type === 'deny') denied = true;
    else if (rule.effect.type === 'allow') allowed = true;
    else if (rule.effect.type === 'require-approvals') requirements.push(rule.effect.approvals);
    else e.trace.delays.push({ source: `rule ${rule.id}`, delayMs: rule.effect.delayMs });
  }
  if (denied) e.deny('rule-deny', 'an explicit deny rule matched');
  else if (!allowed) {
    e.deny(
      request.kind === 'raw-digest' ? 'raw-digest-not-allowed' : 'no-rule-allows',
      request.kind === 'raw-digest'
        ? `no rule allows raw digest signing for wallet ${wallet.id}`
        : 'no allow rule matched',
    );
  }

  // 6. Quorum band by amount.
  let band: QuorumBand | undefined;
  if (request.kind === 'transfer' && asset !== undefined) {
    const amount = request.intent.amount;
    for (const candidate of policy.quorum) {
      if (candidate.asset !== undefined && candidate.asset !== asset) continue;
      // Bands are tried in order; an unknown value must not skip a band and land in a laxer one.
      if (candidate.upToReference !== undefined && e.referenceValue() === undefined) {
        e.deny('no-reference-value', `band ${candidate.id}: ${e.valueError}`);
        break;
      }
      if (bandApplies(candidate, asset, amount, e.value)) {
        band = candidate;
        break;
      }
    }
    if (band === undefined) {
      if (e.reasons.every((r) => r.code !== 'no-reference-value')) {
        e.deny('no-quorum-band', 'no quorum band covers this amount');
      }
    } else {
      if (band.approvals !== undefined) requirements.push(band.approvals);
      if (band.delayMs !== undefined)
        e.trace.delays.push({ source: `band ${band.id}`, delayMs: band.delayMs });
    }
  }
  const valid = new Set<string>();
  const rejected: { approverId: string; reason: string; detail: string }[] = [];
  for (const approval of context.approvals) {
    const check = verifyApproval(policy, approval, {
      requestDigest: digest,
      initiator: request.operator,
      nowMs: context.nowMs,
    });
    if (check.ok) valid.add(check.approverId);
    else
      rejected.push({ approverId: String(approval?.approverId), reason: check.reason, detail: check.detail });
  }
  const vetoedBy = (context.vetoes ?? [])
    .filter((veto) => verifyVeto(policy, veto, digest))
    .map((veto) => veto.approverId)
    .sort();
  if (vetoedBy.length > 0) e.deny('vetoed', `cancelled by ${[...new Set(vetoedBy)].join(', ')}`);
  const counted = [...valid].sort();
  const quorumMet = requirements.every((r) => satisfied(e.index, r, valid));
  e.trace.quorum = {
    ...(band !== undefined ? { band: band.id } : {}),
    required: requirements,
    satisfied: quorumMet,
    counted,
    rejected: rejected.sort((a, b) =>
      a.approverId < b.approverId ? -1 : a.approverId > b.approverId ? 1 : a.reason < b.reason ? -1 : 1,
    ),
  };

  if (request.kind === 'transfer' && asset !== undefined) {
    // 7. Limits.
    checkLimits(e, wallet, asset, request.intent.amount);
    // 8. Delays.
    const { delays } = policy;
    if (delays.largeReference !== undefined && delays.largeDelayMs > 0) {
      const value = e.referenceValue();
      if (value === undefined) e.deny('no-reference-value', e.valueError ?? 'no reference value');
      else if (value >= delays.largeReference)
        e.trace.delays.push({ source: 'large', delayMs: delays.largeDelayMs });
    }
    if (
      delays.firstTimeDestinationDelayMs > 0 &&
      !isKnownDestination(context, request.intent.chain, request.intent.to)
    ) {
      e.trace.delays.push({ source: 'first-time-destination', delayMs: delays.firstTimeDestinationDelayMs });
    }
  }
  return finish(e, digest, quorumMet);
}

function finish(e: Evaluation, digest: string, quorumMet = false): Decision {
  const delayMs = e.trace.delays.reduce((max, d) => Math.max(max, d.delayMs), 0);
  const submittedAtMs = e.request.submittedAtMs;
  const decision: Decision = {
    outcome: 'deny',
    policyVersion: e.policy.version,
    policyDigest: policyDigest(e.policy),
    requestDigest: digest,
    evaluatedAtMs: e.context.nowMs,
    reasons: e.reasons,
    trace: e.trace,
  };
  if (delayMs > 0) {
    const delayedUntilMs = submittedAtMs + delayMs;
    decision.delay = { delayedUntilMs, vetoWindow: { fromMs: submittedAtMs, toMs: delayedUntilMs } };
  }
  if (e.reasons.length > 0) return decision;
  if (!quorumMet) {
    decision.outcome = 'needs-approvals';
    decision.reasons = [{ code: 'needs-approvals', detail: 'the required approvals are not all present' }];
  } else if (decision.delay !== undefined && e.context.nowMs < decision.delay.delayedUntilMs) {
    decision.outcome = 'delayed';
    decision.reasons = [{ code: 'delayed', detail: `delayed until ${decision.delay.delayedUntilMs}` }];
  } else {
    decision.outcome = 'allow';
  }
  return decision;
}
