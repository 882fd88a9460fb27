// The buy desk's order routes. The backend acts for its customers (clientId on every customer action);
// desk staff act under their own roles. Handlers only parse, call the desk and shape the answer; the
// rules live in src/orders.
import type { Actor } from '../../config/types.ts';
import type { Desk } from '../../desk.ts';
import { OtcError } from '../../errors.ts';
import { parseAmount } from '../../money.ts';
import { RESOLUTIONS, type Resolution } from '../../orders/exceptions.ts';
import { BUY_STATUSES, type BuyStatus } from '../../orders/machine.ts';
import { listOrders, loadOrder, type Order, orderEvents, orderView } from '../../orders/store.ts';
import {
  closedObject,
  errorResponses,
  fiatCode,
  idString,
  limitQuery,
  positiveAmountString,
  timestamp,
} from '../schemas.ts';
import type { OtcApp } from '../server.ts';

const STAFF = ['ops-maker', 'ops-checker', 'compliance', 'admin', 'auditor'] as const;
const orderParams = closedObject({ id: { type: 'string', pattern: '^ord_[0-9a-f]{24}$' } }, ['id']);
const reason = { type: 'string', minLength: 1, maxLength: 500 } as const;

/** The backend must say which customer it acts for; staff see every order. */
function scopedClient(actor: Actor, clientId: string | undefined): string | undefined {
  if (actor.role !== 'backend') return clientId;
  if (clientId === undefined)
    throw new OtcError('invalid-request', 'clientId: required for the backend', 'clientId');
  return clientId;
}

async function visibleOrder(
  desk: Desk,
  actor: Actor,
  id: string,
  clientId: string | undefined,
): Promise<Order> {
  const order = await loadOrder(desk.db, id);
  const scoped = scopedClient(actor, clientId);
  if (scoped !== undefined && order.clientId !== scoped)
    throw new OtcError('not-found', `no order ${id}`, 'id');
  return order;
}

function withInstructions(desk: Desk, order: Order): Record<string, unknown> {
  const view = orderView(order);
  if (['awaiting_payment', 'payment_claimed'].includes(order.status))
    return { ...view, paymentInstructions: desk.buy.paymentInstructions(order) };
  return view;
}

export function registerOrderRoutes(app: OtcApp, desk: Desk): void {
  const kick = () => {
    desk.worker.tick().catch(() => undefined);
  };

  app.post(
    '/v1/orders',
    {
      config: { roles: ['backend'] },
      schema: {
        summary:
          'Accept a firm quote: the order, its locked rate, reserved inventory and payment instructions',
        body: closedObject(
          {
            clientId: idString,
            quoteToken: { type: 'string', minLength: 1, maxLength: 512 },
            destination: { type: 'string', pattern: '^[0-9A-Za-z]{1,100}$' },
          },
          ['clientId', 'quoteToken', 'destination'],
        ),
        response: errorResponses,
      },
    },
    async (req, reply) => {
      const b = req.body as { clientId: string; quoteToken: string; destination: string };
      const order = await desk.buy.acceptQuote(req.actor, b);
      return reply.code(201).send(withInstructions(desk, order));
    },
  );

  app.get(
    '/v1/orders',
    {
      config: { roles: ['backend', ...STAFF] },
      schema: {
        summary: 'Orders, newest first (the backend sees one client’s)',
        querystring: closedObject(
          { clientId: idString, status: { type: 'string', enum: [...BUY_STATUSES] }, limit: limitQuery },
          [],
        ),
      },
    },
    async (req) => {
      const q = req.query as { clientId?: string; status?: BuyStatus; limit?: string };
      const clientId = scopedClient(req.actor, q.clientId);
      const orders = await listOrders(desk.db, {
        ...(clientId !== undefined ? { clientId } : {}),
        ...(q.status !== undefined ? { status: q.status } : {}),
        limit: q.limit === undefined ? 100 : Math.min(Number(q.limit), 1000),
      });
      return { orders: orders.map((o) => orderView(o)) };
    },
  );

  app.get(
    '/v1/orders/:id',
    {
      config: { roles: ['backend', ...STAFF] },
      schema: {
        summary: 'One order, with its payment instructions while it waits for payment',
        params: orderParams,
        querystring: closedObject({ clientId: idString }, []),
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const order = await visibleOrder(desk, req.actor, id, (req.query as { clientId?: string }).clientId);
      return withInstructions(desk, order);
    },
  );

  app.get(
    '/v1/orders/:id/events',
    {
      config: { roles: ['backend', ...STAFF] },
      schema: {
        summary: 'Every transition of the order: who, which event, from which status to which',
        params: orderParams,
        querystring: closedObject({ clientId: idString }, []),
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      await visibleOrder(desk, req.actor, id, (req.query as { clientId?: string }).clientId);
      const events = await orderEvents(desk.db, id);
      return { events: events.map((e) => ({ ...e, at: e.at.toISOString() })) };
    },
  );

  app.post(
    '/v1/orders/:id/claim-payment',
    {
      config: { roles: ['backend'] },
      schema: {
        summary: 'The customer says they paid (freezes the payment window)',
        params: orderParams,
        body: closedObject({ clientId: idString }, ['clientId']),
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      return orderView(
        await desk.buy.claimPayment(req.actor, id, (req.body as { clientId: string }).clientId),
      );
    },
  );

  app.post(
    '/v1/orders/:id/cancel',
    {
      config: { roles: ['backend', 'ops-maker', 'admin'] },
      schema: {
        summary: 'Cancel an order (reservation released, any fiat received refunded)',
        params: orderParams,
        body: closedObject({ clientId: idString, reason }, ['reason']),
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      const b = req.body as { clientId?: string; reason: string };
      return orderView(await desk.buy.cancel(req.actor, id, b.reason, scopedClient(req.actor, b.clientId)));
    },
  );

  app.post(
    '/v1/fiat/evidence',
    {
      config: { roles: ['ops-maker'] },
      schema: {
        summary:
          'Record fiat received (an ops maker): paid when it matches the order, a payment exception otherwise',
        body: closedObject(
          {
            paymentReference: { type: 'string', pattern: '^[A-Z0-9]{4,40}$' },
            bankReference: { type: 'string', pattern: '^[\\x21-\\x7e]{1,100}$' },
            amount: positiveAmountString,
            currency: fiatCode,
            transferredAt: timestamp,
            sourceAccountLast4: { type: 'string', pattern: '^[0-9A-Za-z]{2,6}$' },
          },
          ['paymentReference', 'bankReference', 'amount', 'currency', 'transferredAt'],
        ),
      },
    },
    async (req, reply) => {
      const b = req.body as Record<string, string>;
      const result = await desk.payments.recordEvidence(
        req.actor,
        {
          paymentReference: b.paymentReference!,
          bankReference: b.bankReference!,
          amount: parseAmount(b.amount, 'amount'),
          currency: b.currency!,
          transferredAt: new Date(b.transferredAt!),
          ...(b.sourceAccountLast4 !== undefined ? { sourceAccountLast4: b.sourceAccountLast4 } : {}),
        },
        'manual',
      );
      kick();
      return reply
        .code(201)
        .send({ evidenceId: result.evidenceId, outcome: result.outcome, order: orderView(result.order) });
    },
  );

  app.post(
    '/v1/orders/:id/confirm-payment',
    {
      config: { roles: ['ops-maker'] },
      schema: {
        summary: 'Confirm fiat the rail reported for an order that was not low-risk',
        params: orderParams,
        body: closedObject({}, []),
      },
    },
    async (req) => {
      const order = await desk.payments.confirmPayment(req.actor, (req.params as { id: string }).id);
      kick();
      return orderView(order);
    },
  );

  app.post(
    '/v1/orders/:id/desk-approval',
    {
      config: { roles: ['ops-checker'] },
      schema: {
        summary: 'Desk approval of a release (an ops checker other than the order’s ops maker)',
        params: orderParams,
        body: closedObject({}, []),
      },
    },
    async (req) => {
      const order = await desk.buy.deskApprove(req.actor, (req.params as { id: string }).id);
      kick();
      return orderView(order);
    },
  );

  app.post(
    '/v1/orders/:id/resolve-exception',
    {
      config: { roles: ['ops-maker'] },
      schema: {
        summary: 'Resolve the open payment exception (refund, re-quote, wait for the remainder, …)',
        params: orderParams,
        body: closedObject(
          {
            resolution: { type: 'string', enum: [...RESOLUTIONS] },
            quoteToken: { type: 'string', minLength: 1, maxLength: 512 },
            reason,
          },
          ['resolution'],
        ),
      },
    },
    async (req) => {
      const b = req.body as { resolution: Resolution; quoteToken?: string; reason?: string };
      const order = await desk.payments.resolveException(
        req.actor,
        (req.params as { id: string }).id,
        b.resolution,
        b,
      );
      kick();
      return orderView(order);
    },
  );

  app.post(
    '/v1/orders/:id/compliance-decision',
    {
      config: { roles: ['compliance'] },
      schema: {
        summary: 'Pass or reject an order held for compliance review',
        params: orderParams,
        body: closedObject({ pass: { type: 'boolean' }, reason }, ['pass', 'reason']),
      },
    },
    async (req) => {
      const b = req.body as { pass: boolean; reason: string };
      return orderView(
        await desk.buy.complianceDecision(req.actor, (req.params as { id: string }).id, b.pass, b.reason),
      );
    },
  );

  app.post(
    '/v1/orders/:id/retry-release',
    {
      config: { roles: ['admin'] },
      schema: {
        summary: 'Retry a failed release (only when the failed node request was never broadcast)',
        params: orderParams,
        body: closedObject({}, []),
      },
    },
    async (req) => {
      const order = await desk.worker.retry(req.actor, (req.params as { id: string }).id);
      kick();
      return orderView(order);
    },
  );
}
