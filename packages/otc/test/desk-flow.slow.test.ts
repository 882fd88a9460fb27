// The whole buy flow over HTTP against a real OTC service process (helpers/service.ts), three real
// signer-node processes and anvil (helpers/cluster.ts, one world for the file), once on the embedded
// database (a PGlite data directory) and once on a PostgreSQL server (DATABASE_URL): client registered,
// firm quote, order with payment instructions, fiat evidence by an ops maker, desk approval by an ops
// checker where the amount needs it, released through the nodes (which ask their own officers above the
// policy band: the desk never bypasses them), confirmed on anvil with the exact amount at the customer,
// completed, reconciled; then the ledger's check and the audit chain. ETH and the USDC ERC-20.
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAudit } from '../src/audit/log.ts';
import type { AssetConfig } from '../src/config/types.ts';
import { CustodyClient } from '../src/custody/release.ts';
import { openDatabase } from '../src/db/database.ts';
import { checkLedger } from '../src/ledger/ledger.ts';
import { type DeskCluster, ETH, startDeskCluster, transactionsBetween, USDC } from './helpers/cluster.ts';
import { createServerDatabase, DATABASE_KINDS } from './helpers/db.ts';
import {
  evidenceFor,
  fundInventoryFromChain,
  type OtcService,
  placeOrder,
  startService,
  writeClusterDesk,
} from './helpers/service.ts';

let w: DeskCluster;
let chain: CustodyClient;
let eth: AssetConfig;
let usdc: AssetConfig;

beforeAll(async () => {
  w = await startDeskCluster();
  chain = new CustodyClient(w.custody());
  [eth, usdc] = w.assets as [AssetConfig, AssetConfig];
}, 180_000);

afterAll(async () => {
  await w?.stop();
});

/** ERC-20 transfers the hot wallet sent to `to` (the token contract's transactions naming `to`). */
async function tokenTransfersTo(to: string): Promise<string[]> {
  const head = Number.parseInt((await w.anvil.rpc('eth_blockNumber')) as string, 16);
  const found: string[] = [];
  for (let n = 0; n <= head; n++) {
    const block = (await w.anvil.rpc('eth_getBlockByNumber', [`0x${n.toString(16)}`, true])) as {
      transactions: { hash: string; from: string; to: string | null; input: string }[];
    };
    for (const tx of block.transactions)
      if (
        tx.from.toLowerCase() === w.hotAddress &&
        tx.to?.toLowerCase() === w.token.contract &&
        tx.input.toLowerCase().includes(to.slice(2).toLowerCase())
      )
        found.push(tx.hash);
  }
  return found;
}

/** What the hot wallet paid in gas for these transactions (wei). */
async function feesOf(hashes: string[]): Promise<bigint> {
  let total = 0n;
  for (const hash of hashes) {
    const r = (await w.anvil.rpc('eth_getTransactionReceipt', [hash])) as {
      gasUsed: string;
      effectiveGasPrice: string;
    };
    total += BigInt(r.gasUsed) * BigInt(r.effectiveGasPrice);
  }
  return total;
}

const statuses = async (svc: OtcService, id: string) =>
  ((await svc.call('GET', `/v1/orders/${id}/events`, 'audrey')).body.events as { toStatus: string }[]).map(
    (e) => e.toStatus,
  );

describe.each(DATABASE_KINDS)('the buy flow through a real OTC service process on %s', (kind) => {
  let svc: OtcService;
  let databaseUrl: string | undefined;
  const completed: string[] = [];
  // Each database's orders pay their own customers, so the chain checks of one never see the other's.
  const [ethCustomer, usdcCustomer] = kind === 'pglite' ? [0, 1] : [2, 3];

  beforeAll(async () => {
    // Desk approval from 2,000.00 USD: the 1.5 ETH order needs an ops checker, the 500 USDC one does not.
    const dev = writeClusterDesk(w, { deskApprovalUsdCents: 200_000n });
    databaseUrl = kind === 'postgres' ? await createServerDatabase() : undefined;
    svc = await startService(dev, databaseUrl);
    const funded = await fundInventoryFromChain(svc, w, (a, address) => chain.balanceOf(a, address));
    expect(funded.ETH).toBeGreaterThan(10n * ETH);
  }, 120_000);

  afterAll(async () => {
    await svc?.stop();
  });

  it('ETH above the nodes’ approval band: desk approval by an ops checker, both officers at the nodes, exactly the order’s amount on chain, completed', async () => {
    const to = w.customers[ethCustomer]!;
    const amount = (3n * ETH) / 2n;
    const before = await chain.balanceOf(eth, to);
    const { quote, order } = await placeOrder(svc, {
      clientId: `flow-eth-${kind}`,
      asset: 'ETH',
      amount,
      destination: to,
    });
    // 1.5 × 3,000.00 USD + 50 bps.
    expect([quote.fiatAmount, order.fiatAmount, order.status]).toEqual([
      '452250',
      '452250',
      'awaiting_payment',
    ]);
    expect(order.deskApprovalRequired).toBe(true);
    expect(order.paymentInstructions).toMatchObject({
      currency: 'USD',
      amount: '452250',
      reference: order.paymentReference,
      account: { accountName: 'Coffer Desk Ltd' },
    });
    const id = String(order.id);

    const paid = await svc.call(
      'POST',
      '/v1/fiat/evidence',
      'olivia',
      evidenceFor(order, `BANK-ETH-${kind}`),
    );
    expect(paid.status, JSON.stringify(paid.body)).toBe(201);
    expect(paid.body.outcome).toBe('paid');
    expect((paid.body.order as Record<string, unknown>).status).toBe('awaiting_release');
    // Nothing leaves without the desk approval: the worker leaves the order alone.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await svc.call('GET', `/v1/orders/${id}`, 'audrey')).body.status).toBe('awaiting_release');
    expect(await transactionsBetween(w.anvil, w.hotAddress, to)).toEqual([]);

    const approved = await svc.call('POST', `/v1/orders/${id}/desk-approval`, 'oscar', {});
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(approved.body.status).toBe('releasing');

    // The nodes hold it for their officers; the desk waits and moves nothing itself.
    const waiting = await svc.waitForOrder(
      id,
      (o) => (o.release as Record<string, unknown>).nodeStatus === 'pending-approvals',
    );
    const release = waiting.release as { requestId: string; idempotencyKey: string };
    expect(release.requestId).toMatch(/^req-[0-9a-f]{24}$/);
    expect(release.idempotencyKey).toBe(`otc:${id}:release`);
    expect(waiting.status).toBe('releasing');
    expect(await chain.balanceOf(eth, to)).toBe(before);

    await w.approveAll(release.requestId);
    const done = await svc.waitForOrder(id, (o) => o.status === 'completed', 90_000);
    const txs = await transactionsBetween(w.anvil, w.hotAddress, to);
    expect(txs).toEqual([(done.release as { txHash: string }).txHash]);
    expect((await chain.balanceOf(eth, to)) - before).toBe(amount);
    const path = await statuses(svc, id);
    expect(path.slice(0, 7)).toEqual([
      'quoted',
      'compliance_check',
      'awaiting_payment',
      'awaiting_payment',
      'paid',
      'awaiting_release',
      'releasing',
    ]);
    // Node progress (pending approvals, signing, confirmations) is recorded in place.
    expect(path.slice(7).join(' ')).toMatch(/^(releasing )*(confirming )+completed$/);
    completed.push(id);
  });

  it('USDC (ERC-20) below both thresholds: released by the worker on its own, exactly the token amount on chain, completed', async () => {
    const to = w.customers[usdcCustomer]!;
    const amount = 500n * USDC;
    const before = await chain.balanceOf(usdc, to);
    const { order } = await placeOrder(svc, {
      clientId: `flow-usdc-${kind}`,
      asset: 'USDC',
      amount,
      destination: to,
    });
    // 500 USDC at 1.00 USD plus the 50 bps spread, rounded once at the end: 502.50 USD.
    expect([order.fiatAmount, order.deskApprovalRequired]).toEqual(['50250', false]);
    const id = String(order.id);
    const paid = await svc.call(
      'POST',
      '/v1/fiat/evidence',
      'olivia',
      evidenceFor(order, `BANK-USDC-${kind}`),
    );
    expect(paid.status, JSON.stringify(paid.body)).toBe(201);
    expect(paid.body.outcome).toBe('paid');
    // A checker has nothing to approve on an order that does not need it.
    const done = await svc.waitForOrder(id, (o) => o.status === 'completed', 90_000);
    const release = done.release as { requestId: string; txHash: string; nodeStatus: string };
    expect(release.nodeStatus).toBe('confirmed');
    expect(await tokenTransfersTo(to)).toEqual([release.txHash]);
    expect((await chain.balanceOf(usdc, to)) - before).toBe(amount);
    expect(await chain.balanceOf(eth, to)).toBe(0n);
    completed.push(id);
  });

  it('reconciles the completed orders against the nodes and the chain (reconciled), the ledger balances and the audit chain verifies', async () => {
    expect(completed).toHaveLength(2);
    const run = await svc.call('POST', '/v1/reconciliation/run', 'adam', {
      from: new Date(Date.now() - 3_600_000).toISOString(),
      to: new Date(Date.now() + 60_000).toISOString(),
    });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect([...(run.body.reconciled as string[])].sort(), JSON.stringify(run.body)).toEqual(
      [...completed].sort(),
    );
    expect(run.body.unmatched).toEqual([]);
    const report = run.body.report as { counts: Record<string, number>; items: Record<string, string>[] };
    expect(report.counts).toMatchObject({
      deliveries: 2,
      deliveriesMatched: 2,
      fiatEntries: 2,
      fiatEntriesMatched: 2,
    });
    // The gas the hot wallet paid in ETH for both transfers is booked to house:fees:ETH, so the hot
    // wallets match the chain to the base unit: nothing drifts.
    const fees = await feesOf(
      await Promise.all(
        completed.map(async (id) => {
          const o = (await svc.call('GET', `/v1/orders/${id}`, 'audrey')).body;
          return (o.release as { txHash: string }).txHash;
        }),
      ),
    );
    expect(report.items).toEqual([]);
    const balances = await svc.call('GET', '/v1/ledger/balances?asset=ETH&owner=house', 'audrey');
    const feeAccount = (balances.body.accounts as Record<string, string>[]).find(
      (a) => a.id === 'house:fees:ETH',
    );
    expect(feeAccount?.posted).toBe(fees.toString());
    for (const id of completed)
      expect((await svc.call('GET', `/v1/orders/${id}`, 'audrey')).body.status).toBe('reconciled');
    const check = await svc.call('GET', '/v1/ledger/check', 'audrey');
    expect([check.status, check.body]).toEqual([200, { balanced: true, problems: [] }]);
    const audit = await svc.call('GET', '/v1/audit/verify', 'audrey');
    expect(audit.status).toBe(200);
    expect(audit.body).toMatchObject({ ok: true, problems: [] });
  });

  it('after a clean stop, the database’s audit chain verifies and the ledger check passes on it directly', async () => {
    await svc.stop();
    const db = await openDatabase(
      databaseUrl !== undefined ? { url: databaseUrl } : { dataDir: join(dirname(svc.dev.configFile), 'db') },
    );
    try {
      const audit = await verifyAudit(db);
      expect(audit.problems).toEqual([]);
      expect(audit.ok).toBe(true);
      // Funding, clients, quotes, orders, evidence, approvals, releases, reconciliation: all audited.
      expect(audit.entries).toBeGreaterThan(15);
      expect(await checkLedger(db)).toEqual({ balanced: true, problems: [] });
    } finally {
      await db.close();
    }
  });
});
