// Quotes (RFQ). An indicative quote is informational: stored for the record, never executable. A firm
// quote carries a signed token, expires after the configured TTL and is consumed exactly once, inside the
// transaction of the order that accepts it. Every quote is priced from a fresh price (never a stale one),
// after the client's shared rate limit and the pre-trade compliance checks.
import { randomBytes } from 'node:crypto';
import { getClient, parseClientId } from '../clients/clients.ts';
import { takeRateLimit } from '../clients/rate-limit.ts';
import { checkPreTrade, type PreTradeDeps, recordRefusal } from '../compliance/pretrade.ts';
import type { OtcConfig } from '../config/types.ts';
import type { Database, Queryable } from '../db/database.ts';
import { invalid, OtcError } from '../errors.ts';
import { fromNumeric, parseAmount } from '../money.ts';
import { type PriceSource, quotablePrice } from '../pricing/sources.ts';
import { fiatAmountFor, spreadFor, spreadPrice } from '../pricing/spreads.ts';
import { QUOTE_ID, quoteIdOfToken, quoteTokenMatches, signQuoteToken } from './token.ts';

export type QuoteKind = 'indicative' | 'firm';
export type Side = 'buy' | 'sell';

export type Quote = {
  id: string;
  kind: QuoteKind;
  clientId: string;
  side: Side;
  asset: string;
  amount: bigint;
  fiatCurrency: string;
  priceMinor: bigint;
  fiatAmount: bigint;
  midPriceMinor: bigint;
  spreadBps: number;
  priceSource: string;
  priceAt: Date;
  createdAt: Date;
  expiresAt: Date;
  consumedAt: Date | null;
  consumedBy: string | null;
};

/** What the requester gets back; `token` only on a firm quote (it is what accepting it takes). */
export type QuoteResult = Pick<
  Quote,
  'id' | 'kind' | 'side' | 'asset' | 'amount' | 'fiatCurrency' | 'priceMinor' | 'fiatAmount' | 'expiresAt'
> & { token?: string };

export type QuoteDeps = PreTradeDeps & {
  config: Pick<OtcConfig, 'assets' | 'fiat' | 'tiers' | 'spreads' | 'quotes' | 'pricing' | 'compliance'>;
  prices: PriceSource;
};

export type QuoteRequest = {
  clientId: unknown;
  side: unknown;
  asset: unknown;
  /** Crypto base units: a bigint or a decimal string. */
  amount: unknown;
  fiatCurrency: unknown;
  kind: unknown;
};

const RATE_WINDOW_MS = 60_000;

function parseRequest(deps: QuoteDeps, r: QuoteRequest) {
  const clientId = parseClientId(r.clientId);
  if (r.side !== 'buy' && r.side !== 'sell') throw invalid('side', 'must be buy or sell');
  if (r.kind !== 'indicative' && r.kind !== 'firm') throw invalid('kind', 'must be indicative or firm');
  const asset = deps.config.assets.find((a) => a.id === r.asset);
  if (asset === undefined)
    throw invalid('asset', `must be one of ${deps.config.assets.map((a) => a.id).join(', ')}`);
  if (!deps.config.fiat.some((f) => f.code === r.fiatCurrency))
    throw invalid('fiatCurrency', `must be one of ${deps.config.fiat.map((f) => f.code).join(', ')}`);
  const amount = typeof r.amount === 'bigint' ? r.amount : parseAmount(r.amount, 'amount');
  if (amount <= 0n || amount >= 10n ** 60n)
    throw invalid('amount', 'must be a positive integer of base units');
  return {
    clientId,
    side: r.side as Side,
    kind: r.kind as QuoteKind,
    asset,
    amount,
    fiatCurrency: r.fiatCurrency as string,
  };
}

/** Prices and stores a quote for a client; a firm one comes with its token. */
export async function requestQuote(
  db: Database,
  deps: QuoteDeps,
  request: QuoteRequest,
): Promise<QuoteResult> {
  const r = parseRequest(deps, request);
  const client = await getClient(db, r.clientId);
  if (client === undefined)
    throw new OtcError('not-found', `client ${r.clientId} is not registered`, 'clientId');
  const tier = deps.config.tiers.find((t) => t.id === client.kycTier);
  if (tier === undefined)
    throw new OtcError('kyc-tier', `KYC tier ${client.kycTier} is not configured`, 'clientId');
  const now = deps.now();
  // Counted before any pricing work, so a client over its limit costs the desk one upsert.
  await takeRateLimit(db, {
    bucket: `quotes:${r.clientId}`,
    limit: tier.quotesPerMinute,
    windowMs: RATE_WINDOW_MS,
    now,
  });
  const price = await quotablePrice(deps.prices, {
    asset: r.asset.id,
    fiat: r.fiatCurrency,
    now,
    maxAgeMs: deps.config.pricing.maxAgeMs,
  });
  const spreadBps = spreadFor(deps.config.spreads, {
    service: r.side,
    tier: client.kycTier,
    asset: r.asset.id,
  });
  const priceMinor = spreadPrice(price.midPriceMinor, r.side, spreadBps);
  const fiatAmount = fiatAmountFor({
    side: r.side,
    midPriceMinor: price.midPriceMinor,
    bps: spreadBps,
    amount: r.amount,
    decimals: r.asset.decimals,
  });
  if (fiatAmount <= 0n || priceMinor <= 0n)
    throw invalid('amount', 'is worth less than one minor unit of fiat');
  const ttlMs = r.kind === 'firm' ? deps.config.quotes.firmTtlMs : deps.config.quotes.indicativeTtlMs;
  const quote: Quote = {
    id: `q_${randomBytes(16).toString('hex')}`,
    kind: r.kind,
    clientId: r.clientId,
    side: r.side,
    asset: r.asset.id,
    amount: r.amount,
    fiatCurrency: r.fiatCurrency,
    priceMinor,
    fiatAmount,
    midPriceMinor: price.midPriceMinor,
    spreadBps,
    priceSource: price.source,
    priceAt: price.at,
    createdAt: new Date(now),
    expiresAt: new Date(now + ttlMs),
    consumedAt: null,
    consumedBy: null,
  };
  await storeChecked(db, deps, quote);
  const result: QuoteResult = {
    id: quote.id,
    kind: quote.kind,
    side: quote.side,
    asset: quote.asset,
    amount: quote.amount,
    fiatCurrency: quote.fiatCurrency,
    priceMinor,
    fiatAmount,
    expiresAt: quote.expiresAt,
  };
  if (quote.kind === 'firm') result.token = signQuoteToken(deps.config.quotes.signingKey, tokenFields(quote));
  return result;
}

/** One transaction: not frozen, the pre-trade checks, the row. A refusal's decision is recorded after it. */
async function storeChecked(db: Database, deps: QuoteDeps, quote: Quote): Promise<void> {
  try {
    await db.transaction(async (tx) => {
      await assertQuotingAllowed(tx, quote.asset, quote.clientId);
      await checkPreTrade(tx, deps, {
        clientId: quote.clientId,
        side: quote.side,
        asset: quote.asset,
        fiatCurrency: quote.fiatCurrency,
        fiatAmount: quote.fiatAmount,
        quoteId: quote.id,
      });
      await insertQuote(tx, quote);
    });
  } catch (e) {
    await recordRefusal(db, { clientId: quote.clientId, quoteId: quote.id, at: quote.createdAt }, e);
    throw e;
  }
}

/** The emergency freeze (desk, asset or client) halts new quotes; same rows orders/freeze.ts writes. */
async function assertQuotingAllowed(tx: Queryable, asset: string, clientId: string): Promise<void> {
  const r = await tx.query<{ scope: string; reason: string }>(
    'SELECT scope, reason FROM otc_freezes WHERE scope = ANY($1) ORDER BY scope',
    [['desk', `asset:${asset}`, `client:${clientId}`]],
  );
  const hit = r.rows[0];
  if (hit !== undefined)
    throw new OtcError('frozen', `a new quote refused: ${hit.scope} is frozen (${hit.reason})`, undefined, {
      scope: hit.scope,
    });
}

async function insertQuote(tx: Queryable, q: Quote): Promise<void> {
  await tx.query(
    `INSERT INTO otc_quotes (id, kind, client_id, side, asset, amount, fiat_currency, price_minor, fiat_amount,
       mid_price_minor, spread_bps, price_source, price_at, created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
    [
      q.id,
      q.kind,
      q.clientId,
      q.side,
      q.asset,
      q.amount.toString(),
      q.fiatCurrency,
      q.priceMinor.toString(),
      q.fiatAmount.toString(),
      q.midPriceMinor.toString(),
      q.spreadBps,
      q.priceSource,
      q.priceAt,
      q.createdAt,
      q.expiresAt,
    ],
  );
}

function tokenFields(q: Quote) {
  return {
    id: q.id,
    clientId: q.clientId,
    side: q.side,
    asset: q.asset,
    amount: q.amount,
    fiatCurrency: q.fiatCurrency,
    priceMinor: q.priceMinor,
    fiatAmount: q.fiatAmount,
    expiresAtMs: q.expiresAt.getTime(),
  };
}

type QuoteRow = Record<string, unknown>;

function fromRow(r: QuoteRow): Quote {
  const date = (v: unknown) => new Date(v as string | Date);
  return {
    id: r.id as string,
    kind: r.kind as QuoteKind,
    clientId: r.client_id as string,
    side: r.side as Side,
    asset: r.asset as string,
    amount: fromNumeric(r.amount),
    fiatCurrency: r.fiat_currency as string,
    priceMinor: fromNumeric(r.price_minor),
    fiatAmount: fromNumeric(r.fiat_amount),
    midPriceMinor: fromNumeric(r.mid_price_minor),
    spreadBps: Number(r.spread_bps),
    priceSource: r.price_source as string,
    priceAt: date(r.price_at),
    createdAt: date(r.created_at),
    expiresAt: date(r.expires_at),
    consumedAt: r.consumed_at === null ? null : date(r.consumed_at),
    consumedBy: (r.consumed_by as string | null) ?? null,
  };
}

export async function getQuote(q: Queryable, id: string): Promise<Quote | undefined> {
  if (!QUOTE_ID.test(id)) return undefined;
  const r = await q.query<QuoteRow>('SELECT * FROM otc_quotes WHERE id = $1', [id]);
  return r.rows[0] === undefined ? undefined : fromRow(r.rows[0]);
}

export type ConsumeQuote = {
  token: unknown;
  clientId: string;
  orderId: string;
  /** Milliseconds (the caller's clock). */
  now: number;
  /** The desk's quote signing key (config.quotes.signingKey). */
  signingKey: Uint8Array;
};

/**
 * Consumes a firm quote in the caller's transaction, exactly once: the token's MAC must match the stored
 * quote, the quote must be firm, the caller's client's, unexpired and unused. The consumption is a
 * conditional update, so of two concurrent accepts exactly one sees `consumed_at IS NULL`; the other
 * waits for its commit and gets `quote-used` (or the quote back if the first rolled back).
 */
export async function consumeQuote(tx: Queryable, c: ConsumeQuote): Promise<Quote> {
  const id = quoteIdOfToken(c.token);
  const quote = await getQuote(tx, id);
  if (quote === undefined) throw new OtcError('quote-invalid', 'no such quote', 'quoteToken');
  if (quote.kind !== 'firm')
    throw new OtcError(
      'quote-indicative',
      'an indicative quote is informational and can never be accepted',
      'quoteToken',
    );
  if (!quoteTokenMatches(c.signingKey, c.token as string, tokenFields(quote)))
    throw new OtcError('quote-invalid', 'the quote token does not verify', 'quoteToken');
  if (quote.clientId !== c.clientId)
    throw new OtcError('quote-invalid', 'the quote was made for another client', 'quoteToken');
  if (quote.consumedAt !== null)
    throw new OtcError('quote-used', 'the quote has already been accepted', 'quoteToken');
  if (c.now >= quote.expiresAt.getTime())
    throw new OtcError(
      'quote-expired',
      `the quote expired at ${quote.expiresAt.toISOString()}`,
      'quoteToken',
    );
  const r = await tx.query<QuoteRow>(
    `UPDATE otc_quotes SET consumed_at = $2, consumed_by = $3
      WHERE id = $1 AND consumed_at IS NULL RETURNING *`,
    [id, new Date(c.now), c.orderId],
  );
  if (r.rows[0] === undefined)
    throw new OtcError('quote-used', 'the quote has already been accepted', 'quoteToken');
  return fromRow(r.rows[0]);
}

/** The wire form of a quote result: amounts as decimal strings, times as ISO 8601. */
export function quoteResultToWire(q: QuoteResult): Record<string, string> {
  return {
    id: q.id,
    kind: q.kind,
    side: q.side,
    asset: q.asset,
    amount: q.amount.toString(),
    fiatCurrency: q.fiatCurrency,
    priceMinor: q.priceMinor.toString(),
    fiatAmount: q.fiatAmount.toString(),
    expiresAt: q.expiresAt.toISOString(),
    ...(q.token !== undefined ? { token: q.token } : {}),
  };
}
