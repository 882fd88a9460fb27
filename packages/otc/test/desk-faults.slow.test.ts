// Money-loss scenarios of the OTC service that need the real signer nodes: a real service process
// (helpers/service.ts) on a PostgreSQL server database, three real signer-node processes and anvil
// (helpers/cluster.ts, one world for the file). A custody call that times out, a service killed with
// SIGKILL after the node accepted a transfer and before the order recorded it, a release attempted during
// an emergency freeze, and two service processes on one database receiving the same bank payment at the
// same instant: each ends with at most one transfer to the customer on chain, counted on anvil. Node
// timeouts come from an HTTP proxy in front of a real node (nothing of a node is mocked).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AssetConfig } from '../src/config/types.ts';
import { CustodyClient } from '../src/custody/release.ts';
import { openDatabase } from '../src/db/database.ts';
import { checkLedger } from '../src/ledger/ledger.ts';
import { loadOrder } from '../src/orders/store.ts';
import { type DeskCluster, ETH, startDeskCluster, transactionsBetween } from './helpers/cluster.ts';
import { createServerDatabase } from './helpers/db.ts';
import {
  type ClusterDeskOptions,
  evidenceFor,
  fundInventoryFromChain,
  type NodeProxy,
  nodeProxy,
  type OtcService,
  placeOrder,
  startService,
  writeClusterDesk,
} from './helpers/service.ts';

let w: DeskCluster;
let chain: CustodyClient;
let eth: AssetConfig;
/** Services and proxies of the running test, stopped after it whatever happened. */
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  w = await startDeskCluster();
  chain = new CustodyClient(w.custody());
  eth = w.assets[0]!;
}, 180_000);

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
});

afterAll(async () => {
  await w?.stop();
});

/** A new PostgreSQL database and a service on it, funded with the hot wallet's on-chain balances. */
async function deskOn(o: ClusterDeskOptions = {}) {
  const databaseUrl = await createServerDatabase();
  const dev = writeClusterDesk(w, o);
  const svc = await startService(dev, databaseUrl);
  cleanup.push(() => svc.stop());
  await fundInventoryFromChain(svc, w, (a, address) => chain.balanceOf(a, address));
  return { svc, dev, databaseUrl };
}

async function proxyFor(node: number, mode: NodeProxy['mode']): Promise<NodeProxy> {
  const proxy = await nodeProxy(w.nodeUrls[node]!, mode);
  cleanup.push(() => proxy.close());
  return proxy;
}

/** Every operator's node requests under `key`, from every node. */
async function nodeRequestsUnder(key: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const i of w.nodes.keys())
    for (const r of await w.admin(i).requests({ idempotencyKey: key })) ids.add(r.id);
  return ids;
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Places and pays an order: returns its id once the fiat evidence made it paid. */
async function paidOrder(svc: OtcService, clientId: string, amount: bigint, to: string): Promise<string> {
  const { order } = await placeOrder(svc, { clientId, asset: 'ETH', amount, destination: to });
  const paid = await svc.call('POST', '/v1/fiat/evidence', 'olivia', evidenceFor(order, `BANK-${clientId}`));
  expect(paid.status, JSON.stringify(paid.body)).toBe(201);
  expect(paid.body.outcome).toBe('paid');
  return String(order.id);
}

/** The order completed with exactly one transfer to `to` on chain, of exactly `amount`, under one node request. */
async function expectOneTransfer(svc: OtcService, id: string, to: string, amount: bigint) {
  const done = await svc.waitForOrder(id, (o) => o.status === 'completed', 90_000);
  const release = done.release as { requestId: string; txHash: string; idempotencyKey: string };
  expect(await nodeRequestsUnder(release.idempotencyKey)).toEqual(new Set([release.requestId]));
  expect(await transactionsBetween(w.anvil, w.hotAddress, to)).toEqual([release.txHash]);
  expect(await chain.balanceOf(eth, to)).toBe(amount);
  const check = await svc.call('GET', '/v1/ledger/check', 'audrey');
  expect(check.body).toEqual({ balanced: true, problems: [] });
}

describe('money-loss faults of the OTC service process with real signer nodes', () => {
  it('custody timeout then retry: the create that timed out is found by the order’s key on a later tick — exactly one transfer, not two', async () => {
    const proxy = await proxyFor(0, 'hold-create');
    const { svc } = await deskOn({
      custody: { nodes: [proxy.url, w.nodeUrls[1]!, w.nodeUrls[2]!], requestTimeoutMs: 2_000, pollMs: 100 },
    });
    const to = w.customers[4]!;
    const id = await paidOrder(svc, 'fault-timeout', ETH / 5n, to);
    const key = `otc:${id}:release`;
    // The worker's create reaches the proxy and gets no answer; the service gives up on it.
    await until('the first create', () => proxy.creates() >= 1);
    await new Promise((r) => setTimeout(r, 4_000));
    const stuck = (await svc.call('GET', `/v1/orders/${id}`, 'audrey')).body;
    expect(stuck.status).toBe('releasing');
    expect(stuck.release).toMatchObject({ idempotencyKey: key, requestId: null, txHash: null });
    expect(await nodeRequestsUnder(key)).toEqual(new Set());
    expect(await transactionsBetween(w.anvil, w.hotAddress, to)).toEqual([]);
    // The node receives it late (every create the service sent meanwhile went to that node only).
    await proxy.forwardHeld();
    expect(proxy.answered()).toBeGreaterThanOrEqual(1);
    await expectOneTransfer(svc, id, to, ETH / 5n);
  });

  it('the service is killed (SIGKILL) after the node accepted the transfer and before the order recorded it: the restarted service finds it by the order’s key — completed, exactly one transfer', async () => {
    const proxy = await proxyFor(0, 'hold-answer');
    const { svc, databaseUrl } = await deskOn({
      custody: { nodes: [proxy.url, w.nodeUrls[1]!, w.nodeUrls[2]!], requestTimeoutMs: 15_000 },
    });
    const to = w.customers[5]!;
    const id = await paidOrder(svc, 'fault-kill', (3n * ETH) / 10n, to);
    const key = `otc:${id}:release`;
    // The node has answered the create; the service is still waiting for that answer when it dies.
    await until('the node accepting the create', () => proxy.answered() >= 1);
    await svc.kill9();
    expect((await nodeRequestsUnder(key)).size).toBe(1);
    const db = await openDatabase({ url: databaseUrl });
    try {
      const order = await loadOrder(db, id);
      expect([order.status, order.releaseIdempotencyKey, order.releaseRequestId]).toEqual([
        'releasing',
        key,
        null,
      ]);
    } finally {
      await db.close();
    }
    proxy.mode = 'pass';
    await svc.start();
    await expectOneTransfer(svc, id, to, (3n * ETH) / 10n);
    expect(proxy.creates()).toBe(1);
  });

  it('a release attempted during an emergency freeze: desk approval refused with 423 and the worker creates no node request, even for an order already releasing without one; after the freeze is lifted both releases proceed', async () => {
    // Desk approval from 2,000.00 USD: a 0.9 ETH order (no approvals at the nodes) needs an ops checker,
    // a 0.1 ETH order does not. The proxy holds node 0's creates (the first node the service creates on).
    const proxy = await proxyFor(0, 'hold-create');
    const { svc } = await deskOn({
      deskApprovalUsdCents: 200_000n,
      custody: { nodes: [proxy.url, w.nodeUrls[1]!, w.nodeUrls[2]!], requestTimeoutMs: 2_000, pollMs: 100 },
    });
    // Order B is released by the worker at once; its create goes unanswered: releasing, no node request.
    const toB = w.customers[8]!;
    const b = await paidOrder(svc, 'fault-freeze-b', ETH / 10n, toB);
    await until('order B’s first create', () => proxy.creates() >= 1);
    // Order A waits for the desk approval.
    const toA = w.customers[6]!;
    const a = await paidOrder(svc, 'fault-freeze-a', (9n * ETH) / 10n, toA);
    expect((await svc.call('GET', `/v1/orders/${a}`, 'audrey')).body.status).toBe('awaiting_release');

    const frozen = await svc.call('POST', '/v1/freezes', 'adam', { scope: 'desk', reason: 'incident drill' });
    expect(frozen.status, JSON.stringify(frozen.body)).toBe(201);
    // Creates already past the freeze check when it committed end (time out) and never reach the node;
    // from now on the node is reachable again.
    await new Promise((r) => setTimeout(r, 3_000));
    proxy.dropHeld();
    proxy.mode = 'pass';
    const createsAtFreeze = proxy.creates();

    const refused = await svc.call('POST', `/v1/orders/${a}/desk-approval`, 'oscar', {});
    expect(refused.status).toBe(423);
    expect(refused.body.code).toBe('frozen');
    // Two worker ticks at least: order B is looked up, found nowhere, and not created while frozen.
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await svc.call('GET', `/v1/orders/${a}`, 'audrey')).body.status).toBe('awaiting_release');
    const stuck = (await svc.call('GET', `/v1/orders/${b}`, 'audrey')).body;
    expect([stuck.status, (stuck.release as Record<string, unknown>).requestId]).toEqual(['releasing', null]);
    expect(proxy.creates()).toBe(createsAtFreeze);
    for (const id of [a, b]) expect(await nodeRequestsUnder(`otc:${id}:release`)).toEqual(new Set());
    expect(await transactionsBetween(w.anvil, w.hotAddress, toA)).toEqual([]);
    expect(await transactionsBetween(w.anvil, w.hotAddress, toB)).toEqual([]);

    const lifted = await svc.call('POST', '/v1/freezes/lift', 'adam', {
      scope: 'desk',
      reason: 'drill over',
    });
    expect([lifted.status, lifted.body.lifted]).toEqual([200, true]);
    const approved = await svc.call('POST', `/v1/orders/${a}/desk-approval`, 'oscar', {});
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    await expectOneTransfer(svc, a, toA, (9n * ETH) / 10n);
    await expectOneTransfer(svc, b, toB, ETH / 10n);
  });

  it('two service processes on one PostgreSQL database receive the same bank payment at the same instant: one 201 and one 409, one paid order, one transfer on chain — double release from a replayed payment', async () => {
    const { svc: a, dev, databaseUrl } = await deskOn();
    const b = await startService(dev, databaseUrl);
    cleanup.push(() => b.stop());
    const to = w.customers[7]!;
    const amount = ETH / 4n;
    const { order } = await placeOrder(a, { clientId: 'fault-twins', asset: 'ETH', amount, destination: to });
    const id = String(order.id);
    const evidence = evidenceFor(order, 'BANK-TWINS-1');
    const answers = await Promise.all([
      a.call('POST', '/v1/fiat/evidence', 'olivia', evidence),
      b.call('POST', '/v1/fiat/evidence', 'olivia', evidence),
    ]);
    expect(answers.map((r) => r.status).sort()).toEqual([201, 409]);
    const conflict = answers.find((r) => r.status === 409)!;
    expect([conflict.body.code, conflict.body.field]).toEqual(['duplicate-bank-reference', 'bankReference']);
    // Both workers follow the order; one node request, one transaction.
    await expectOneTransfer(b, id, to, amount);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await transactionsBetween(w.anvil, w.hotAddress, to)).toHaveLength(1);
    const events = (await a.call('GET', `/v1/orders/${id}/events`, 'audrey')).body.events as {
      toStatus: string;
    }[];
    expect(events.filter((e) => e.toStatus === 'paid')).toHaveLength(1);
    const db = await openDatabase({ url: databaseUrl });
    try {
      const evidenceRows = await db.query('SELECT id FROM otc_fiat_evidence WHERE order_id = $1', [id]);
      expect(evidenceRows.rows).toHaveLength(1);
      expect(await checkLedger(db)).toEqual({ balanced: true, problems: [] });
    } finally {
      await db.close();
    }
  });
});
