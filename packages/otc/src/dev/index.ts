// Development desk: writes an OTC service configuration for a local cluster (the demo, `pnpm cluster`,
// tests and benchmarks) with a bearer token per staff role, a quote signing key, Standard Webhooks
// secrets and a signed static price table — the stand-in for a desk's price feed, re-signed on demand
// so it never goes stale. Not a production setup: secrets are written to files beside the config.
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiKeySha256 } from '../api/auth.ts';
import type { AssetConfig, Role } from '../config/types.ts';
import { createPriceTable, priceTableKeygen } from '../pricing/table.ts';

export type DevPrice = { asset: string; fiat: string; mid: bigint };

export type DevDeskOptions = {
  dir: string;
  nodeUrls: string[];
  /** The signer nodes' maker-scoped API key (operator otc-desk). */
  makerToken: string;
  evmRpcUrl: string;
  assets: AssetConfig[];
  prices: DevPrice[];
  port?: number;
  /** A PostgreSQL server; the embedded database under `dir/db` otherwise. */
  databaseUrl?: string;
  /** Where lifecycle webhooks go (the desk's backend). */
  outboundWebhookUrl?: string;
  /** Orders at or above this many USD cents need an ops checker's desk approval (default 1,000,000.00 USD). */
  deskApprovalUsdCents?: bigint;
  logLevel?: string;
};

/** Staff of the dev desk, one per role: API key id and role. */
export const DEV_STAFF: readonly { id: string; role: Role }[] = [
  { id: 'desk-backend', role: 'backend' },
  { id: 'olivia', role: 'ops-maker' },
  { id: 'oscar', role: 'ops-checker' },
  { id: 'carla', role: 'compliance' },
  { id: 'adam', role: 'admin' },
  { id: 'audrey', role: 'auditor' },
];

export type DevDesk = {
  configFile: string;
  port: number;
  /** Bearer token by staff id (DEV_STAFF). */
  tokens: Record<string, string>;
  /** The fiat rail's Standard Webhooks secret (what the rail signs with). */
  inboundWebhookSecret: string;
  outboundWebhookSecret: string;
  /** Signs the price table again with the current time (and optionally new prices). */
  refreshPrices(prices?: DevPrice[]): void;
};

const whsec = () => `whsec_${randomBytes(32).toString('base64')}`;

export function writeDevDesk(o: DevDeskOptions): DevDesk {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const secret = (name: string, value: string) => {
    writeFileSync(join(o.dir, name), `${value}\n`, { mode: 0o600 });
    return { file: name };
  };
  const tokens = Object.fromEntries(DEV_STAFF.map((s) => [s.id, randomBytes(24).toString('hex')]));
  const prices = priceTableKeygen();
  const pricesFile = join(o.dir, 'prices.json');
  let current = o.prices;
  const refreshPrices = (next?: DevPrice[]) => {
    current = next ?? current;
    const doc = createPriceTable({ issuedAtMs: Date.now(), prices: current }, prices.secretKey);
    // Written whole and renamed, so the service never reads half a table.
    writeFileSync(`${pricesFile}.tmp`, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
    renameSync(`${pricesFile}.tmp`, pricesFile);
  };
  refreshPrices();
  const inbound = whsec();
  const outbound = whsec();
  const port = o.port ?? 0;
  const usd = (dollars: bigint) => (dollars * 100n).toString();
  const config = {
    listen: { host: '127.0.0.1', port },
    database: o.databaseUrl !== undefined ? { url: o.databaseUrl } : { dataDir: 'db' },
    custody: {
      nodes: o.nodeUrls,
      apiKey: secret('custody-api-key', o.makerToken),
      requestTimeoutMs: 15_000,
      pollMs: 250,
      evmRpcUrl: o.evmRpcUrl,
    },
    assets: o.assets,
    fiat: [
      {
        code: 'USD',
        decimals: 2,
        account: {
          bankName: 'Example Bank',
          accountName: 'Coffer Desk Ltd',
          accountNumber: 'US00 1234 5678',
          bic: 'EXAMUS33',
        },
      },
      {
        code: 'EUR',
        decimals: 2,
        account: {
          bankName: 'Example Bank',
          accountName: 'Coffer Desk Ltd',
          accountNumber: 'DE00 1234 5678',
          bic: 'EXAMDEFF',
        },
      },
    ],
    tiers: [
      {
        id: 'basic',
        limits: { USD: { perOrder: usd(10_000n), daily: usd(25_000n), monthly: usd(100_000n) } },
        quotesPerMinute: 30,
      },
      {
        id: 'institutional',
        limits: {
          USD: { perOrder: usd(5_000_000n), daily: usd(20_000_000n), monthly: usd(200_000_000n) },
          EUR: { perOrder: usd(5_000_000n), daily: usd(20_000_000n), monthly: usd(200_000_000n) },
        },
        quotesPerMinute: 600,
      },
    ],
    spreads: [
      { service: 'buy', tier: '*', asset: '*', bps: 50 },
      { service: 'buy', tier: 'institutional', asset: '*', bps: 20 },
      { service: 'sell', tier: '*', asset: '*', bps: 50 },
    ],
    pricing: {
      source: { kind: 'static', file: 'prices.json', publicKey: prices.publicKey },
      maxAgeMs: 600_000,
    },
    quotes: {
      firmTtlMs: 30_000,
      indicativeTtlMs: 60_000,
      signingKey: secret('quote-signing-key', randomBytes(32).toString('hex')),
    },
    payments: { windowMs: 3_600_000 },
    deskApproval: {
      USD: (o.deskApprovalUsdCents ?? 100_000_000n).toString(),
      EUR: (o.deskApprovalUsdCents ?? 100_000_000n).toString(),
    },
    autoConfirm: { maxAmount: { USD: usd(1_000n) }, tiers: ['institutional'], allowFirstOrder: false },
    compliance: { denylistFile: 'denylist.txt', blockedCountries: ['KP', 'IR'], assetRestrictions: [] },
    webhooks: {
      inbound: { secret: secret('fiat-rail-webhook-secret', inbound), toleranceSeconds: 300 },
      ...(o.outboundWebhookUrl !== undefined
        ? {
            outbound: {
              url: o.outboundWebhookUrl,
              secret: secret('desk-webhook-secret', outbound),
              timeoutMs: 5_000,
            },
          }
        : {}),
    },
    apiKeys: DEV_STAFF.map((s) => ({ id: s.id, role: s.role, sha256: apiKeySha256(tokens[s.id]!) })),
    logLevel: o.logLevel ?? 'warn',
  };
  writeFileSync(join(o.dir, 'denylist.txt'), '# one address per line\n', { mode: 0o600 });
  const configFile = join(o.dir, 'otc.json');
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return {
    configFile,
    port,
    tokens,
    inboundWebhookSecret: inbound,
    outboundWebhookSecret: outbound,
    refreshPrices,
  };
}
