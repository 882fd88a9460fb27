// Pre-trade compliance: before a firm quote and again when the order is created, in the caller's
// transaction — the client exists and is active, its country may trade the asset, its KYC tier trades the
// fiat currency within the per-order, daily and monthly limits, and (when given) the destination passes
// screening. Every decision, pass or fail, is a row in otc_compliance_decisions with its reason.
//
// The client row is locked (FOR UPDATE) for the caller's transaction, so two orders of one client are
// checked one after the other and cannot both fit under a limit that only one of them fits under.
// A refusal is thrown; its decision row dies with the caller's rolled-back transaction, so callers
// record it again afterwards with `recordRefusal` (requestQuote does).
import { getClient } from '../clients/clients.ts';
import type { OtcConfig, TierConfig, TierLimits } from '../config/types.ts';
import type { Queryable } from '../db/database.ts';
import { OtcError, type OtcErrorCode } from '../errors.ts';
import { fromNumeric } from '../money.ts';
import type { ScreeningTarget } from './screening.ts';

export type DecisionOutcome = 'pass' | 'fail' | 'review';
export type Decision = {
  clientId: string;
  quoteId?: string;
  orderId?: string;
  check: string;
  outcome: DecisionOutcome;
  reason: string;
  at?: Date;
};

export async function recordDecision(q: Queryable, d: Decision): Promise<void> {
  await q.query(
    `INSERT INTO otc_compliance_decisions (client_id, quote_id, order_id, check_name, outcome, reason, at)
     VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, now()))`,
    [
      d.clientId,
      d.quoteId ?? null,
      d.orderId ?? null,
      d.check,
      d.outcome,
      d.reason.slice(0, 1000),
      d.at ?? null,
    ],
  );
}

export type PreTradeDeps = {
  config: Pick<OtcConfig, 'tiers' | 'compliance'>;
  now: () => number;
  /**
   * Destination screening that throws `screening-denied` / `screening-unavailable` (Screening.screen fits;
   * so does the buy desk's ScreenDestination). Only called when the input names a destination.
   */
  screen?: (target: ScreeningTarget & { clientId: string; orderId: string }) => Promise<void>;
};

export type PreTradeInput = {
  clientId: string;
  side: 'buy' | 'sell';
  asset: string;
  fiatCurrency: string;
  fiatAmount: bigint;
  destination?: ScreeningTarget;
  quoteId?: string;
  orderId?: string;
};

/** A refusal: the error names the check (and, for limits, which limit) in `extra`. */
function refuse(
  code: OtcErrorCode,
  check: string,
  message: string,
  field?: string,
  extra: Record<string, unknown> = {},
) {
  return new OtcError(code, message, field, { check, ...extra });
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Statuses whose orders no longer count against a client's limits. */
const NOT_COUNTED = ['cancelled', 'expired', 'rejected'];

/** Runs every check in order; throws the first refusal (after recording it), returns the tier passed. */
export async function checkPreTrade(
  tx: Queryable,
  deps: PreTradeDeps,
  input: PreTradeInput,
): Promise<{ tier: TierConfig }> {
  const at = new Date(deps.now());
  const record = (check: string, outcome: DecisionOutcome, reason: string) =>
    recordDecision(tx, {
      clientId: input.clientId,
      quoteId: input.quoteId,
      orderId: input.orderId,
      check,
      outcome,
      reason,
      at,
    });
  const run = async <T>(check: string, fn: () => Promise<{ value: T; reason: string }>): Promise<T> => {
    try {
      const { value, reason } = await fn();
      await record(check, 'pass', reason);
      return value;
    } catch (e) {
      if (!(e instanceof OtcError)) throw e;
      await record(check, 'fail', e.message);
      // Screening's errors come from elsewhere: name the check so recordRefusal can record it again.
      throw e.extra?.check === undefined
        ? new OtcError(e.code, e.message, e.field, { ...e.extra, check })
        : e;
    }
  };
  const client = await run('client', async () => {
    const c = await getClient(tx, input.clientId, { forUpdate: true });
    if (c === undefined)
      throw refuse('not-found', 'client', `client ${input.clientId} is not registered`, 'clientId');
    if (c.status !== 'active')
      throw refuse('forbidden', 'client', `client ${input.clientId} is ${c.status}`, 'clientId');
    return { value: c, reason: `client ${c.id} is active` };
  });
  await run('jurisdiction', async () => ({
    value: undefined,
    reason: jurisdiction(deps, client.country, input.asset),
  }));
  const { tier, limits } = await run('kyc-tier', async () => {
    const value = tierLimits(deps.config.tiers, client.kycTier, input.fiatCurrency);
    return { value, reason: `tier ${client.kycTier} trades ${input.fiatCurrency}` };
  });
  await run('limits', async () => ({
    value: undefined,
    reason: await checkLimits(tx, input, limits, at.getTime()),
  }));
  if (input.destination !== undefined && deps.screen !== undefined) {
    const target = input.destination;
    await run('destination-screening', async () => {
      await deps.screen!({ ...target, clientId: input.clientId, orderId: input.orderId ?? '' });
      return { value: undefined, reason: `${target.address} passed screening` };
    });
  }
  return { tier };
}

function jurisdiction(deps: PreTradeDeps, country: string, asset: string): string {
  const { blockedCountries, assetRestrictions } = deps.config.compliance;
  if (blockedCountries.includes(country))
    throw refuse(
      'jurisdiction',
      'jurisdiction',
      `the desk does not trade with clients in ${country}`,
      'clientId',
    );
  const restricted = assetRestrictions.find((r) => r.asset === asset && r.countries.includes(country));
  if (restricted !== undefined)
    throw refuse(
      'jurisdiction',
      'jurisdiction',
      `${asset} may not be traded by clients in ${country}`,
      'asset',
    );
  return `country ${country} may trade ${asset}`;
}

function tierLimits(
  tiers: readonly TierConfig[],
  tierId: string,
  fiat: string,
): { tier: TierConfig; limits: TierLimits } {
  const tier = tiers.find((t) => t.id === tierId);
  if (tier === undefined)
    throw refuse('kyc-tier', 'kyc-tier', `KYC tier ${tierId} is not configured`, 'clientId');
  const limits = tier.limits[fiat];
  if (limits === undefined)
    throw refuse('kyc-tier', 'kyc-tier', `KYC tier ${tierId} cannot trade ${fiat}`, 'fiatCurrency');
  return { tier, limits };
}

/** Per order, then the last 24 hours and 30 days of the client's live orders in this currency. */
async function checkLimits(
  tx: Queryable,
  input: PreTradeInput,
  limits: TierLimits,
  nowMs: number,
): Promise<string> {
  const amount = input.fiatAmount;
  const exceeded = (limit: string, message: string) =>
    refuse('limit-exceeded', 'limits', message, 'fiatAmount', { limit });
  if (amount > limits.perOrder)
    throw exceeded(
      'per-order',
      `${amount} ${input.fiatCurrency} is over the per-order limit of ${limits.perOrder}`,
    );
  const r = await tx.query<{ daily: string; monthly: string }>(
    `SELECT COALESCE(SUM(fiat_amount) FILTER (WHERE created_at > $3), 0) AS daily,
            COALESCE(SUM(fiat_amount), 0) AS monthly
       FROM otc_orders
      WHERE client_id = $1 AND fiat_currency = $2 AND created_at > $4
        AND status <> ALL($5) AND id <> $6`,
    [
      input.clientId,
      input.fiatCurrency,
      new Date(nowMs - DAY_MS),
      new Date(nowMs - 30 * DAY_MS),
      NOT_COUNTED,
      input.orderId ?? '',
    ],
  );
  const daily = fromNumeric(r.rows[0]!.daily) + amount;
  const monthly = fromNumeric(r.rows[0]!.monthly) + amount;
  if (daily > limits.daily)
    throw exceeded(
      'daily',
      `${daily} ${input.fiatCurrency} in 24 hours would be over the daily limit of ${limits.daily}`,
    );
  if (monthly > limits.monthly)
    throw exceeded(
      'monthly',
      `${monthly} ${input.fiatCurrency} in 30 days would be over the monthly limit of ${limits.monthly}`,
    );
  return `${amount} ${input.fiatCurrency}: per order ≤ ${limits.perOrder}, 24 h ${daily} ≤ ${limits.daily}, 30 d ${monthly} ≤ ${limits.monthly}`;
}

/**
 * Records a refusal thrown by checkPreTrade again after the caller's transaction rolled back (its
 * decision row went with it). Does nothing for errors that are not pre-trade refusals.
 */
export async function recordRefusal(
  q: Queryable,
  ids: { clientId: string; quoteId?: string; orderId?: string; at?: Date },
  error: unknown,
): Promise<void> {
  if (!(error instanceof OtcError)) return;
  const check = error.extra?.check;
  if (typeof check !== 'string') return;
  await recordDecision(q, { ...ids, check, outcome: 'fail', reason: error.message });
}
