// An in-process OTC desk for the flow tests: the development configuration (writeDevDesk) on a fresh
// database of either kind, the real HTTP routes through fastify's inject, and a `call` helper that sends
// each POST with an Idempotency-Key. `assets` and `nodeUrls` default to placeholders for flows that never
// reach the signer nodes; release flows pass the real cluster's (test/helpers/cluster.ts).
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerRoutes } from '../../src/api/routes/index.ts';
import { buildServer, createLogger, type OtcApp } from '../../src/api/server.ts';
import { loadConfigFile } from '../../src/config/parse.ts';
import type { AssetConfig, OtcConfig } from '../../src/config/types.ts';
import type { Database } from '../../src/db/database.ts';
import { type Desk, openDesk } from '../../src/desk.ts';
import { type DevDesk, type DevPrice, writeDevDesk } from '../../src/dev/index.ts';
import type { Custody } from '../../src/orders/deps.ts';

export const PLACEHOLDER_ASSETS: AssetConfig[] = [
  {
    id: 'ETH',
    chain: 'evm',
    network: 'eip155:31337',
    kind: 'native',
    decimals: 18,
    wallet: 'hot-eth',
    keyId: 'ab'.repeat(32),
    hotAddress: '0x1111111111111111111111111111111111111111',
    confirmations: 1,
  },
  {
    id: 'BTC',
    chain: 'bitcoin',
    network: 'bip122:regtest',
    kind: 'native',
    decimals: 8,
    wallet: 'hot-btc',
    keyId: 'cd'.repeat(32),
    hotAddress: 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080',
    confirmations: 1,
  },
];

/** 3,000.00 USD per ETH, 60,000.00 USD per BTC (minor units per whole unit). */
export const PLACEHOLDER_PRICES: DevPrice[] = [
  { asset: 'ETH', fiat: 'USD', mid: 300_000n },
  { asset: 'BTC', fiat: 'USD', mid: 6_000_000n },
  { asset: 'ETH', fiat: 'EUR', mid: 280_000n },
];

export type TestDesk = {
  desk: Desk;
  app: OtcApp;
  config: OtcConfig;
  dev: DevDesk;
  clock: { now: number };
  call(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    who: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Record<string, unknown> }>;
  close(): Promise<void>;
};

export async function testDesk(
  db: Database,
  o: {
    assets?: AssetConfig[];
    prices?: DevPrice[];
    nodeUrls?: string[];
    makerToken?: string;
    evmRpcUrl?: string;
    custody?: Custody;
    deskApprovalUsdCents?: bigint;
  } = {},
): Promise<TestDesk> {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-otc-desk-'));
  const dev = writeDevDesk({
    dir,
    nodeUrls: o.nodeUrls ?? ['http://127.0.0.1:9'],
    makerToken: o.makerToken ?? randomBytes(24).toString('hex'),
    evmRpcUrl: o.evmRpcUrl ?? 'http://127.0.0.1:9',
    assets: o.assets ?? PLACEHOLDER_ASSETS,
    prices: o.prices ?? PLACEHOLDER_PRICES,
    ...(o.deskApprovalUsdCents !== undefined ? { deskApprovalUsdCents: o.deskApprovalUsdCents } : {}),
  });
  const config = loadConfigFile(dev.configFile, {});
  const clock = { now: Date.now() };
  const desk = await openDesk(config, {
    db,
    now: () => clock.now,
    ...(o.custody ? { custody: o.custody } : {}),
  });
  const app = await buildServer(
    { config, db, log: createLogger('silent'), now: () => clock.now },
    registerRoutes(desk),
  );
  await app.ready();
  const call: TestDesk['call'] = async (method, path, who, body, headers = {}) => {
    const token = dev.tokens[who];
    const res = await app.inject({
      method,
      url: path,
      headers: {
        ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
        ...(method === 'POST' ? { 'idempotency-key': randomBytes(12).toString('hex') } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    const text = res.body;
    return {
      status: res.statusCode,
      body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text },
      headers: res.headers,
    };
  };
  return {
    desk,
    app,
    config,
    dev,
    clock,
    call,
    async close() {
      await app.close();
      await desk.close();
    },
  };
}
