// Spreads and the price a client is quoted. The most specific spread rule wins (tier and asset, then
// tier, then asset, then '*'); every rounding goes in the desk's favour (a buyer pays the rounded-up
// price and fiat amount, a seller receives the rounded-down ones), with exact bigint arithmetic only.
import type { Service, SpreadRule } from '../config/types.ts';
import { OtcError } from '../errors.ts';
import { divCeil } from '../money.ts';

const BPS = 10_000n;

/** How specific a matching rule is; -1 when it does not match. */
function specificity(rule: SpreadRule, tier: string, asset: string): number {
  const tierMatch = rule.tier === tier ? 2 : rule.tier === '*' ? 0 : -1;
  const assetMatch = rule.asset === asset ? 1 : rule.asset === '*' ? 0 : -1;
  return tierMatch < 0 || assetMatch < 0 ? -1 : tierMatch + assetMatch;
}

/** The spread in basis points for (service, tier, asset); no matching rule → price-unavailable. */
export function spreadFor(
  rules: readonly SpreadRule[],
  key: { service: Service; tier: string; asset: string },
): number {
  let best: SpreadRule | undefined;
  let bestScore = -1;
  for (const rule of rules) {
    if (rule.service !== key.service) continue;
    const score = specificity(rule, key.tier, key.asset);
    if (score > bestScore) {
      best = rule;
      bestScore = score;
    }
  }
  if (best === undefined)
    throw new OtcError(
      'price-unavailable',
      `no spread rule for service ${key.service}, tier ${key.tier}, asset ${key.asset}`,
    );
  if (!Number.isSafeInteger(best.bps) || best.bps < 0 || best.bps >= 10_000)
    throw new OtcError(
      'internal',
      `spread rule for ${key.service}/${best.tier}/${best.asset} has bps outside 0..9999`,
    );
  return best.bps;
}

/** The client's price: mid plus the spread for a buy (rounded up), minus it for a sell (rounded down). */
export function spreadPrice(midPriceMinor: bigint, side: 'buy' | 'sell', bps: number): bigint {
  if (midPriceMinor <= 0n) throw new OtcError('price-unavailable', 'mid price must be positive');
  const b = BigInt(bps);
  return side === 'buy' ? divCeil(midPriceMinor * (BPS + b), BPS) : (midPriceMinor * (BPS - b)) / BPS;
}

/**
 * Fiat minor units for `amount` base units (`decimals` places) at the mid price plus the spread for a
 * buy (minus it for a sell), rounded once at the end — up for a buy, down for a sell — so the spread the
 * customer pays is the configured one for any price, not a per-unit price rounded to a whole minor unit
 * first (that would double a 50 bps spread on a 1.00 USD stablecoin).
 */
export function fiatAmountFor(opts: {
  side: 'buy' | 'sell';
  midPriceMinor: bigint;
  bps: number;
  amount: bigint;
  decimals: number;
}): bigint {
  if (!Number.isSafeInteger(opts.decimals) || opts.decimals < 0 || opts.decimals > 36)
    throw new OtcError('internal', 'asset decimals must be an integer 0..36');
  const factor = opts.side === 'buy' ? BPS + BigInt(opts.bps) : BPS - BigInt(opts.bps);
  const numerator = opts.midPriceMinor * factor * opts.amount;
  const scale = BPS * 10n ** BigInt(opts.decimals);
  return opts.side === 'buy' ? divCeil(numerator, scale) : numerator / scale;
}
