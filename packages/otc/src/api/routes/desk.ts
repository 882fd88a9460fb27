// Routes around the order: clients (the backend registers its customers), quotes (RFQ), the fiat rail's
// signed webhook, and the admin's emergency freeze and inventory funding.

import { appendAudit } from '../../audit/log.ts';
import { getClient, upsertClient } from '../../clients/clients.ts';
import type { Actor } from '../../config/types.ts';
import type { Desk } from '../../desk.ts';
import { OtcError } from '../../errors.ts';
import { fundInventory } from '../../ledger/ledger.ts';
import { parseAmount } from '../../money.ts';
import { freeze, listFreezes, parseScope, unfreeze } from '../../orders/freeze.ts';
import { ordersInStatus, orderView } from '../../orders/store.ts';
import { quoteResultToWire, requestQuote } from '../../quotes/quotes.ts';
import { recordInboundOutcome, verifyInbound } from '../../webhooks/inbound.ts';
import { assetId, closedObject, countryCode, fiatCode, idString, positiveAmountString } from '../schemas.ts';
import { type OtcApp, rawBodyOf } from '../server.ts';

const FIAT_RAIL: Actor = { id: 'fiat-rail', role: 'system' };
/** Authentic notices that can never apply, kept with their outcome and acknowledged (retrying won't help). */
const ACKNOWLEDGED_REFUSALS: readonly string[] = [
  'not-found',
  'duplicate-bank-reference',
  'payment-mismatch',
  'invalid-request',
];
const STAFF_READ = ['ops-maker', 'ops-checker', 'compliance', 'admin', 'auditor'] as const;

function clientView(c: NonNullable<Awaited<ReturnType<typeof getClient>>>): Record<string, unknown> {
  return {
    id: c.id,
    kycTier: c.kycTier,
    country: c.country,
    status: c.status,
    version: c.version,
    updatedAt: c.updatedAt.toISOString(),
  };
}

export function registerDeskRoutes(app: OtcApp, desk: Desk): void {
  const quoteDeps = { config: desk.config, prices: desk.prices, now: desk.now };

  app.put(
    '/v1/clients/:id',
    {
      config: { roles: ['backend', 'compliance'] },
      schema: {
        summary: 'Register or update a customer: KYC tier (limits, spreads) and country (jurisdiction)',
        params: closedObject({ id: idString }, ['id']),
        body: closedObject(
          {
            kycTier: { type: 'string', pattern: '^[a-z0-9_-]{1,32}$' },
            country: countryCode,
            status: { type: 'string', enum: ['active', 'suspended'] },
          },
          ['kycTier', 'country'],
        ),
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const b = req.body as { kycTier: string; country: string; status?: string };
      // Suspending or reactivating a customer is compliance's decision, not the backend's.
      if (b.status !== undefined && req.actor.role !== 'compliance')
        throw new OtcError('forbidden', 'only compliance changes a client’s status', 'status');
      const client = await desk.db.transaction(async (tx) => {
        const c = await upsertClient(tx, { tiers: desk.config.tiers }, { id, ...b });
        await appendAudit(tx, { actor: req.actor, action: 'client.upsert', subject: id, detail: { ...b } });
        return c;
      });
      return clientView(client);
    },
  );

  app.get(
    '/v1/clients/:id',
    {
      config: { roles: ['backend', ...STAFF_READ] },
      schema: { summary: 'One customer', params: closedObject({ id: idString }, ['id']) },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const c = await getClient(desk.db, id);
      if (c === undefined) throw new OtcError('not-found', `no client ${id}`, 'id');
      return clientView(c);
    },
  );

  app.post(
    '/v1/quotes',
    {
      config: { roles: ['backend', 'ops-maker'] },
      schema: {
        summary:
          'Request a quote: indicative (informational, never executable) or firm (single use, expires)',
        body: closedObject(
          {
            clientId: idString,
            side: { type: 'string', enum: ['buy', 'sell'] },
            asset: assetId,
            amount: positiveAmountString,
            fiatCurrency: fiatCode,
            kind: { type: 'string', enum: ['indicative', 'firm'] },
          },
          ['clientId', 'side', 'asset', 'amount', 'fiatCurrency', 'kind'],
        ),
      },
    },
    async (req, reply) => {
      try {
        const quote = await requestQuote(desk.db, quoteDeps, req.body as Record<string, unknown> as never);
        return reply.code(201).send(quoteResultToWire(quote));
      } catch (e) {
        const retry = e instanceof OtcError ? e.extra?.retryAfterSeconds : undefined;
        if (typeof retry === 'number') reply.header('retry-after', String(retry));
        throw e;
      }
    },
  );

  app.post(
    '/v1/webhooks/fiat',
    {
      config: { public: true, idempotency: false, rawBody: true },
      schema: {
        summary:
          'The fiat rail’s payment notices (Standard Webhooks signature, 5-minute tolerance, replays refused)',
      },
    },
    async (req) => {
      const inbound = desk.config.webhooks.inbound;
      if (inbound === undefined) throw new OtcError('not-found', 'no fiat-rail webhook is configured');
      const outcome = await desk.db.transaction(async (tx) => {
        const notice = await verifyInbound(tx, inbound, rawBodyOf(req), req.headers, { now: desk.now });
        await tx.query('SAVEPOINT evidence');
        let result: string;
        try {
          const r = await desk.payments.recordEvidence(
            FIAT_RAIL,
            {
              paymentReference: notice.paymentReference,
              bankReference: notice.bankReference,
              amount: notice.amountMinor,
              currency: notice.currency,
              transferredAt: new Date(notice.transferredAt),
              ...(notice.sourceAccountLast4 !== undefined
                ? { sourceAccountLast4: notice.sourceAccountLast4 }
                : {}),
            },
            'webhook',
            tx,
          );
          result =
            r.outcome === 'paid'
              ? 'confirmed'
              : r.outcome === 'exception'
                ? 'payment_exception'
                : 'awaiting_confirmation';
        } catch (e) {
          // A frozen desk: refuse, so the rail delivers it again after the freeze (the id is not kept).
          // Anything else (a frozen desk, a lost race, a transient fault) is refused, so the rail delivers
          // it again later; the webhook id is not kept.
          if (!(e instanceof OtcError) || !ACKNOWLEDGED_REFUSALS.includes(e.code)) throw e;
          // Authentic but not applicable (unknown reference, reused bank reference, other currency): kept
          // with its outcome for operations, and acknowledged so the rail stops retrying.
          await tx.query('ROLLBACK TO SAVEPOINT evidence');
          result = `refused_${e.code.replace(/-/g, '_')}`;
          await appendAudit(tx, {
            actor: FIAT_RAIL,
            action: 'fiat.webhook_refused',
            subject: notice.webhookId,
            detail: { code: e.code, message: e.message },
          });
        }
        await recordInboundOutcome(tx, notice.webhookId, result);
        return result;
      });
      desk.worker.tick().catch(() => undefined);
      return { received: true, outcome };
    },
  );

  app.post(
    '/v1/freezes',
    {
      config: { roles: ['admin'] },
      schema: {
        summary:
          'Emergency freeze: halts new quotes, confirmations and releases (desk-wide, one asset or one client)',
        body: closedObject(
          {
            scope: { type: 'string', maxLength: 80 },
            reason: { type: 'string', minLength: 1, maxLength: 500 },
          },
          ['scope', 'reason'],
        ),
      },
    },
    async (req, reply) => {
      const b = req.body as { scope: string; reason: string };
      const f = await desk.db.transaction((tx) => freeze(tx, req.actor, parseScope(b.scope), b.reason));
      return reply.code(201).send({ ...f, frozenAt: f.frozenAt.toISOString(), ...(await inFlight(desk)) });
    },
  );

  app.post(
    '/v1/freezes/lift',
    {
      config: { roles: ['admin'] },
      schema: {
        summary: 'Lift a freeze (audited)',
        body: closedObject(
          {
            scope: { type: 'string', maxLength: 80 },
            reason: { type: 'string', minLength: 1, maxLength: 500 },
          },
          ['scope', 'reason'],
        ),
      },
    },
    async (req) => {
      const b = req.body as { scope: string; reason: string };
      const lifted = await desk.db.transaction((tx) =>
        unfreeze(tx, req.actor, parseScope(b.scope), b.reason),
      );
      return { scope: b.scope, lifted };
    },
  );

  app.get(
    '/v1/freezes',
    {
      config: { roles: [...STAFF_READ] },
      schema: { summary: 'Active freezes and the releases already at the signer nodes' },
    },
    async () => {
      const freezes = await listFreezes(desk.db);
      return {
        freezes: freezes.map((f) => ({ ...f, frozenAt: f.frozenAt.toISOString() })),
        ...(await inFlight(desk)),
      };
    },
  );

  app.post(
    '/v1/inventory/funding',
    {
      config: { roles: ['admin'] },
      schema: {
        summary: 'Record crypto that arrived in the hot wallet (inventory the desk may sell)',
        body: closedObject(
          {
            asset: assetId,
            amount: positiveAmountString,
            reference: { type: 'string', pattern: '^[\\x21-\\x7e]{1,100}$' },
            txHash: { type: 'string', pattern: '^[\\x21-\\x7e]{1,100}$' },
          },
          ['asset', 'amount', 'reference'],
        ),
      },
    },
    async (req, reply) => {
      const b = req.body as { asset: string; amount: string; reference: string; txHash?: string };
      if (!desk.config.assets.some((a) => a.id === b.asset))
        throw new OtcError('invalid-request', `asset: ${b.asset} is not configured`, 'asset');
      const t = await desk.db.transaction(async (tx) => {
        const transfer = await fundInventory(tx, { ...b, amount: parseAmount(b.amount, 'amount') });
        await appendAudit(tx, {
          actor: req.actor,
          action: 'inventory.funding',
          subject: b.asset,
          detail: { amount: b.amount, reference: b.reference },
        });
        return transfer;
      });
      return reply.code(201).send({ id: t.id, asset: t.asset, amount: t.amount.toString() });
    },
  );
}

/** Releases already handed to the signer nodes: a freeze does not call them back. */
async function inFlight(desk: Desk): Promise<{ releasesInFlight: Record<string, unknown>[] }> {
  const orders = await ordersInStatus(desk.db, ['releasing', 'confirming'], { limit: 1000 });
  return { releasesInFlight: orders.map((o) => orderView(o)) };
}
