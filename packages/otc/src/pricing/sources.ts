// Price sources: where mid prices come from. Two implementations of one interface — a static signed
// table file (the demo's) and an HTTP endpoint answering the same document under a strict timeout — and
// the one gate every quote goes through, `quotablePrice`, which refuses a price older than the
// staleness bound (pitfall: sloppy caching must never produce a stale quote).
import { readFileSync, statSync } from 'node:fs';
import type { PriceSourceConfig } from '../config/types.ts';
import { OtcError } from '../errors.ts';
import { type PriceTable, priceKey, verifyPriceTable } from './table.ts';

export type Price = {
  asset: string;
  fiat: string;
  /** Fiat minor units per whole crypto unit. */
  midPriceMinor: bigint;
  at: Date;
  source: string;
};

export interface PriceSource {
  /** The latest mid price for (asset, fiat); throws OtcError('price-unavailable') when there is none. */
  price(asset: string, fiat: string): Promise<Price>;
}

const MAX_TABLE_BYTES = 4 * 1024 * 1024;
/** A table dated further ahead than this is refused: the publisher's clock (or the table) is wrong. */
export const MAX_PRICE_CLOCK_SKEW_MS = 60_000;

function lookup(table: PriceTable, asset: string, fiat: string, source: string): Price {
  const entry = table.prices.get(priceKey(asset, fiat));
  if (entry === undefined)
    throw new OtcError('price-unavailable', `no ${asset}/${fiat} price from ${source}`);
  return { asset, fiat, midPriceMinor: entry.midPriceMinor, at: new Date(table.issuedAtMs), source };
}

function parseTableText(text: string, publicKey: string | null): PriceTable {
  if (text.length > MAX_TABLE_BYTES)
    throw new OtcError('price-unavailable', 'price table is larger than 4 MiB');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new OtcError('price-unavailable', 'price table is not JSON');
  }
  return verifyPriceTable(raw, publicKey);
}

/** A signed table file, re-read and re-verified whenever its size, mtime or inode changes. */
export class StaticPriceSource implements PriceSource {
  private stamp = '';
  private table: PriceTable | null = null;

  constructor(private readonly opts: { file: string; publicKey: string }) {}

  private load(): PriceTable {
    let stamp: string;
    try {
      const st = statSync(this.opts.file);
      stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
      if (stamp === this.stamp && this.table !== null) return this.table;
      this.table = null;
      this.stamp = '';
      const table = parseTableText(readFileSync(this.opts.file, 'utf8'), this.opts.publicKey);
      this.table = table;
      this.stamp = stamp;
      return table;
    } catch (e) {
      if (e instanceof OtcError) throw e;
      throw new OtcError(
        'price-unavailable',
        `cannot read the price table: ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }

  async price(asset: string, fiat: string): Promise<Price> {
    return lookup(this.load(), asset, fiat, 'static');
  }
}

export type HttpPriceSourceOptions = {
  url: string;
  timeoutMs: number;
  /** Ed25519 public key (hex) the table must verify under; null trusts the endpoint. */
  publicKey: string | null;
  /** How long one fetched table serves further requests (default 1000 ms); the staleness bound still applies. */
  cacheMs?: number;
  now: () => number;
};

/** The same table from a URL; every failure (timeout, HTTP error, bad body, bad signature) is `price-unavailable`. */
export class HttpPriceSource implements PriceSource {
  private cached: { table: PriceTable; fetchedAtMs: number } | null = null;
  private inflight: Promise<PriceTable> | null = null;

  constructor(private readonly opts: HttpPriceSourceOptions) {
    if (!Number.isSafeInteger(opts.timeoutMs) || opts.timeoutMs <= 0)
      throw new OtcError(
        'invalid-request',
        'pricing.source.timeoutMs must be a positive integer',
        'timeoutMs',
      );
  }

  private async fetchTable(): Promise<PriceTable> {
    const signal = AbortSignal.timeout(this.opts.timeoutMs);
    let text: string;
    try {
      const res = await fetch(this.opts.url, { signal, headers: { accept: 'application/json' } });
      text = await res.text();
      if (res.status !== 200)
        throw new OtcError('price-unavailable', `price endpoint answered HTTP ${res.status}`);
    } catch (e) {
      if (e instanceof OtcError) throw e;
      if (signal.aborted)
        throw new OtcError(
          'price-unavailable',
          `price endpoint did not answer within ${this.opts.timeoutMs} ms`,
        );
      throw new OtcError('price-unavailable', `price endpoint unreachable: ${(e as Error).name}`);
    }
    return parseTableText(text, this.opts.publicKey);
  }

  private async table(): Promise<PriceTable> {
    const cacheMs = this.opts.cacheMs ?? 1000;
    const now = this.opts.now();
    if (this.cached !== null && now - this.cached.fetchedAtMs < cacheMs) return this.cached.table;
    // Concurrent quotes share one request instead of each opening their own.
    this.inflight ??= this.fetchTable()
      .then((table) => {
        this.cached = { table, fetchedAtMs: this.opts.now() };
        return table;
      })
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }

  async price(asset: string, fiat: string): Promise<Price> {
    return lookup(await this.table(), asset, fiat, 'http');
  }
}

/** The configured source. */
export function createPriceSource(config: PriceSourceConfig, now: () => number): PriceSource {
  if (config.kind === 'static')
    return new StaticPriceSource({ file: config.file, publicKey: config.publicKey });
  return new HttpPriceSource({
    url: config.url,
    timeoutMs: config.timeoutMs,
    publicKey: config.publicKey ?? null,
    now,
  });
}

/**
 * A price fit to quote: fresh (no older than `maxAgeMs` at `now`) and not dated in the future beyond the
 * allowed clock skew. The one place quotes get their mid price from.
 */
export async function quotablePrice(
  source: PriceSource,
  opts: { asset: string; fiat: string; now: number; maxAgeMs: number },
): Promise<Price> {
  const price = await source.price(opts.asset, opts.fiat);
  const ageMs = opts.now - price.at.getTime();
  if (ageMs > opts.maxAgeMs)
    throw new OtcError(
      'price-stale',
      `the ${opts.asset}/${opts.fiat} price is ${ageMs} ms old (limit ${opts.maxAgeMs} ms); no quote on a stale price`,
    );
  if (-ageMs > MAX_PRICE_CLOCK_SKEW_MS)
    throw new OtcError(
      'price-unavailable',
      `the ${opts.asset}/${opts.fiat} price is dated ${-ageMs} ms in the future`,
    );
  if (price.midPriceMinor <= 0n)
    throw new OtcError('price-unavailable', `the ${opts.asset}/${opts.fiat} price is zero`);
  return price;
}
