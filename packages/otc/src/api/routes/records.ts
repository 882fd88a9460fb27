// Records for compliance, accounting and audit: ledger balances and its check, reconciliation (a report,
// and a run that marks the completed orders whose delivery and fiat both match as reconciled), the daily
// report, trade reports (JSON and CSV), the audit log and its verification, and the outbound webhooks'
// delivery log and resend. The chain side of reconciliation goes through the desk's custody client: the
// transfer each node request signed (Custody.releasedTransfer), the chain's confirmations, and the hot
// wallets' balances (Custody.balanceOf).
import { appendAudit, auditJsonLines, exportAudit, verifyAudit } from '../../audit/log.ts';
import type { Actor } from '../../config/types.ts';
import type { Queryable } from '../../db/database.ts';
import type { Desk } from '../../desk.ts';
import { OtcError } from '../../errors.ts';
import { checkLedger } from '../../ledger/ledger.ts';
import { fromNumeric } from '../../money.ts';
import { assetConfig } from '../../orders/deps.ts';
import { applyTransition, loadOrder } from '../../orders/store.ts';
import {
  type ChainLookup,
  type ChainTx,
  dailyReport,
  type ReconciliationItem,
  type ReconciliationReport,
  reconcile,
} from '../../reports/reconcile.ts';
import { type TradeFilter, toCsv, tradeReport } from '../../reports/trades.ts';
import { deliveryLog, resend } from '../../webhooks/deliver.ts';
import { assetId, closedObject, fiatCode, hex64, idString, limitQuery, timestamp } from '../schemas.ts';
import type { OtcApp } from '../server.ts';

const READERS = ['admin', 'auditor', 'compliance'] as const;
const eventParams = closedObject({ id: { type: 'string', pattern: '^evt_[0-9a-f]{24}$' } }, ['id']);
const windowQuery = closedObject({ from: timestamp, to: timestamp }, ['from', 'to']);
const BALANCES_LIMIT = 1000;

type Window = { from: Date; to: Date };

function windowOf(q: { from: string; to: string }): Window {
  return { from: new Date(q.from), to: new Date(q.to) };
}

export function registerRecordRoutes(app: OtcApp, desk: Desk): void {
  app.get(
    '/v1/assets',
    {
      config: { roles: ['backend', 'ops-maker', 'ops-checker', ...READERS] },
      schema: {
        summary:
          'The configured crypto assets and fiat currencies with their decimals, to read the base and minor units of the records',
      },
    },
    async () => ({
      assets: desk.config.assets.map((a) => ({ id: a.id, chain: a.chain, decimals: a.decimals })),
      fiat: desk.config.fiat.map((f) => ({ code: f.code, decimals: f.decimals })),
    }),
  );
  registerLedgerRoutes(app, desk);
  registerReconciliationRoutes(app, desk);
  registerReportRoutes(app, desk);
  registerAuditRoutes(app, desk);
  registerWebhookRoutes(app, desk);
}

function registerLedgerRoutes(app: OtcApp, desk: Desk): void {
  app.get(
    '/v1/ledger/check',
    {
      config: { roles: [...READERS] },
      schema: { summary: 'Double-entry check: every asset, order and hold balanced' },
    },
    async () => checkLedger(desk.db),
  );

  app.get(
    '/v1/ledger/balances',
    {
      config: { roles: [...READERS] },
      schema: {
        summary:
          'Ledger accounts with posted (credits − debits), pending holds and available, as decimal strings',
        querystring: closedObject(
          {
            asset: assetId,
            owner: { type: 'string', enum: ['client', 'house', 'external'] },
            clientId: idString,
          },
          [],
        ),
      },
    },
    async (req) => ({ accounts: await balances(desk, req.query as BalanceQuery) }),
  );
}

type BalanceQuery = { asset?: string; owner?: string; clientId?: string };

async function balances(desk: Desk, q: BalanceQuery): Promise<Record<string, unknown>[]> {
  if (q.clientId !== undefined && q.owner !== undefined && q.owner !== 'client')
    throw new OtcError('invalid-request', 'clientId: only with owner=client (or no owner)', 'clientId');
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.asset !== undefined) where.push(`asset = $${params.push(q.asset)}`);
  if (q.owner !== undefined) where.push(`owner_kind = $${params.push(q.owner)}`);
  if (q.clientId !== undefined)
    where.push(`owner_kind = 'client' AND owner_id = $${params.push(q.clientId)}`);
  const r = await desk.db.query<Record<string, unknown>>(
    `SELECT id, asset, owner_kind, owner_id, no_overdraft, debits_posted, credits_posted, debits_pending,
            credits_pending FROM otc_accounts ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY id LIMIT ${BALANCES_LIMIT}`,
    params,
  );
  return r.rows.map((a) => {
    const posted = fromNumeric(a.credits_posted) - fromNumeric(a.debits_posted);
    const pendingDebits = fromNumeric(a.debits_pending);
    return {
      id: a.id,
      asset: a.asset,
      ownerKind: a.owner_kind,
      ownerId: a.owner_id ?? null,
      noOverdraft: a.no_overdraft,
      posted: posted.toString(),
      pendingDebits: pendingDebits.toString(),
      pendingCredits: fromNumeric(a.credits_pending).toString(),
      available: (posted - pendingDebits).toString(),
    };
  });
}

/**
 * The chain side of a delivery: the node request that released the order (what the nodes signed: to,
 * amount, token) and the chain's confirmations of its transaction. The order only says which request and
 * asset to ask about; the recipient and amount compared with the ledger come from the nodes.
 */
export function custodyChainLookup(desk: Desk): ChainLookup {
  return async (txHash: string): Promise<ChainTx> => {
    const r = await desk.db.query<{ id: string; asset: string; release_request_id: string | null }>(
      'SELECT id, asset, release_request_id FROM otc_orders WHERE tx_hash = $1 ORDER BY id LIMIT 1',
      [txHash],
    );
    const order = r.rows[0];
    if (order === undefined) return { found: false };
    if (order.release_request_id === null)
      throw new OtcError('custody-error', `order ${order.id} names no node request to compare with`);
    if (desk.custody.releasedTransfer === undefined)
      throw new OtcError('custody-error', 'the custody client cannot show what a node request transferred');
    const asset = assetConfig(desk.config, order.asset);
    const transfer = await desk.custody.releasedTransfer(order.release_request_id);
    if (transfer.txHash === undefined || transfer.txHash.toLowerCase() !== txHash.toLowerCase())
      throw new OtcError(
        'custody-error',
        `node request ${order.release_request_id} broadcast ${transfer.txHash ?? 'nothing'}, not ${txHash}`,
      );
    const confirmations = await desk.custody.confirmations(asset, txHash);
    if (confirmations === undefined) return { found: false };
    const sameToken =
      (asset.kind === 'native' && transfer.contract === undefined) ||
      (asset.contract !== undefined && transfer.contract?.toLowerCase() === asset.contract.toLowerCase());
    return {
      found: true,
      to: transfer.to,
      amount: transfer.amount,
      asset: sameToken ? asset.id : `token:${transfer.contract ?? 'native'}`,
      confirmations,
    };
  };
}

/** Each EVM asset's hot wallet balance on the chain; an unreadable one becomes an item of the report. */
async function hotWallets(
  desk: Desk,
): Promise<{ wallets: { asset: string; onChainBalance: bigint }[]; failures: ReconciliationItem[] }> {
  const wallets: { asset: string; onChainBalance: bigint }[] = [];
  const failures: ReconciliationItem[] = [];
  const balanceOf = desk.custody.balanceOf?.bind(desk.custody);
  if (balanceOf === undefined) return { wallets, failures };
  for (const asset of desk.config.assets.filter((a) => a.chain === 'evm')) {
    try {
      wallets.push({ asset: asset.id, onChainBalance: await balanceOf(asset, asset.hotAddress) });
    } catch (e) {
      const reason = String((e as Error)?.message ?? e).slice(0, 200);
      failures.push({
        kind: 'chain-lookup-failed',
        reason: `reading the hot wallet balance failed: ${reason}`,
        asset: asset.id,
      });
    }
  }
  return { wallets, failures };
}

/** The reconciliation of a window, with the hot wallets and any balance that could not be read. */
async function reconcileWindow(desk: Desk, w: Window): Promise<ReconciliationReport> {
  const hot = await hotWallets(desk);
  const report = await reconcile(desk.db, { ...w, hotWallets: hot.wallets }, custodyChainLookup(desk));
  return withItems(report, hot.failures);
}

function withItems(report: ReconciliationReport, extra: ReconciliationItem[]): ReconciliationReport {
  if (extra.length === 0) return report;
  const items = [...report.items, ...extra];
  return { ...report, items, counts: { ...report.counts, items: items.length }, ok: false };
}

function registerReconciliationRoutes(app: OtcApp, desk: Desk): void {
  app.get(
    '/v1/reconciliation',
    {
      config: { roles: [...READERS] },
      schema: {
        summary:
          'Reconcile [from, to): deliveries against the node requests and the chain, fiat against bank evidence, hot wallets against the chain',
        querystring: windowQuery,
      },
    },
    async (req) => reconcileWindow(desk, windowOf(req.query as { from: string; to: string })),
  );

  app.post(
    '/v1/reconciliation/run',
    {
      config: { roles: ['admin', 'compliance'] },
      schema: {
        summary:
          'Reconcile [from, to) and mark every completed order whose delivery and fiat both match as reconciled; the others stay completed and are listed',
        body: windowQuery,
      },
    },
    async (req) => {
      const w = windowOf(req.body as { from: string; to: string });
      const report = await reconcileWindow(desk, w);
      return { ...(await markReconciled(desk, req.actor, report)), report };
    },
  );
}

type Unmatched = { orderId: string; reasons: string[] };

/** Moves each matched order to reconciled, one transaction per order on a freshly locked row. */
async function markReconciled(
  desk: Desk,
  actor: Actor,
  report: ReconciliationReport,
): Promise<{ reconciled: string[]; unmatched: Unmatched[] }> {
  const reconciled: string[] = [];
  const unmatched = new Map<string, string[]>();
  for (const item of report.items)
    if (item.orderId !== undefined)
      unmatched.set(item.orderId, [...(unmatched.get(item.orderId) ?? []), `${item.kind}: ${item.reason}`]);
  for (const id of report.matchedOrderIds) {
    const outcome = await desk.db.transaction(async (tx) => {
      const order = await loadOrder(tx, id, { forUpdate: true });
      if (order.status !== 'completed') return undefined;
      const fiatProblem = await fiatProblemOf(tx, id);
      if (fiatProblem !== undefined) return fiatProblem;
      await applyTransition(tx, order, 'reconcile', actor, {
        detail: { from: report.from, to: report.to, txHash: order.txHash },
      });
      return 'reconciled';
    });
    if (outcome === 'reconciled') reconciled.push(id);
    else if (outcome !== undefined) unmatched.set(id, [...(unmatched.get(id) ?? []), outcome]);
  }
  return { reconciled, unmatched: await stillCompleted(desk, unmatched) };
}

/**
 * Every fiat receipt of the order, at any time (the report only checks those in its window), must match
 * its bank evidence in amount, currency and order; and there must be one.
 */
async function fiatProblemOf(tx: Queryable, orderId: string): Promise<string | undefined> {
  const r = await tx.query<{ total: string; bad: string }>(
    `SELECT count(*) AS total,
            count(*) FILTER (WHERE e.id IS NULL OR e.amount_minor <> t.amount OR e.currency <> t.asset
                             OR e.order_id IS DISTINCT FROM t.order_id) AS bad
       FROM otc_transfers t LEFT JOIN otc_fiat_evidence e ON e.id = t.detail->>'evidenceId'
      WHERE t.order_id = $1 AND t.code = 'fiat_received'`,
    [orderId],
  );
  const row = r.rows[0];
  if (row === undefined || Number(row.total) === 0)
    return 'fiat-without-evidence: the order has no fiat receipt';
  if (Number(row.bad) > 0)
    return `fiat-amount-mismatch: ${row.bad} fiat receipt(s) do not match their bank evidence`;
  return undefined;
}

/** The unmatched orders that are completed (others, e.g. already reconciled, are not listed). */
async function stillCompleted(desk: Desk, unmatched: Map<string, string[]>): Promise<Unmatched[]> {
  const ids = [...unmatched.keys()].sort();
  if (ids.length === 0) return [];
  const r = await desk.db.query<{ id: string }>(
    `SELECT id FROM otc_orders WHERE id = ANY($1) AND status = 'completed' ORDER BY id`,
    [ids],
  );
  return r.rows.map((o) => ({ orderId: o.id, reasons: unmatched.get(o.id) ?? [] }));
}

const tradeQuery = closedObject(
  {
    clientId: idString,
    asset: assetId,
    fiatCurrency: fiatCode,
    side: { type: 'string', enum: ['buy', 'sell'] },
    from: timestamp,
    to: timestamp,
    limit: limitQuery,
    allStatuses: { type: 'string', enum: ['true', 'false'] },
    format: { type: 'string', enum: ['json', 'csv'] },
  },
  [],
);

type TradeQuery = {
  clientId?: string;
  asset?: string;
  fiatCurrency?: string;
  side?: 'buy' | 'sell';
  from?: string;
  to?: string;
  limit?: string;
  allStatuses?: 'true' | 'false';
  format?: 'json' | 'csv';
};

function tradeFilter(q: TradeQuery): TradeFilter {
  return {
    ...(q.clientId !== undefined ? { clientId: q.clientId } : {}),
    ...(q.asset !== undefined ? { asset: q.asset } : {}),
    ...(q.fiatCurrency !== undefined ? { fiatCurrency: q.fiatCurrency } : {}),
    ...(q.side !== undefined ? { side: q.side } : {}),
    ...(q.from !== undefined ? { from: new Date(q.from) } : {}),
    ...(q.to !== undefined ? { to: new Date(q.to) } : {}),
    ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
    ...(q.allStatuses !== undefined ? { allStatuses: q.allStatuses === 'true' } : {}),
  };
}

/** A filename without anything a header could be broken with: dates only. */
function csvFilename(q: TradeQuery): string {
  const part = (s: string | undefined) => (s === undefined ? '' : `-${s.slice(0, 10)}`);
  return `otc-trades${part(q.from)}${part(q.to)}.csv`;
}

function registerReportRoutes(app: OtcApp, desk: Desk): void {
  app.get(
    '/v1/reports/daily',
    {
      config: { roles: [...READERS] },
      schema: {
        summary: 'The daily report of a UTC day: reconciliation, ledger check and the day’s totals',
        querystring: closedObject({ day: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' } }, [
          'day',
        ]),
      },
    },
    async (req) => {
      const hot = await hotWallets(desk);
      const day = (req.query as { day: string }).day;
      const report = await dailyReport(desk.db, day, custodyChainLookup(desk), { hotWallets: hot.wallets });
      return { ...report, reconciliation: withItems(report.reconciliation, hot.failures) };
    },
  );

  app.get(
    '/v1/reports/trades',
    {
      config: { roles: [...READERS] },
      schema: {
        summary:
          'Trades (settled by default) by client, asset, fiat currency, side and time, oldest first; format=csv for a CSV file',
        querystring: tradeQuery,
      },
    },
    async (req, reply) => {
      const q = req.query as TradeQuery;
      const rows = await tradeReport(desk.db, tradeFilter(q));
      if (q.format !== 'csv') return { trades: rows };
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${csvFilename(q)}"`)
        .send(toCsv(rows));
    },
  );
}

function registerAuditRoutes(app: OtcApp, desk: Desk): void {
  app.get(
    '/v1/audit',
    {
      config: { roles: [...READERS] },
      schema: {
        summary:
          'Audit entries from fromSeq (default 1), at most limit (default 1000); format=jsonl for one canonical JSON object per line',
        querystring: closedObject(
          {
            fromSeq: { type: 'string', pattern: '^[1-9][0-9]{0,14}$' },
            limit: limitQuery,
            format: { type: 'string', enum: ['json', 'jsonl'] },
          },
          [],
        ),
      },
    },
    async (req, reply) => {
      const q = req.query as { fromSeq?: string; limit?: string; format?: 'json' | 'jsonl' };
      const entries = await exportAudit(desk.db, {
        ...(q.fromSeq !== undefined ? { fromSeq: Number(q.fromSeq) } : {}),
        ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
      });
      if (q.format !== 'jsonl') return { entries };
      return reply.type('application/x-ndjson; charset=utf-8').send(auditJsonLines(entries));
    },
  );

  app.get(
    '/v1/audit/verify',
    {
      config: { roles: [...READERS] },
      schema: {
        summary:
          'Recompute the audit hash chain; with headSeq and headHash (recorded elsewhere) also detect a rewritten tail',
        querystring: closedObject(
          { headSeq: { type: 'string', pattern: '^[1-9][0-9]{0,14}$' }, headHash: hex64 },
          [],
        ),
      },
    },
    async (req) => {
      const q = req.query as { headSeq?: string; headHash?: string };
      if ((q.headSeq === undefined) !== (q.headHash === undefined)) {
        const missing = q.headSeq === undefined ? 'headSeq' : 'headHash';
        throw new OtcError('invalid-request', `${missing}: required with the other head field`, missing);
      }
      const expectedHead =
        q.headSeq !== undefined ? { seq: Number(q.headSeq), hash: q.headHash as string } : undefined;
      return verifyAudit(desk.db, expectedHead !== undefined ? { expectedHead } : {});
    },
  );
}

function registerWebhookRoutes(app: OtcApp, desk: Desk): void {
  app.get(
    '/v1/webhooks/events/:id',
    {
      config: { roles: ['admin', 'auditor'] },
      schema: { summary: 'One lifecycle event’s delivery state and every attempt', params: eventParams },
    },
    async (req) => deliveryLog(desk.db, (req.params as { id: string }).id),
  );

  app.post(
    '/v1/webhooks/events/:id/resend',
    {
      config: { roles: ['admin'] },
      schema: {
        summary: 'Deliver a delivered or failed event again (same event id, so the receiver deduplicates)',
        params: eventParams,
        body: closedObject({}, []),
      },
    },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      await desk.db.transaction(async (tx) => {
        await resend(tx, id, { now: desk.now });
        await appendAudit(tx, { actor: req.actor, action: 'webhook.resend', subject: id, detail: {} });
      });
      return reply.code(202).send(await deliveryLog(desk.db, id));
    },
  );
}
