// Firm-quote tokens: `<quoteId>.<base64url HMAC-SHA256(signingKey, canonical quote fields)>`. The MAC binds
// the quote's id to its client, side, asset, amounts, price and expiry, so a token cannot be edited into
// another quote or another client's, and only the desk (holding the key) can mint one. The token is a
// bearer secret: it is never logged or put into an error message.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from '../canonical-json.ts';
import { OtcError } from '../errors.ts';

export const QUOTE_TOKEN_DOMAIN = 'coffer-otc-quote/1';
export const QUOTE_ID = /^q_[0-9a-f]{32}$/;
/** 32 MAC bytes are 43 base64url characters without padding. */
const TOKEN = /^(q_[0-9a-f]{32})\.([A-Za-z0-9_-]{43})$/;

export type QuoteTokenFields = {
  id: string;
  clientId: string;
  side: 'buy' | 'sell';
  asset: string;
  amount: bigint;
  fiatCurrency: string;
  priceMinor: bigint;
  fiatAmount: bigint;
  expiresAtMs: number;
};

function mac(signingKey: Uint8Array, f: QuoteTokenFields): string {
  if (signingKey.length < 32)
    throw new OtcError('internal', 'the quote signing key must be at least 32 bytes');
  const message = canonicalJson({
    domain: QUOTE_TOKEN_DOMAIN,
    id: f.id,
    clientId: f.clientId,
    kind: 'firm',
    side: f.side,
    asset: f.asset,
    amount: f.amount.toString(),
    fiatCurrency: f.fiatCurrency,
    priceMinor: f.priceMinor.toString(),
    fiatAmount: f.fiatAmount.toString(),
    expiresAtMs: f.expiresAtMs,
  });
  return createHmac('sha256', signingKey).update(message).digest('base64url');
}

export function signQuoteToken(signingKey: Uint8Array, fields: QuoteTokenFields): string {
  return `${fields.id}.${mac(signingKey, fields)}`;
}

/** The quote id a well-formed token names (its MAC is checked later, against the stored quote). */
export function quoteIdOfToken(token: unknown): string {
  const m = typeof token === 'string' ? TOKEN.exec(token) : null;
  if (m === null) throw new OtcError('quote-invalid', 'the quote token is malformed', 'quoteToken');
  return m[1]!;
}

/**
 * Whether `token` is exactly the token of `fields`. The whole encoded MAC is compared (in constant
 * time), not its decoded bytes: base64url's last character carries unused bits, and a token differing
 * only in those must still be refused.
 */
export function quoteTokenMatches(signingKey: Uint8Array, token: string, fields: QuoteTokenFields): boolean {
  const expected = Buffer.from(signQuoteToken(signingKey, fields), 'utf8');
  const given = Buffer.from(token, 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}
