// The OTC service as a real child process for process-level tests: `node --import tsx src/main.ts
// --config FILE` from a configuration written by writeDevDesk for the desk cluster (helpers/cluster.ts),
// on its embedded database (a PGlite data directory beside the config) or a PostgreSQL server through
// DATABASE_URL. start waits for the {"event":"otc-ready"} line; stop is SIGTERM (then SIGKILL after a
// grace period), kill9 a crash. `call` speaks HTTP to it as a named staff member, with an
// Idempotency-Key on every POST. `nodeProxy` is an HTTP proxy in front of a real signer node that can
// hold the desk's creates, or their answers, to make a custody call time out without mocking a node.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OtcConfig } from '../../src/config/types.ts';
import { type DevDesk, type DevPrice, writeDevDesk } from '../../src/dev/index.ts';
import type { DeskCluster } from './cluster.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
/** Start-up bound: tsx compiles the service on a loaded 2-core machine (usually 2–6 s). */
const READY_TIMEOUT_MS = 60_000;
/** After SIGTERM, how long a clean stop may take before SIGKILL. */
const STOP_GRACE_MS = 10_000;
/** One HTTP call to the service. */
const CALL_TIMEOUT_MS = 30_000;

/** 3,000.00 USD per ETH and 1.00 USD per USDC (minor units per whole unit). */
export const CLUSTER_PRICES: DevPrice[] = [
  { asset: 'ETH', fiat: 'USD', mid: 300_000n },
  { asset: 'USDC', fiat: 'USD', mid: 100n },
];

export type ClusterDeskOptions = {
  /** Desk approval (an ops checker) from this many USD cents (writeDevDesk's default otherwise). */
  deskApprovalUsdCents?: bigint;
  /** Fields of the custody section to replace (a proxy in front of a node, a short timeout). */
  custody?: Partial<OtcConfig['custody']>;
};

/** A development desk configuration for the cluster `w`, in a new directory. */
export function writeClusterDesk(w: DeskCluster, o: ClusterDeskOptions = {}): DevDesk {
  const dev = writeDevDesk({
    dir: mkdtempSync(join(tmpdir(), 'coffer-otc-service-')),
    nodeUrls: w.nodeUrls,
    makerToken: w.makerToken,
    evmRpcUrl: w.anvil.url,
    assets: w.assets,
    prices: CLUSTER_PRICES,
    ...(o.deskApprovalUsdCents !== undefined ? { deskApprovalUsdCents: o.deskApprovalUsdCents } : {}),
  });
  if (o.custody !== undefined) setCustody(dev.configFile, o.custody);
  return dev;
}

/** Rewrites the custody section of a written configuration (the secret stays in its file). */
export function setCustody(configFile: string, custody: Partial<OtcConfig['custody']>): void {
  if (custody.apiKey !== undefined) throw new Error('custody.apiKey: keep the file reference');
  const doc = JSON.parse(readFileSync(configFile, 'utf8')) as { custody: Record<string, unknown> };
  doc.custody = { ...doc.custody, ...custody };
  writeFileSync(configFile, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
}

export type CallResult = { status: number; body: Record<string, unknown> };

export class OtcService {
  child: ChildProcess | undefined;
  stdout = '';
  stderr = '';
  url = '';

  constructor(
    readonly dev: DevDesk,
    /** A PostgreSQL server database (DATABASE_URL); the PGlite data directory beside the config otherwise. */
    readonly databaseUrl?: string,
  ) {}

  /** Spawns the service and waits for its otc-ready line (or its exit, or READY_TIMEOUT_MS). */
  async start(): Promise<string> {
    if (this.running) throw new Error('the OTC service is already running');
    this.stdout = '';
    this.stderr = '';
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.DATABASE_URL;
    if (this.databaseUrl !== undefined) env.DATABASE_URL = this.databaseUrl;
    const child = spawn(process.execPath, ['--import', TSX, MAIN, '--config', this.dev.configFile], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-200_000);
    });
    const ready = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the OTC service was not ready within ${READY_TIMEOUT_MS} ms: ${this.stderr}`));
      }, READY_TIMEOUT_MS);
      child.stdout?.on('data', (d: Buffer) => {
        this.stdout = (this.stdout + d.toString()).slice(-200_000);
        const line = this.stdout.split('\n').find((l) => l.startsWith('{"event":"otc-ready"'));
        if (line === undefined) return;
        clearTimeout(timer);
        resolve(String((JSON.parse(line) as { url: string }).url));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the OTC service exited (${code ?? signal}) before it was ready: ${this.stderr}`));
      });
    });
    this.url = await ready;
    return this.url;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM (the service closes its server, worker and database), SIGKILL after STOP_GRACE_MS. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM', STOP_GRACE_MS);
  }

  /** SIGKILL: no cleanup at all, as in a crash or a power loss. */
  async kill9(): Promise<void> {
    await this.signal('SIGKILL', 0);
  }

  private async signal(sig: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(sig);
    const timer = graceMs > 0 ? setTimeout(() => child.kill('SIGKILL'), graceMs) : undefined;
    await exited;
    clearTimeout(timer);
  }

  /** One API call as staff member `who` (DEV_STAFF id); POSTs carry a fresh Idempotency-Key. */
  async call(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    who: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<CallResult> {
    const token = this.dev.tokens[who];
    if (token === undefined) throw new Error(`no staff member ${who}`);
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(method === 'POST' ? { 'idempotency-key': randomBytes(12).toString('hex') } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text },
    };
  }

  /** GET the order until `done(order)` holds (bounded); the last view in the error otherwise. */
  async waitForOrder(
    id: string,
    done: (order: Record<string, unknown>) => boolean,
    timeoutMs = 60_000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.call('GET', `/v1/orders/${id}`, 'audrey');
      if (r.status === 200 && done(r.body)) return r.body;
      if (Date.now() > deadline)
        throw new Error(`order ${id} after ${timeoutMs} ms: ${JSON.stringify(r.body)}\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Starts a service for `dev` and waits until it is ready. */
export async function startService(dev: DevDesk, databaseUrl?: string): Promise<OtcService> {
  const s = new OtcService(dev, databaseUrl);
  await s.start();
  return s;
}

/**
 * What the proxy does with the desk's `POST /v1/transfers` (every other request passes through):
 * - `pass`: forwards it;
 * - `hold-create`: keeps it until `forwardHeld()` (the node has not seen it; the desk's call times out);
 * - `hold-answer`: forwards it at once but never returns the node's answer (the node accepted it; the
 *   desk does not know).
 */
export type ProxyMode = 'pass' | 'hold-create' | 'hold-answer';

export type NodeProxy = {
  url: string;
  mode: ProxyMode;
  /** Creates the proxy received. */
  creates(): number;
  /** Creates the node answered (forwarded ones). */
  answered(): number;
  /** Sends the held creates to the node, one after the other; resolves when the node answered them all. */
  forwardHeld(): Promise<void>;
  /** Drops the held creates: the node never sees them, the desk sees its connection reset. */
  dropHeld(): number;
  close(): Promise<void>;
};

export async function nodeProxy(target: string, mode: ProxyMode): Promise<NodeProxy> {
  let creates = 0;
  let answered = 0;
  const held: { forward: () => Promise<void>; drop: () => void }[] = [];
  const toNode = async (req: IncomingMessage, body: string) => {
    const res = await fetch(`${target}${req.url}`, {
      method: req.method ?? 'GET',
      headers: {
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, text: await res.text() };
  };
  const reply = (res: ServerResponse, a: { status: number; text: string }) => {
    if (!res.destroyed) res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.text);
  };
  const proxy: NodeProxy = {
    url: '',
    mode,
    creates: () => creates,
    answered: () => answered,
    async forwardHeld() {
      for (const h of held.splice(0)) await h.forward();
    },
    dropHeld() {
      const dropped = held.splice(0);
      for (const h of dropped) h.drop();
      return dropped.length;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  const create = (req: IncomingMessage, body: string, res: ServerResponse) => {
    creates++;
    const forward = async () => {
      const a = await toNode(req, body);
      answered++;
      if (proxy.mode !== 'hold-answer') reply(res, a);
    };
    const lost = () => {
      res.destroy();
    };
    if (proxy.mode === 'hold-create') held.push({ forward: () => forward().catch(lost), drop: lost });
    else void forward().catch(lost);
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/transfers') create(req, body, res);
      else
        void toNode(req, body)
          .then((a) => reply(res, a))
          .catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

export type PlacedOrder = { quote: Record<string, unknown>; order: Record<string, unknown> };

/** The backend registers `clientId` (basic tier, DE), takes a firm buy quote and accepts it into an order. */
export async function placeOrder(
  svc: OtcService,
  o: { clientId: string; asset: string; amount: bigint; destination: string },
): Promise<PlacedOrder> {
  const client = await svc.call('PUT', `/v1/clients/${o.clientId}`, 'desk-backend', {
    kycTier: 'basic',
    country: 'DE',
  });
  if (client.status !== 200) throw new Error(`client: ${client.status} ${JSON.stringify(client.body)}`);
  const quote = await svc.call('POST', '/v1/quotes', 'desk-backend', {
    clientId: o.clientId,
    side: 'buy',
    asset: o.asset,
    amount: o.amount.toString(),
    fiatCurrency: 'USD',
    kind: 'firm',
  });
  if (quote.status !== 201) throw new Error(`quote: ${quote.status} ${JSON.stringify(quote.body)}`);
  const order = await svc.call('POST', '/v1/orders', 'desk-backend', {
    clientId: o.clientId,
    quoteToken: quote.body.token,
    destination: o.destination,
  });
  if (order.status !== 201) throw new Error(`order: ${order.status} ${JSON.stringify(order.body)}`);
  return { quote: quote.body, order: order.body };
}

/** The fiat evidence body an ops maker records for the order's full payment. */
export function evidenceFor(order: Record<string, unknown>, bankReference: string): Record<string, string> {
  return {
    paymentReference: String(order.paymentReference),
    bankReference,
    amount: String(order.fiatAmount),
    currency: String(order.fiatCurrency),
    transferredAt: new Date().toISOString(),
    sourceAccountLast4: '4821',
  };
}

/** The admin records inventory equal to the hot wallet's balance on chain, for every configured asset. */
export async function fundInventoryFromChain(
  svc: OtcService,
  w: DeskCluster,
  balanceOf: (asset: DeskCluster['assets'][number], address: string) => Promise<bigint>,
): Promise<Record<string, bigint>> {
  const funded: Record<string, bigint> = {};
  for (const asset of w.assets) {
    const amount = await balanceOf(asset, w.hotAddress);
    const r = await svc.call('POST', '/v1/inventory/funding', 'adam', {
      asset: asset.id,
      amount: amount.toString(),
      reference: `chain-balance-${asset.id}`,
    });
    if (r.status !== 201) throw new Error(`funding ${asset.id}: ${r.status} ${JSON.stringify(r.body)}`);
    funded[asset.id] = amount;
  }
  return funded;
}
