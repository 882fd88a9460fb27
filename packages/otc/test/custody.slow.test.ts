// Custody release against three real signer-node processes and a real anvil (helpers/cluster.ts; one
// world for the file): ETH and ERC-20 releases confirmed on chain with the exact amount; one order
// released twice, concurrently and from a second service instance, is one node request and one
// transaction; a create that times out is looked up, never blindly resent (the money-loss case); a
// node that may hold the transfer but cannot be asked blocks creating it elsewhere; Bitcoin and TRON are
// refused before any node is asked; a release above the policy band waits for both officers; a node
// that is down is passed over. No part of a node is mocked: the timeouts come from a TCP-level HTTP
// proxy in front of a real node that holds the desk's create.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AssetConfig } from '../src/config/types.ts';
import { CustodyClient, type ReleaseStatus } from '../src/custody/release.ts';
import { OtcError } from '../src/errors.ts';
import { type DeskCluster, ETH, startDeskCluster, transactionsBetween, USDC } from './helpers/cluster.ts';

let w: DeskCluster;
let custody: CustodyClient;
let eth: AssetConfig;
let usdc: AssetConfig;
let orders = 0;
const nextOrder = () => `ord_custody_${process.pid}_${++orders}`;

beforeAll(async () => {
  w = await startDeskCluster();
  custody = new CustodyClient(w.custody());
  [eth, usdc] = w.assets as [AssetConfig, AssetConfig];
}, 150_000);

afterAll(async () => {
  await w?.stop();
});

const TERMINAL = ['confirmed', 'denied', 'cancelled', 'expired', 'failed'];

/** Follows the request through the desk's client until it ends (bounded). */
async function settled(requestId: string, client = custody): Promise<ReleaseStatus> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const s = await client.status(requestId);
    if (TERMINAL.includes(s.nodeStatus)) return s;
    if (Date.now() > deadline) throw new Error(`${requestId} still ${s.nodeStatus} after 90 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function rejection(p: Promise<unknown>): Promise<OtcError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  if (!(e instanceof OtcError)) throw new Error(`expected an OtcError, got ${String(e)}`);
  return e;
}

/** Every operator's node requests under `key`, from every node that is up. */
async function nodeRequestsUnder(key: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const [i, n] of w.nodes.entries())
    if (n.running) for (const r of await w.admin(i).requests({ idempotencyKey: key })) ids.add(r.id);
  return ids;
}

/**
 * An HTTP proxy in front of a real node that holds every `POST /v1/transfers` until `forwardHeld()`
 * (or forever): from the desk's side the create times out while the node may still receive it.
 */
async function holdingProxy(target: string) {
  let posts = 0;
  const held: (() => Promise<void>)[] = [];
  const forward = async (req: IncomingMessage, body: string, res: ServerResponse) => {
    const answer = await fetch(`${target}${req.url}`, {
      method: req.method ?? 'GET',
      headers: {
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body } : {}),
    });
    const text = await answer.text();
    if (!res.destroyed) res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/transfers') {
        posts++;
        held.push(() => forward(req, body, res));
      } else void forward(req, body, res).catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts: () => posts,
    /** Lets the held creates through to the node; resolves once the node answered them. */
    forwardHeld: () => Promise.all(held.splice(0).map((f) => f())),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('custody release through real signer nodes and anvil', () => {
  it('releases ETH: confirmed on anvil with the exact amount at the destination', async () => {
    const to = w.customers[0]!;
    const before = await custody.balanceOf(eth, to);
    const hotBefore = await custody.balanceOf(eth, w.hotAddress);
    const s = await custody.release({
      orderId: nextOrder(),
      asset: eth,
      to,
      amount: ETH / 4n,
      reference: 'otc test ETH',
    });
    expect(s.requestId).toMatch(/^req-[0-9a-f]{24}$/);
    expect(s.decisionOutcome).toBe('allow');
    const done = await settled(s.requestId);
    expect(done.nodeStatus, done.error).toBe('confirmed');
    expect(done.signers).toHaveLength(2);
    expect(done.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(await custody.confirmations(eth, done.txHash!)).toBeGreaterThanOrEqual(1);
    expect((await custody.balanceOf(eth, to)) - before).toBe(ETH / 4n);
    // The hot wallet paid the amount and a fee, nothing else.
    expect(hotBefore - (await custody.balanceOf(eth, w.hotAddress))).toBeGreaterThan(ETH / 4n);
    expect(await custody.confirmations(eth, `0x${'ab'.repeat(32)}`)).toBeUndefined();
  });

  it('releases an ERC-20: confirmed on anvil with the exact token amount at the destination', async () => {
    const to = w.customers[1]!;
    const before = await custody.balanceOf(usdc, to);
    const s = await custody.release({
      orderId: nextOrder(),
      asset: usdc,
      to,
      amount: 250n * USDC,
      reference: 'otc test USDC',
    });
    const done = await settled(s.requestId);
    expect(done.nodeStatus, done.error).toBe('confirmed');
    expect((await custody.balanceOf(usdc, to)) - before).toBe(250n * USDC);
    expect(await custody.balanceOf(eth, to)).toBe(0n);
  });

  it('one order released twice, concurrently and by a second service instance, is one node request and one transaction — at most one transfer per order, ever', async () => {
    const orderId = nextOrder();
    const to = w.customers[2]!;
    const release = { orderId, asset: eth, to, amount: ETH / 10n, reference: `otc ${orderId}` };
    const [a, b] = await Promise.all([custody.release(release), custody.release(release)]);
    expect(b.requestId).toBe(a.requestId);
    // Another instance of the service, asking the nodes in another order: the lookup finds it.
    const other = new CustodyClient(w.custody({ nodes: [...w.nodeUrls].reverse() }));
    expect((await other.release(release)).requestId).toBe(a.requestId);
    expect(await nodeRequestsUnder(`otc:${orderId}:release`)).toEqual(new Set([a.requestId]));
    expect((await settled(a.requestId)).nodeStatus).toBe('confirmed');
    expect((await custody.release(release)).requestId).toBe(a.requestId);
    expect(await transactionsBetween(w.anvil, w.hotAddress, to)).toHaveLength(1);
    expect(await custody.balanceOf(eth, to)).toBe(ETH / 10n);
    // The same order with another amount or destination is never sent as a second transfer.
    const changed = await rejection(custody.release({ ...release, amount: ETH }));
    expect([changed.code, changed.field]).toEqual(['custody-error', 'amount']);
    const moved = await rejection(custody.release({ ...release, to: w.customers[3]! }));
    expect([moved.code, moved.field]).toEqual(['custody-error', 'to']);
    expect(await nodeRequestsUnder(`otc:${orderId}:release`)).toEqual(new Set([a.requestId]));
  });

  it('custody timeout then retry: the retry finds the first request by its key — exactly one transfer, not two', async () => {
    const proxy = await holdingProxy(w.nodeUrls[0]!);
    try {
      const desk = new CustodyClient(
        w.custody({
          nodes: [proxy.url, w.nodeUrls[1]!, w.nodeUrls[2]!],
          requestTimeoutMs: 1_000,
          pollMs: 100,
        }),
      );
      const orderId = nextOrder();
      const to = w.customers[4]!;
      const release = { orderId, asset: eth, to, amount: ETH / 5n, reference: `otc ${orderId}` };
      const first = await rejection(desk.release(release));
      expect(first.code).toBe('custody-error');
      expect(first.extra).toMatchObject({ outcome: 'unknown', node: proxy.url });
      expect(first.message).not.toContain(w.makerToken);
      // The node receives the create after the desk gave up on it.
      await proxy.forwardHeld();
      const created = [...(await nodeRequestsUnder(`otc:${orderId}:release`))];
      expect(created).toHaveLength(1);
      const retry = await desk.release(release);
      expect(retry.requestId).toBe(created[0]);
      expect(proxy.posts()).toBe(1);
      expect((await settled(retry.requestId, desk)).nodeStatus).toBe('confirmed');
      expect(await transactionsBetween(w.anvil, w.hotAddress, to)).toEqual([
        (await desk.status(retry.requestId)).txHash,
      ]);
      expect(await custody.balanceOf(eth, to)).toBe(ETH / 5n);
    } finally {
      await proxy.close();
    }
  });

  it('refuses to create on another node while the node that may hold the order’s unanswered create cannot be asked — double release after a timeout', async () => {
    const proxy = await holdingProxy(w.nodeUrls[0]!);
    const desk = new CustodyClient(
      w.custody({ nodes: [proxy.url, w.nodeUrls[1]!, w.nodeUrls[2]!], requestTimeoutMs: 1_000, pollMs: 100 }),
    );
    const orderId = nextOrder();
    const release = { orderId, asset: eth, to: w.customers[5]!, amount: ETH / 20n, reference: 'otc' };
    expect((await rejection(desk.release(release))).extra).toMatchObject({ outcome: 'unknown' });
    await proxy.close();
    const refused = await rejection(desk.release(release));
    expect([refused.code, refused.field]).toEqual(['custody-error', 'custody.nodes']);
    expect(refused.message).toMatch(/cannot be asked now/);
    expect(await nodeRequestsUnder(`otc:${orderId}:release`)).toEqual(new Set());
    expect(await transactionsBetween(w.anvil, w.hotAddress, w.customers[5]!)).toEqual([]);
  });

  it('refuses Bitcoin and TRON releases with unsupported-chain, and bad input naming the field, before any node is asked', async () => {
    let calls = 0;
    const server = createServer((_req, res) => {
      calls++;
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const desk = new CustodyClient(w.custody({ nodes: [url], evmRpcUrl: url }));
      const btc: AssetConfig = {
        ...eth,
        id: 'BTC',
        chain: 'bitcoin',
        network: 'bitcoin:mainnet',
        decimals: 8,
      };
      const trx: AssetConfig = { ...eth, id: 'TRX', chain: 'tron', network: 'tron:mainnet', decimals: 6 };
      for (const asset of [btc, trx]) {
        const to =
          asset.chain === 'bitcoin'
            ? 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'
            : 'TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf';
        const e = await rejection(
          desk.release({ orderId: nextOrder(), asset, to, amount: 1000n, reference: '' }),
        );
        expect([e.code, e.field, e.status]).toEqual(['unsupported-chain', 'asset', 422]);
        expect(e.message).toMatch(/do not yet build/);
        expect((await rejection(desk.balanceOf(asset, to))).code).toBe('unsupported-chain');
      }
      const good = { orderId: nextOrder(), asset: eth, to: w.customers[6]!, amount: 1n, reference: '' };
      const bad: [Record<string, unknown>, string][] = [
        [{ to: 'not-an-address' }, 'to'],
        [{ amount: 0n }, 'amount'],
        [{ amount: 1 }, 'amount'],
        [{ amount: 2n ** 256n }, 'amount'],
        [{ orderId: 'ord 1' }, 'orderId'],
        [{ idempotencyKey: `otc:${good.orderId}:release:1` }, 'idempotencyKey'],
        [{ idempotencyKey: 'otc:another-order:release' }, 'idempotencyKey'],
        [{ reference: 'x'.repeat(201) }, 'reference'],
        [{ asset: { ...eth, keyId: 'nope' } }, 'asset.keyId'],
        [{ asset: { ...usdc, contract: undefined } }, 'asset.contract'],
      ];
      for (const [patch, field] of bad) {
        const e = await rejection(desk.release({ ...good, ...patch } as typeof good));
        expect(
          [e.code, e.field],
          JSON.stringify(patch, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)),
        ).toEqual(['invalid-request', field]);
      }
      expect((await rejection(desk.status('req-1'))).field).toBe('requestId');
      expect(calls).toBe(0);
      // The API key never shows in the client's JSON or inspect output.
      expect(JSON.stringify(desk)).not.toContain(w.makerToken);
      expect(inspect(desk)).not.toContain(w.makerToken);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a release above the policy band waits in pending-approvals until both officers approve, then confirms', async () => {
    const to = w.customers[7]!;
    const s = await custody.release({
      orderId: nextOrder(),
      asset: eth,
      to,
      amount: 2n * ETH,
      reference: 'large',
    });
    expect(s.nodeStatus).toBe('pending-approvals');
    expect(s.decisionOutcome).toBe('needs-approvals');
    await new Promise((r) => setTimeout(r, 500));
    expect((await custody.status(s.requestId)).nodeStatus).toBe('pending-approvals');
    expect(await custody.balanceOf(eth, to)).toBe(0n);
    await w.approveAll(s.requestId);
    const done = await settled(s.requestId);
    expect(done.nodeStatus, done.error).toBe('confirmed');
    expect(await custody.balanceOf(eth, to)).toBe(2n * ETH);
  });

  // Last: it leaves the first node down.
  it('a node that is down is passed over: another node takes the release and it confirms', async () => {
    await w.nodes[0]!.kill9();
    const orderId = nextOrder();
    const to = w.customers[8]!;
    const s = await custody.release({ orderId, asset: usdc, to, amount: 5n * USDC, reference: 'down' });
    const key = `otc:${orderId}:release`;
    expect((await w.admin(1).requestByIdempotencyKey(key, { operator: 'otc-desk' }))?.id).toBe(s.requestId);
    const done = await settled(s.requestId);
    expect(done.nodeStatus, done.error).toBe('confirmed');
    expect(await custody.balanceOf(usdc, to)).toBe(5n * USDC);
  });
});
