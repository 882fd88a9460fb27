// OTC desk benchmark (issue 13, section `otc` of `pnpm bench`): the desk service against bare peers
// measured in the same run on the same machine, so the targets are ratios:
//   - quotes/s: firm quotes through the real service process (HTTP on 127.0.0.1) against a bare fastify
//     process answering the same route with the same JSON; target ≥ 0.5×;
//   - order transitions (claim_payment through BuyDesk.claimPayment) against the SQL transaction it
//     performs written by hand here, on PGlite and on a PostgreSQL server; target p50 ≤ 2×;
//   - end-to-end buy orders (quote → order → fiat evidence → release by the signer nodes → completed on
//     anvil) against one presigned signing through the same cluster; target p50 to the broadcast ≤ 3×,
//     with the chain confirmation reported apart, and every order checked for exactly one node request
//     and one transaction on chain.
// The cluster world and the PostgreSQL server come from the OTC package's test helpers, imported by path
// as scripts/cluster-demo.ts imports packages/chains/test/anvil.ts (nothing is moved or duplicated).
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type DevPrice, writeDevDesk } from '@coffer/otc/dev';
import { OtcProcess } from '@coffer/otc/dev-process';
import { allowRawDigests } from '@coffer/signer-node/dev-cluster';
import { CofferClient } from '../../packages/client/src/index.ts';
import { upsertClient } from '../../packages/otc/src/clients/clients.ts';
import { loadConfigFile } from '../../packages/otc/src/config/parse.ts';
import type { AssetConfig } from '../../packages/otc/src/config/types.ts';
import { type Database, openDatabase } from '../../packages/otc/src/db/database.ts';
import { type Desk, openDesk } from '../../packages/otc/src/desk.ts';
import { fundInventory } from '../../packages/otc/src/ledger/ledger.ts';
import { requestQuote } from '../../packages/otc/src/quotes/quotes.ts';
// Test helpers (process-level world: anvil, three signer nodes, a funded hot key, the desk's policy; and a
// throw-away PostgreSQL server), imported by path; see the header.
import { CUSTOMERS, type DeskCluster, startDeskCluster } from '../../packages/otc/test/helpers/cluster.ts';
import { type PostgresServer, startPostgres } from '../../packages/otc/test/helpers/postgres-server.ts';
import { verifySignature } from './cluster.ts';
import {
  type LatencySummary,
  latencySummary,
  positiveSeconds,
  ratePerSecond,
  type TargetRecord,
  targetRecord,
} from './latency.ts';
import { errorMessage, positiveInt, round3 } from './stats.ts';
import { log } from './timing.ts';

export const OTC_DATABASES = ['pglite', 'postgres'] as const;
export type OtcDatabase = (typeof OTC_DATABASES)[number];

export type OtcSettings = {
  /** Seconds each side (service, bare route) sends quotes, per database (BENCH_OTC_QUOTE_SECONDS). */
  quoteSeconds: number;
  /** Requests or transactions in flight in the throughput runs (BENCH_OTC_CONCURRENCY). */
  concurrency: number;
  /** Sequential transitions per side and database for p50 / p99 (BENCH_OTC_TRANSITIONS). */
  transitions: number;
  /** Transitions per side and database in the concurrent throughput run (BENCH_OTC_TRANSITION_BATCH). */
  transitionBatch: number;
  /** End-to-end buy orders per database; 0 leaves the cluster part out (BENCH_OTC_ORDERS). */
  orders: number;
  /** Presigned signings through the cluster, the end-to-end peer (BENCH_OTC_SIGNINGS). */
  signings: number;
  /** Presignatures each node keeps per key (BENCH_OTC_POOL). */
  pool: number;
  /** Databases to measure (BENCH_OTC_DATABASES: pglite, postgres). */
  databases: OtcDatabase[];
};

export function otcSettings(env: NodeJS.ProcessEnv): OtcSettings {
  return {
    quoteSeconds: positiveSeconds(env.BENCH_OTC_QUOTE_SECONDS, 6, 'BENCH_OTC_QUOTE_SECONDS'),
    concurrency: positiveInt(env.BENCH_OTC_CONCURRENCY, 4, 'BENCH_OTC_CONCURRENCY'),
    transitions: positiveInt(env.BENCH_OTC_TRANSITIONS, 200, 'BENCH_OTC_TRANSITIONS'),
    transitionBatch: positiveInt(env.BENCH_OTC_TRANSITION_BATCH, 100, 'BENCH_OTC_TRANSITION_BATCH'),
    orders:
      env.BENCH_OTC_ORDERS?.trim() === '0' ? 0 : positiveInt(env.BENCH_OTC_ORDERS, 10, 'BENCH_OTC_ORDERS'),
    signings: positiveInt(env.BENCH_OTC_SIGNINGS, 30, 'BENCH_OTC_SIGNINGS'),
    pool: positiveInt(env.BENCH_OTC_POOL, 4, 'BENCH_OTC_POOL'),
    databases: databaseList(env.BENCH_OTC_DATABASES),
  };
}

function databaseList(raw: string | undefined): OtcDatabase[] {
  if (raw === undefined || raw.trim() === '') return [...OTC_DATABASES];
  const out: OtcDatabase[] = [];
  for (const part of raw.split(',').map((p) => p.trim())) {
    if (!(OTC_DATABASES as readonly string[]).includes(part))
      throw new RangeError(
        `BENCH_OTC_DATABASES: unknown database "${part}" (known: ${OTC_DATABASES.join(', ')})`,
      );
    if (!out.includes(part as OtcDatabase)) out.push(part as OtcDatabase);
  }
  return out;
}

/** Issue 13's targets: ratios in the same run. */
export const OTC_TARGETS = {
  quotesVsBare: 0.5,
  transitionP50VsBareSql: 2,
  e2eP50VsPresigned: 3,
} as const;

export const OTC_INCLUDES = {
  quotes:
    "quotes: POST /v1/quotes (firm, buy 0.1 ETH in USD, institutional tier) to the OTC service process (packages/otc/src/main.ts through OtcProcess, development configuration of writeDevDesk, log level warn) on 127.0.0.1, `concurrency` requests in flight (Node fetch, keep-alive), each with its own Idempotency-Key and spread over 64 clients so no per-client rate limit is reached; each answer must be 201. Every firm quote is a rate-limit upsert, the pre-trade checks and an INSERT of the quote with its HMAC token. Peer: a bare fastify 5 process (the service's fastify, no plugins, no hooks) whose POST /v1/quotes parses the same request and answers 201 with the JSON of a real quote. The two alternate in four windows of quoteSeconds/4 each, so machine load hits both; quotesPerSecond = 201 answers / time of the windows. The HTTP client runs in the bench process on the same cores.",
  transitions:
    "transitions: BuyDesk.claimPayment (awaiting_payment → payment_claimed, the backend for its client) in the bench process on the database: PGlite with a data directory (the embedded default) or a PostgreSQL 15 server started for the run (fsync off, as in the tests). The service's transaction: SELECT … FOR UPDATE of the order, the state table, the conditional UPDATE on (id, status, version), INSERT otc_order_events, the outbox event (canonical JSON of the order view), the audit entry (advisory lock, chain head, SHA-256 over canonical JSON, INSERT otc_audit). Peer (bareSql): the same statements written by hand in the bench (payload and audit hash over plain JSON.stringify), run through the same driver wrapper (db/database.ts transaction: BEGIN/COMMIT on a pooled client, or PGlite's transaction), so the difference is the service's order code. latency: one at a time, the two sides alternating order by order; perSecond: `transitionBatch` transitions with `concurrency` in flight, in two alternating halves per side. Each side works on its own orders made beforehand by quote + acceptQuote (not timed).",
  e2e: "e2e: startDeskCluster (packages/otc/test/helpers/cluster.ts: anvil, three signer-node processes, a funded 2-of-3 hot key, a policy paying the desk's customer addresses up to 1 ETH without approvals), every node restarted with a presignature pool (`pool` per key, path m). The OTC service process on each database, desk approval off (threshold far above the orders), its release worker on its own 1 s interval plus the kick after evidence, as in production. One order at a time: POST /v1/quotes (0.01 ETH + i wei) → POST /v1/orders (to one of the policy's customer addresses) → POST /v1/fiat/evidence by an ops maker for the exact amount (paid → awaiting_release) → the worker releases through the signer nodes → completed. All times from sending the quote request (wall clock of this machine): toBroadcast = to the first node's `broadcast` entry in the node request's history (found by the order's release idempotency key), the figure of the target; steps.toReleasingMs and steps.toDeskSawBroadcastMs = the order's `release` and `custody_broadcast` events (database time), steps.toNodeRequestMs = the node request's creation; toCompleted = to the custody_confirmed event; chainConfirmation = toCompleted − toBroadcast, reported apart (anvil mines at once: what remains is the node's confirmation polling and the worker's next 1 s pass). quoteMs, orderMs, evidenceMs: the three API calls as the client saw them. Each order waits (not timed) until every node's pool is full and no refill runs, as the peer does. One untimed warm-up order per database.",
  presigned:
    'presigned (e2e peer): POST /v1/sign with a raw 32-byte digest for a second 2-of-3 ECDSA key of the same cluster (raw digests allowed by allowRawDigests), sent in turn to the three nodes, each once its coordinator holds a presignature and no pool refill runs (not timed); the signature verified with noble outside the timed region. As bench/cluster.ts measures its presigned case.',
  transfers:
    'transfers: after the orders of a database, for every order: the node requests under its release idempotency key on all three nodes (distinct request ids), its transaction on anvil (from the hot wallet, to the order destination, value = order amount), and the hot wallet nonce before and after (transactions actually sent). lost = orders without exactly one node request or without their transaction; duplicated = extra node requests under a key, a transaction shared by two orders, or transactions sent beyond the orders.',
};

const ETH = 10n ** 18n;
const NO_DESK_APPROVAL = 10n ** 15n;
const QUOTE_CLIENTS = 64;
const BACKEND = { id: 'desk-backend', role: 'backend' } as const;
const PRICES: DevPrice[] = [
  { asset: 'ETH', fiat: 'USD', mid: 300_000n },
  { asset: 'USDC', fiat: 'USD', mid: 100n },
];
/** The quotes and transitions never reach the signer nodes: a placeholder ETH wallet. */
const PLACEHOLDER_ETH: AssetConfig = {
  id: 'ETH',
  chain: 'evm',
  network: 'eip155:31337',
  kind: 'native',
  decimals: 18,
  wallet: 'hot-eth',
  keyId: 'ab'.repeat(32),
  hotAddress: '0x1111111111111111111111111111111111111111',
  confirmations: 1,
};
const DESTINATION = '0x0202020202020202020202020202020202020202';

type Temp = { dirs: string[]; children: ChildProcess[]; services: OtcProcess[] };

function tempDir(t: Temp, label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `coffer-bench-otc-${label}-`));
  t.dirs.push(dir);
  return dir;
}

/** A new empty database on the run's PostgreSQL server. */
async function serverDatabase(pg: PostgresServer): Promise<string> {
  const name = `bench_${randomBytes(6).toString('hex')}`;
  const admin = await openDatabase({ url: pg.url() });
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.close();
  }
  return pg.url(name);
}

// ---------------------------------------------------------------------------------------------- HTTP

type Answer = { status: number; body: Record<string, unknown> };

async function http(
  url: string,
  token: string | undefined,
  method: 'GET' | 'POST' | 'PUT',
  body?: unknown,
): Promise<Answer> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(method === 'POST' ? { 'idempotency-key': randomBytes(12).toString('hex') } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text: text.slice(0, 200) };
  }
  return { status: res.status, body: parsed };
}

/** A call that must succeed with `status`. */
async function must(
  status: number,
  url: string,
  token: string | undefined,
  method: 'GET' | 'POST' | 'PUT',
  body?: unknown,
): Promise<Record<string, unknown>> {
  const a = await http(url, token, method, body);
  if (a.status !== status)
    throw new Error(`${method} ${url}: ${a.status} ${String(a.body.code)}: ${String(a.body.message)}`);
  return a.body;
}

// -------------------------------------------------------------------------------------------- quotes

/** The service as a child process on a fresh development configuration for `kind`. */
async function startService(
  t: Temp,
  kind: OtcDatabase,
  pg: PostgresServer | undefined,
  o: { nodeUrls: string[]; makerToken: string; evmRpcUrl: string; assets: AssetConfig[] },
) {
  const dev = writeDevDesk({
    dir: tempDir(t, `service-${kind}`),
    ...o,
    prices: PRICES,
    deskApprovalUsdCents: NO_DESK_APPROVAL,
    logLevel: 'warn',
  });
  const env: Record<string, string> = kind === 'postgres' ? { DATABASE_URL: await serverDatabase(pg!) } : {};
  const service = new OtcProcess(dev.configFile, env);
  t.services.push(service);
  const url = await service.start(120_000);
  const clients: string[] = [];
  for (let i = 0; i < QUOTE_CLIENTS; i++) {
    const id = `bench-${String(i).padStart(2, '0')}`;
    await must(200, `${url}/v1/clients/${id}`, dev.tokens['desk-backend'], 'PUT', {
      kycTier: 'institutional',
      country: 'GB',
    });
    clients.push(id);
  }
  await must(201, `${url}/v1/inventory/funding`, dev.tokens.adam, 'POST', {
    asset: 'ETH',
    amount: (1_000_000n * ETH).toString(),
    reference: 'bench-inventory',
  });
  return { dev, url, service, clients };
}

/** The peer: fastify alone in its own process, answering POST /v1/quotes with `body`. */
async function startBare(t: Temp, body: Record<string, unknown>): Promise<string> {
  // The service's own fastify (the scripts package does not depend on it directly).
  const fastify = createRequire(new URL('../../packages/otc/package.json', import.meta.url)).resolve(
    'fastify',
  );
  const code = `
    const app = require(process.env.BENCH_FASTIFY)({ logger: false });
    const body = JSON.parse(process.env.BENCH_BODY);
    app.post('/v1/quotes', async (req, reply) => reply.code(201).send(body));
    app.listen({ host: '127.0.0.1', port: 0 }).then((url) => process.stdout.write(JSON.stringify({ url }) + '\\n'));`;
  const child = spawn(process.execPath, ['-e', code], {
    env: { ...process.env, BENCH_FASTIFY: fastify, BENCH_BODY: JSON.stringify(body) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the bare fastify peer did not start in 30 s')), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"url"'));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (c) => {
      clearTimeout(timer);
      reject(new Error(`the bare fastify peer exited with ${c}`));
    });
  });
}

type Window = { ok: number; failed: number; elapsedMs: number; samples: number[]; errors: Set<string> };

/** `concurrency` senders, each one request at a time, for `ms`. */
async function quoteWindow(
  url: string,
  token: string,
  clients: string[],
  concurrency: number,
  ms: number,
  w: Window,
): Promise<void> {
  let next = 0;
  const started = performance.now();
  const stopAt = started + ms;
  const sender = async () => {
    while (performance.now() < stopAt) {
      const clientId = clients[next++ % clients.length]!;
      const t0 = performance.now();
      try {
        const a = await http(`${url}/v1/quotes`, token, 'POST', {
          clientId,
          side: 'buy',
          asset: 'ETH',
          amount: (ETH / 10n).toString(),
          fiatCurrency: 'USD',
          kind: 'firm',
        });
        if (a.status === 201) {
          w.ok++;
          w.samples.push(performance.now() - t0);
        } else {
          w.failed++;
          if (w.errors.size < 5)
            w.errors.add(`${a.status} ${String(a.body.code)}: ${String(a.body.message)}`);
        }
      } catch (e) {
        w.failed++;
        if (w.errors.size < 5) w.errors.add(errorMessage(e));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, sender));
  w.elapsedMs += performance.now() - started;
}

type QuoteSide = {
  quotesPerSecond: number;
  answered: number;
  failures: number;
  seconds: number;
  latency?: LatencySummary;
  errors?: string[];
};

function quoteSide(w: Window): QuoteSide {
  return {
    quotesPerSecond: ratePerSecond(w.ok, w.elapsedMs),
    answered: w.ok,
    failures: w.failed,
    seconds: round3(w.elapsedMs / 1000),
    ...(w.samples.length > 0 ? { latency: latencySummary(w.samples) } : {}),
    ...(w.errors.size > 0 ? { errors: [...w.errors] } : {}),
  };
}

type QuotesCase = { service: QuoteSide; bare: QuoteSide; ratio: number | null };

async function quotesCase(
  t: Temp,
  kind: OtcDatabase,
  pg: PostgresServer | undefined,
  s: OtcSettings,
): Promise<QuotesCase> {
  const svc = await startService(t, kind, pg, {
    nodeUrls: ['http://127.0.0.1:9'],
    makerToken: randomBytes(24).toString('hex'),
    evmRpcUrl: 'http://127.0.0.1:9',
    assets: [PLACEHOLDER_ETH],
  });
  const token = svc.dev.tokens['desk-backend']!;
  const sample = await must(201, `${svc.url}/v1/quotes`, token, 'POST', {
    clientId: svc.clients[0],
    side: 'buy',
    asset: 'ETH',
    amount: (ETH / 10n).toString(),
    fiatCurrency: 'USD',
    kind: 'firm',
  });
  const bareUrl = await startBare(t, sample);
  const fresh = (): Window => ({ ok: 0, failed: 0, elapsedMs: 0, samples: [], errors: new Set() });
  const warm = fresh();
  // Untimed warm-up of both (JIT, connections), then four alternating windows per side.
  await quoteWindow(svc.url, token, svc.clients, s.concurrency, 500, warm);
  await quoteWindow(bareUrl, token, svc.clients, s.concurrency, 500, warm);
  const service = fresh();
  const bare = fresh();
  const windowMs = (s.quoteSeconds * 1000) / 4;
  for (let r = 0; r < 4; r++) {
    const order = r % 2 === 0 ? [true, false] : [false, true];
    for (const isService of order)
      if (isService) await quoteWindow(svc.url, token, svc.clients, s.concurrency, windowMs, service);
      else await quoteWindow(bareUrl, token, svc.clients, s.concurrency, windowMs, bare);
  }
  await svc.service.stop();
  const result = { service: quoteSide(service), bare: quoteSide(bare) };
  const ratio =
    result.bare.quotesPerSecond > 0 && result.service.failures === 0
      ? round3(result.service.quotesPerSecond / result.bare.quotesPerSecond)
      : null;
  log(
    `otc quotes ${kind}: ${result.service.quotesPerSecond}/s service, ${result.bare.quotesPerSecond}/s bare fastify (ratio ${ratio})`,
  );
  return { ...result, ratio };
}

// --------------------------------------------------------------------------------------- transitions

type OrderRef = { id: string; clientId: string };

/** A desk in this process on `db`, with clients and inventory, from the development configuration. */
async function benchDesk(t: Temp, db: Database): Promise<{ desk: Desk; clients: string[] }> {
  const dev = writeDevDesk({
    dir: tempDir(t, 'desk'),
    nodeUrls: ['http://127.0.0.1:9'],
    makerToken: randomBytes(24).toString('hex'),
    evmRpcUrl: 'http://127.0.0.1:9',
    assets: [PLACEHOLDER_ETH],
    prices: PRICES,
    deskApprovalUsdCents: NO_DESK_APPROVAL,
  });
  const config = loadConfigFile(dev.configFile, {});
  const desk = await openDesk(config, { db });
  const clients = Array.from({ length: 16 }, (_, i) => `bench-${String(i).padStart(2, '0')}`);
  await db.transaction(async (tx) => {
    for (const id of clients)
      await upsertClient(tx, { tiers: config.tiers }, { id, kycTier: 'institutional', country: 'GB' });
    await fundInventory(tx, { asset: 'ETH', amount: 1_000_000n * ETH, reference: 'bench-inventory' });
  });
  return { desk, clients };
}

/** Orders in awaiting_payment, made through the desk (quote, accept, screening); not timed. */
async function makeOrders(desk: Desk, clients: string[], count: number): Promise<OrderRef[]> {
  const deps = { config: desk.config, prices: desk.prices, now: desk.now };
  const out: OrderRef[] = [];
  for (let i = 0; i < count; i++) {
    const clientId = clients[i % clients.length]!;
    const quote = await requestQuote(desk.db, deps, {
      clientId,
      side: 'buy',
      asset: 'ETH',
      amount: ETH / 10n,
      fiatCurrency: 'USD',
      kind: 'firm',
    });
    const order = await desk.buy.acceptQuote(BACKEND, {
      clientId,
      quoteToken: quote.token!,
      destination: DESTINATION,
    });
    if (order.status !== 'awaiting_payment') throw new Error(`order ${order.id} is ${order.status}`);
    out.push({ id: order.id, clientId });
  }
  return out;
}

/** The audit lock of packages/otc/src/audit/log.ts (the same number, written here). */
const AUDIT_LOCK = 7_344_002;

/**
 * The peer: claim_payment's SQL transaction written by hand — lock the order, conditional update, the
 * event row, the outbox row, the audit entry after the chain head under the advisory lock.
 */
export async function bareClaimPayment(db: Database, o: OrderRef): Promise<void> {
  await db.transaction(async (tx) => {
    const row = (await tx.query('SELECT * FROM otc_orders WHERE id = $1 FOR UPDATE', [o.id])).rows[0];
    if (row === undefined || row.client_id !== o.clientId || row.status !== 'awaiting_payment')
      throw new Error(`bare SQL: order ${o.id} is not the client's or not awaiting payment`);
    const updated = await tx.query(
      `UPDATE otc_orders SET version = version + 1, updated_at = now(), status = $4
       WHERE id = $1 AND status = $2 AND version = $3 RETURNING *`,
      [o.id, 'awaiting_payment', row.version, 'payment_claimed'],
    );
    if (updated.rows.length !== 1) throw new Error(`bare SQL: order ${o.id} changed meanwhile`);
    await tx.query(
      `INSERT INTO otc_order_events (order_id, event, from_status, to_status, actor, role, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [o.id, 'claim_payment', 'awaiting_payment', 'payment_claimed', BACKEND.id, BACKEND.role, {}],
    );
    const createdAt = new Date().toISOString();
    const id = `evt_${randomBytes(12).toString('hex')}`;
    const payload = { id, type: 'order.payment_claimed', createdAt, data: { order: updated.rows[0] } };
    await tx.query(
      `INSERT INTO otc_outbox (id, type, order_id, payload, created_at, next_attempt_at)
       VALUES ($1, $2, $3, $4::jsonb, $5, $5)`,
      [id, payload.type, o.id, JSON.stringify(payload), createdAt],
    );
    await tx.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
    const last = (
      await tx.query<{ seq: string; hash: string }>(
        'SELECT seq, hash FROM otc_audit ORDER BY seq DESC LIMIT 1',
      )
    ).rows[0];
    const seq = last === undefined ? 1 : Number(last.seq) + 1;
    const prevHash = last?.hash ?? '0'.repeat(64);
    const entry = {
      seq,
      at: createdAt,
      actor: BACKEND.id,
      role: BACKEND.role,
      action: 'order.claim_payment',
      subject: o.id,
      detail: { from: 'awaiting_payment', to: 'payment_claimed' },
    };
    const hash = createHash('sha256').update(prevHash).update(JSON.stringify(entry)).digest('hex');
    await tx.query(
      `INSERT INTO otc_audit (seq, at, actor, role, action, subject, detail, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)`,
      [
        seq,
        entry.at,
        entry.actor,
        entry.role,
        entry.action,
        entry.subject,
        JSON.stringify(entry.detail),
        prevHash,
        hash,
      ],
    );
  });
}

/** Runs `fn` over `items` with `concurrency` in flight; the elapsed ms. */
async function drain<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
  return performance.now() - t0;
}

type TransitionSide = { latency: LatencySummary; perSecond: number };
type TransitionsCase = {
  transition: string;
  service: TransitionSide;
  bareSql: TransitionSide;
  p50Ratio: number;
  setupOrders: number;
};

async function transitionsCase(
  t: Temp,
  kind: OtcDatabase,
  pg: PostgresServer | undefined,
  s: OtcSettings,
): Promise<TransitionsCase> {
  const db =
    kind === 'pglite'
      ? await openDatabase({ dataDir: join(tempDir(t, 'pglite'), 'db') })
      : await openDatabase({ url: await serverDatabase(pg!) });
  const { desk, clients } = await benchDesk(t, db);
  try {
    const warmup = 10;
    const perSide = warmup + s.transitions + s.transitionBatch;
    log(`otc transitions ${kind}: making ${2 * perSide} orders (quote, accept, screening; not timed)`);
    const svcOrders = await makeOrders(desk, clients, perSide);
    const bareOrders = await makeOrders(desk, clients, perSide);
    const service = async (o: OrderRef) => {
      await desk.buy.claimPayment(BACKEND, o.id, o.clientId);
    };
    const bare = (o: OrderRef) => bareClaimPayment(db, o);
    for (let i = 0; i < warmup; i++) {
      await service(svcOrders[i]!);
      await bare(bareOrders[i]!);
    }
    const svcSamples: number[] = [];
    const bareSamples: number[] = [];
    for (let i = warmup; i < warmup + s.transitions; i++) {
      const pair: [() => Promise<void>, number[]][] = [
        [() => service(svcOrders[i]!), svcSamples],
        [() => bare(bareOrders[i]!), bareSamples],
      ];
      if (i % 2 === 1) pair.reverse();
      for (const [run, samples] of pair) {
        const t0 = performance.now();
        await run();
        samples.push(performance.now() - t0);
      }
    }
    const batchSvc = svcOrders.slice(warmup + s.transitions);
    const batchBare = bareOrders.slice(warmup + s.transitions);
    const half = Math.ceil(s.transitionBatch / 2);
    let svcMs = 0;
    let bareMs = 0;
    svcMs += await drain(batchSvc.slice(0, half), s.concurrency, service);
    bareMs += await drain(batchBare.slice(0, half), s.concurrency, bare);
    bareMs += await drain(batchBare.slice(half), s.concurrency, bare);
    svcMs += await drain(batchSvc.slice(half), s.concurrency, service);
    const out: TransitionsCase = {
      transition: 'claim_payment (awaiting_payment → payment_claimed)',
      service: { latency: latencySummary(svcSamples), perSecond: ratePerSecond(batchSvc.length, svcMs) },
      bareSql: { latency: latencySummary(bareSamples), perSecond: ratePerSecond(batchBare.length, bareMs) },
      p50Ratio: 0,
      setupOrders: 2 * perSide,
    };
    out.p50Ratio = round3(out.service.latency.p50Ms / out.bareSql.latency.p50Ms);
    log(
      `otc transitions ${kind}: service p50 ${out.service.latency.p50Ms} ms (${out.service.perSecond}/s), bare SQL p50 ${out.bareSql.latency.p50Ms} ms (${out.bareSql.perSecond}/s), ratio ${out.p50Ratio}`,
    );
    return out;
  } finally {
    await desk.close();
    await db.close();
  }
}

// ----------------------------------------------------------------------------------------------- e2e

async function nodeMetric(url: string, line: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  let sum = 0;
  // Summed over label sets (one series per key when the node labels them).
  for (const l of text.split('\n'))
    if (l.startsWith(`${line} `) || l.startsWith(`${line}{`)) sum += Number(l.slice(l.lastIndexOf(' ') + 1));
  return sum;
}

/** Until every node holds presignatures and none is refilling (so no background presigning is timed). */
async function waitForQuietPools(urls: string[], timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const refill = await Promise.all(urls.map((u) => nodeMetric(u, 'coffer_presignature_refill_running')));
    const ready = await Promise.all(urls.map((u) => nodeMetric(u, 'coffer_presignatures_ready')));
    if (refill.every((r) => r === 0) && ready.every((r) => r >= 1)) return;
    if (Date.now() > deadline)
      throw new Error(`presignature pools not ready and quiet within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Presigned = {
  latency?: LatencySummary;
  signings: number;
  failures: number;
  presignedSignings: number;
  errors?: string[];
};

async function presignedPeer(
  w: DeskCluster,
  key: { id: string; publicKey: string },
  s: OtcSettings,
): Promise<Presigned> {
  const consumed = async () => {
    let n = 0;
    for (const u of w.nodeUrls) n += await nodeMetric(u, 'coffer_presignatures_total{event="consumed"}');
    return n;
  };
  const samples: number[] = [];
  const errors = new Set<string>();
  let failures = 0;
  const warmup = 3;
  let before = 0;
  for (let i = 0; i < warmup + s.signings; i++) {
    if (i === warmup) before = await consumed();
    const url = w.nodeUrls[i % w.nodeUrls.length]!;
    await waitForQuietPools(w.nodeUrls);
    const digest = randomBytes(32);
    const t0 = performance.now();
    const a = await http(`${url}/v1/sign`, w.spec.adminToken, 'POST', {
      keyId: key.id,
      digest: Buffer.from(digest).toString('hex'),
    }).catch((e: unknown) => ({ status: 0, body: { message: errorMessage(e) } }) as Answer);
    const ms = performance.now() - t0;
    if (i < warmup) continue;
    const sig = a.body.signature;
    if (
      a.status < 300 &&
      typeof sig === 'string' &&
      verifySignature('ecdsa-secp256k1', key.publicKey, digest, sig)
    )
      samples.push(ms);
    else {
      failures++;
      if (errors.size < 5) errors.add(`${a.status} ${String(a.body.code)}: ${String(a.body.message)}`);
    }
  }
  const presignedSignings = ((await consumed()) - before) / 2;
  const latency = samples.length > 0 ? latencySummary(samples) : undefined;
  log(`otc e2e peer: presigned signing p50 ${latency?.p50Ms} ms over ${samples.length} signings`);
  return {
    ...(latency ? { latency } : {}),
    signings: s.signings,
    failures,
    presignedSignings,
    ...(errors.size > 0 ? { errors: [...errors] } : {}),
  };
}

type OrderRun = {
  id: string;
  /** Wall-clock ms when the quote request was sent (the events' and the nodes' times are compared with it). */
  t0: number;
  amount: bigint;
  destination: string;
  releaseKey: string | null;
  txHash: string | null;
  status: string;
  steps: Record<string, number>;
};

const DONE = new Set(['completed', 'reconciled', 'release_failed', 'cancelled', 'rejected', 'expired']);

/** One buy order through the service's API, waited for until completed (or failed). */
async function buyOrder(
  url: string,
  tokens: Record<string, string>,
  clientId: string,
  amount: bigint,
  destination: string,
): Promise<OrderRun> {
  const backend = tokens['desk-backend'];
  const t0 = Date.now();
  const p0 = performance.now();
  const quote = await must(201, `${url}/v1/quotes`, backend, 'POST', {
    clientId,
    side: 'buy',
    asset: 'ETH',
    amount: amount.toString(),
    fiatCurrency: 'USD',
    kind: 'firm',
  });
  const pQuote = performance.now();
  const order = await must(201, `${url}/v1/orders`, backend, 'POST', {
    clientId,
    quoteToken: quote.token,
    destination,
  });
  const pOrder = performance.now();
  await must(201, `${url}/v1/fiat/evidence`, tokens.olivia, 'POST', {
    paymentReference: order.paymentReference,
    bankReference: `BENCH-${randomBytes(8).toString('hex')}`,
    amount: order.fiatAmount,
    currency: 'USD',
    transferredAt: new Date().toISOString(),
  });
  const pEvidence = performance.now();
  const id = String(order.id);
  let view: Record<string, unknown> = order;
  const deadline = Date.now() + 120_000;
  while (!DONE.has(String(view.status)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    view = await must(200, `${url}/v1/orders/${id}`, tokens.olivia, 'GET');
  }
  const events = (await must(200, `${url}/v1/orders/${id}/events`, tokens.olivia, 'GET')).events as {
    event: string;
    at: string;
  }[];
  const at = (e: string) => {
    const found = events.find((x) => x.event === e);
    return found === undefined ? undefined : Date.parse(found.at) - t0;
  };
  const release = view.release as { idempotencyKey: string | null; txHash: string | null };
  const steps: Record<string, number> = {
    quoteMs: pQuote - p0,
    orderMs: pOrder - pQuote,
    evidenceMs: pEvidence - pOrder,
  };
  for (const [name, event] of [
    ['toReleasingMs', 'release'],
    ['toDeskSawBroadcastMs', 'custody_broadcast'],
    ['toCompletedMs', 'custody_confirmed'],
  ] as const) {
    const ms = at(event);
    if (ms !== undefined) steps[name] = ms;
  }
  return {
    id,
    t0,
    amount,
    destination,
    releaseKey: release.idempotencyKey,
    txHash: release.txHash,
    status: String(view.status),
    steps,
  };
}

export type TransferFacts = {
  orders: {
    id: string;
    amount: bigint;
    destination: string;
    txHash: string | null;
    nodeRequestIds: string[];
  }[];
  /** The transactions the orders name, as the chain has them (absent: unknown to the chain). */
  chain: Record<string, { from: string; to: string | null; value: bigint } | undefined>;
  hotAddress: string;
  /** Transactions the hot wallet sent meanwhile (nonce after − before). */
  sent: number;
};

export type TransferCheck = {
  orders: number;
  onChain: number;
  lost: number;
  duplicated: number;
  problems: string[];
};

/** Every order: exactly one node request under its key and its own transaction paying it; no extra ones. */
export function checkTransfers(f: TransferFacts): TransferCheck {
  const problems: string[] = [];
  let lost = 0;
  let duplicated = 0;
  const seen = new Map<string, string>();
  for (const o of f.orders) {
    const ids = new Set(o.nodeRequestIds);
    if (ids.size === 0) {
      lost++;
      problems.push(`${o.id}: no node request under its release key`);
      continue;
    }
    if (ids.size > 1) {
      duplicated += ids.size - 1;
      problems.push(`${o.id}: ${ids.size} node requests under its release key`);
    }
    const tx = o.txHash === null ? undefined : f.chain[o.txHash];
    if (o.txHash === null || tx === undefined) {
      lost++;
      problems.push(`${o.id}: no transaction on chain`);
      continue;
    }
    if (
      tx.from.toLowerCase() !== f.hotAddress.toLowerCase() ||
      tx.to?.toLowerCase() !== o.destination.toLowerCase() ||
      tx.value !== o.amount
    ) {
      lost++;
      problems.push(
        `${o.id}: transaction ${o.txHash} does not pay ${o.amount} to ${o.destination} from the hot wallet`,
      );
    }
    const other = seen.get(o.txHash);
    if (other !== undefined) {
      duplicated++;
      problems.push(`${o.id}: transaction ${o.txHash} is also order ${other}'s`);
    }
    seen.set(o.txHash, o.id);
  }
  if (f.sent > seen.size) {
    duplicated += f.sent - seen.size;
    problems.push(`the hot wallet sent ${f.sent} transactions for ${seen.size} orders`);
  }
  return { orders: f.orders.length, onChain: seen.size, lost, duplicated, problems: problems.slice(0, 10) };
}

type E2eCase = {
  orders: number;
  completed: number;
  toBroadcast?: LatencySummary;
  toCompleted?: LatencySummary;
  chainConfirmation?: LatencySummary;
  steps: Record<string, LatencySummary>;
  transfers: TransferCheck;
  errors?: string[];
};

async function hotNonce(w: DeskCluster): Promise<number> {
  return Number.parseInt(
    (await w.anvil.rpc('eth_getTransactionCount', [w.assets[0]!.hotAddress, 'latest'])) as string,
    16,
  );
}

async function e2eCase(
  t: Temp,
  w: DeskCluster,
  kind: OtcDatabase,
  pg: PostgresServer | undefined,
  s: OtcSettings,
): Promise<E2eCase> {
  const svc = await startService(t, kind, pg, {
    nodeUrls: w.nodeUrls,
    makerToken: w.makerToken,
    evmRpcUrl: w.anvil.url,
    assets: w.assets,
  });
  const nonceBefore = await hotNonce(w);
  const runs: OrderRun[] = [];
  const errors = new Set<string>();
  for (let i = 0; i <= s.orders; i++) {
    await waitForQuietPools(w.nodeUrls);
    // 0.01 ETH plus i wei: each order's transaction is recognisable by its value.
    const amount = ETH / 100n + BigInt(runs.length + 1) * 1_000n + BigInt(Date.now() % 1000);
    try {
      const run = await buyOrder(
        svc.url,
        svc.dev.tokens,
        svc.clients[i % svc.clients.length]!,
        amount,
        CUSTOMERS[i % CUSTOMERS.length]!,
      );
      if (run.status !== 'completed' && errors.size < 5) errors.add(`order ${run.id} ended ${run.status}`);
      runs.push(run);
    } catch (e) {
      if (errors.size < 5) errors.add(errorMessage(e));
    }
  }
  const transfers = await transferFacts(w, runs, nonceBefore);
  await svc.service.stop();
  // The first order warms up the service and the nodes: checked for transfers, not timed.
  const timed = runs.slice(1).filter((r) => r.status === 'completed');
  const series = (name: string) =>
    timed.map((r) => r.steps[name]).filter((v): v is number => v !== undefined);
  const summary = (v: number[]) => (v.length > 0 ? latencySummary(v) : undefined);
  const confirm = timed
    .filter((r) => r.steps.toCompletedMs !== undefined && r.steps.toBroadcastMs !== undefined)
    .map((r) => r.steps.toCompletedMs! - r.steps.toBroadcastMs!);
  const steps: Record<string, LatencySummary> = {};
  for (const name of [
    'quoteMs',
    'orderMs',
    'evidenceMs',
    'toReleasingMs',
    'toNodeRequestMs',
    'toDeskSawBroadcastMs',
  ]) {
    const v = summary(series(name));
    if (v) steps[name] = v;
  }
  const out: E2eCase = {
    orders: runs.length,
    completed: runs.filter((r) => r.status === 'completed').length,
    ...(summary(series('toBroadcastMs')) ? { toBroadcast: summary(series('toBroadcastMs'))! } : {}),
    ...(summary(series('toCompletedMs')) ? { toCompleted: summary(series('toCompletedMs'))! } : {}),
    ...(summary(confirm) ? { chainConfirmation: summary(confirm)! } : {}),
    steps,
    transfers: checkTransfers(transfers),
    ...(errors.size > 0 ? { errors: [...errors] } : {}),
  };
  log(
    `otc e2e ${kind}: ${out.completed}/${out.orders} completed, to broadcast p50 ${out.toBroadcast?.p50Ms} ms, to completed p50 ${out.toCompleted?.p50Ms} ms; lost ${out.transfers.lost}, duplicated ${out.transfers.duplicated}`,
  );
  return out;
}

async function transferFacts(w: DeskCluster, runs: OrderRun[], nonceBefore: number): Promise<TransferFacts> {
  const clients = w.nodeUrls.map(
    (url) => new CofferClient({ url, apiKey: w.spec.adminToken, timeoutMs: 10_000 }),
  );
  const orders: TransferFacts['orders'] = [];
  const chain: TransferFacts['chain'] = {};
  for (const r of runs) {
    const ids: string[] = [];
    let created = Number.POSITIVE_INFINITY;
    let broadcast = Number.POSITIVE_INFINITY;
    if (r.releaseKey !== null)
      for (const c of clients)
        for (const v of await c.requests({ idempotencyKey: r.releaseKey })) {
          ids.push(v.id);
          // The earliest node to record each step (the coordinator; peers learn of it later).
          created = Math.min(created, Date.parse(v.createdAt));
          for (const h of v.history)
            if (h.status === 'broadcast') broadcast = Math.min(broadcast, Date.parse(h.at));
        }
    if (Number.isFinite(created)) r.steps.toNodeRequestMs = created - r.t0;
    if (Number.isFinite(broadcast)) r.steps.toBroadcastMs = broadcast - r.t0;
    orders.push({
      id: r.id,
      amount: r.amount,
      destination: r.destination,
      txHash: r.txHash,
      nodeRequestIds: ids,
    });
    if (r.txHash === null) continue;
    const tx = (await w.anvil.rpc('eth_getTransactionByHash', [r.txHash])) as {
      from: string;
      to: string | null;
      value: string;
    } | null;
    chain[r.txHash] = tx === null ? undefined : { from: tx.from, to: tx.to, value: BigInt(tx.value) };
  }
  return { orders, chain, hotAddress: w.assets[0]!.hotAddress, sent: (await hotNonce(w)) - nonceBefore };
}

/** Sets the presign section of every node's configuration and restarts them with it. */
async function restartWithPool(w: DeskCluster, pool: number): Promise<void> {
  await Promise.all(w.nodes.map((n) => n.stop()));
  for (const n of w.nodes) {
    const cfg = JSON.parse(readFileSync(n.spec.config, 'utf8')) as Record<string, unknown>;
    cfg.presign = { poolSize: pool, paths: ['m'] };
    writeFileSync(n.spec.config, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
  }
  await Promise.all(w.nodes.map((n) => n.start({ timeoutMs: 60_000 })));
}

type E2eSection = {
  setup: Record<string, unknown>;
  presigned: Presigned;
  cases: Partial<Record<OtcDatabase, E2eCase | { error: string }>>;
};

async function runE2e(t: Temp, pg: PostgresServer | undefined, s: OtcSettings): Promise<E2eSection> {
  log('otc e2e: starting anvil, three signer nodes and the hot wallet');
  const w = await startDeskCluster({ timeoutMs: 240_000 });
  try {
    // The peer's key: raw digests are signed only for a key a rawDigest rule names.
    const raw = await w
      .admin()
      .keygen({ scheme: 'ecdsa-secp256k1', threshold: 2, parties: 3, label: 'bench raw' });
    await allowRawDigests(w.spec, [{ id: raw.id, publicKey: raw.publicKey }]);
    await restartWithPool(w, s.pool);
    log(`otc e2e: nodes restarted with ${s.pool} presignatures per key; waiting for the pools`);
    await waitForQuietPools(w.nodeUrls);
    const presigned = await presignedPeer(w, { id: raw.id, publicKey: raw.publicKey }, s);
    const cases: E2eSection['cases'] = {};
    for (const kind of s.databases)
      cases[kind] = await e2eCase(t, w, kind, pg, s).catch((e: unknown) => {
        log(`otc e2e ${kind}: not measured: ${errorMessage(e)}`);
        return { error: errorMessage(e) };
      });
    return {
      setup: { nodes: 3, threshold: '2-of-3', presignPool: s.pool, chain: 'anvil (automine)', asset: 'ETH' },
      presigned,
      cases,
    };
  } finally {
    await w.stop();
  }
}

// ------------------------------------------------------------------------------------------- section

export type OtcSection = {
  includes: typeof OTC_INCLUDES;
  settings: OtcSettings;
  quotes: Partial<Record<OtcDatabase, QuotesCase | { error: string }>>;
  transitions: Partial<Record<OtcDatabase, TransitionsCase | { error: string }>>;
  e2e: E2eSection | { skipped: string } | { error: string };
  targets: Record<string, TargetRecord>;
};

const measured = <T extends object>(
  v: T | { error: string } | { skipped: string } | undefined,
): T | undefined => (v === undefined || 'error' in v || 'skipped' in v ? undefined : v);

/** The section's targets from its figures (ratios in the same run). */
export function otcTargets(
  quotes: OtcSection['quotes'],
  transitions: OtcSection['transitions'],
  e2e: OtcSection['e2e'],
): Record<string, TargetRecord> {
  const out: Record<string, TargetRecord> = {};
  for (const kind of OTC_DATABASES) {
    const q = quotes[kind];
    if (q !== undefined)
      out[`otcQuotesVsBare ${kind}`] = targetRecord({
        what: `firm quotes/s through the OTC service (${kind}) / quotes/s of a bare fastify route answering the same JSON (otc.quotes.${kind})`,
        value: measured(q)?.ratio ?? undefined,
        target: OTC_TARGETS.quotesVsBare,
        comparison: '>=',
        unit: 'ratio',
        missing: 'error' in q ? q.error : 'a quote failed or nothing measured',
      });
    const tr = transitions[kind];
    if (tr !== undefined)
      out[`otcTransitionVsBareSql ${kind}`] = targetRecord({
        what: `claim_payment p50 through BuyDesk / p50 of the same SQL transaction by hand, ${kind} (otc.transitions.${kind})`,
        value: measured(tr)?.p50Ratio,
        target: OTC_TARGETS.transitionP50VsBareSql,
        comparison: '<=',
        unit: 'ratio',
        ...('error' in tr ? { missing: tr.error } : {}),
      });
  }
  const e = measured(e2e);
  const peer = e?.presigned.latency?.p50Ms;
  for (const kind of OTC_DATABASES) {
    const c = e?.cases[kind];
    const m = measured(c);
    if (e === undefined || c === undefined) continue;
    const p50 = m?.toBroadcast?.p50Ms;
    out[`otcE2eVsPresigned ${kind}`] = targetRecord({
      what: `end-to-end buy order p50 from quote to the node's broadcast (chain confirmation excluded), ${kind} / presigned signing p50 through the cluster (otc.e2e)`,
      value: p50 !== undefined && peer !== undefined && peer > 0 ? round3(p50 / peer) : undefined,
      target: OTC_TARGETS.e2eP50VsPresigned,
      comparison: '<=',
      unit: 'ratio',
      ...(c !== undefined && 'error' in c ? { missing: c.error } : {}),
    });
    if (m !== undefined)
      out[`otcTransfers ${kind}`] = targetRecord({
        what: `lost + duplicated transfers over the end-to-end orders, ${kind} (otc.e2e.cases.${kind}.transfers)`,
        value: m.transfers.lost + m.transfers.duplicated,
        target: 0,
        comparison: '<=',
        unit: 'transfers',
        requires: [
          { holds: m.completed === m.orders, otherwise: `${m.completed} of ${m.orders} orders completed` },
        ],
      });
  }
  return out;
}

export async function runOtc(s: OtcSettings): Promise<OtcSection> {
  // The section chooses each database itself: a DATABASE_URL in the bench's environment would send the
  // embedded cases to a server.
  delete process.env.DATABASE_URL;
  const t: Temp = { dirs: [], children: [], services: [] };
  const killAll = () => {
    for (const c of t.children) c.kill('SIGKILL');
    for (const svc of t.services) svc.child?.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const quotes: OtcSection['quotes'] = {};
  const transitions: OtcSection['transitions'] = {};
  let e2e: OtcSection['e2e'] = { skipped: 'BENCH_OTC_ORDERS=0 leaves the cluster part out' };
  let pg: PostgresServer | undefined;
  try {
    if (s.databases.includes('postgres')) {
      log('otc: starting a PostgreSQL server');
      pg = await startPostgres();
    }
    const guarded = async <T>(label: string, run: () => Promise<T>): Promise<T | { error: string }> =>
      run().catch((e: unknown) => {
        log(`otc ${label}: not measured: ${errorMessage(e)}`);
        return { error: errorMessage(e) };
      });
    for (const kind of s.databases)
      quotes[kind] = await guarded(`quotes ${kind}`, () => quotesCase(t, kind, pg, s));
    for (const kind of s.databases)
      transitions[kind] = await guarded(`transitions ${kind}`, () => transitionsCase(t, kind, pg, s));
    if (s.orders > 0) e2e = await guarded('e2e', () => runE2e(t, pg, s));
  } finally {
    await Promise.all(t.services.map((svc) => svc.stop().catch(() => undefined)));
    killAll();
    process.removeListener('exit', killAll);
    pg?.stop();
    for (const d of t.dirs) rmSync(d, { recursive: true, force: true });
  }
  return {
    includes: OTC_INCLUDES,
    settings: s,
    quotes,
    transitions,
    e2e,
    targets: otcTargets(quotes, transitions, e2e),
  };
}
