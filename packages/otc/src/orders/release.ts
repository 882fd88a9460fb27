// The release worker: drives orders from awaiting release to completed through the signer nodes, and
// ends payment windows. Every node request is made under the order's idempotency key and looked up by
// that key before anything is created, so a crash, a timeout or two service instances at once still
// give at most one transfer per order. The nodes' own policy decides every release; a refusal there is a
// release failure for an operator, never something the desk works around.
import type { Actor } from '../config/types.ts';
import type { Queryable } from '../db/database.ts';
import { OtcError } from '../errors.ts';
import { bookNetworkFee, openReservation, releaseReservation, settleBuy } from '../ledger/ledger.ts';
import { receivedFiat, releaseKey } from './buy.ts';
import { assetConfig, type BuyDeskDeps, type ReleaseStatus } from './deps.ts';
import { assertNotFrozen, isFrozen } from './freeze.ts';
import { flagException } from './payments.ts';
import { applyTransition, loadOrder, type Order, ordersInStatus, updateOrder } from './store.ts';

const SYSTEM: Actor = { id: 'otc-service', role: 'system' };
const FAILED_NODE_STATUSES = ['failed', 'denied', 'cancelled', 'expired'];
/** An order still without a screening decision this long after its last change was left by a crash. */
const UNSCREENED_AFTER_MS = 60_000;
/** Statuses whose node request and chain transaction the worker follows (a failed release may still land). */
const FOLLOWED: readonly string[] = ['releasing', 'confirming', 'release_failed'];
type NetworkFee = { asset: string; amount: bigint };

export type TickReport = {
  released: number;
  advanced: number;
  expired: number;
  flagged: number;
  errors: string[];
};

export class ReleaseWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<TickReport> | undefined;

  constructor(
    readonly d: BuyDeskDeps,
    /** Screens an order again (the buy desk's screening), for orders a crash left unscreened. */
    private readonly rescreen?: (order: Order) => Promise<unknown>,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.tick().catch(() => undefined);
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One pass over every order that waits on time or on the nodes (one at a time per process). */
  async tick(): Promise<TickReport> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<TickReport> {
    const report: TickReport = { released: 0, advanced: 0, expired: 0, flagged: 0, errors: [] };
    const attempt = async (
      order: Order,
      step: (o: Order) => Promise<boolean>,
      counter: keyof Omit<TickReport, 'errors'>,
    ) => {
      try {
        if (await step(order)) report[counter]++;
      } catch (e) {
        // A lost race (another instance moved the order) or a node that is down: next tick.
        report.errors.push(
          `${order.id}: ${e instanceof OtcError ? e.code : 'error'}: ${(e as Error).message}`,
        );
      }
    };
    const dueBy = new Date(this.d.now());
    const unscreenedBefore = new Date(this.d.now() - UNSCREENED_AFTER_MS);
    if (this.rescreen !== undefined)
      for (const o of await ordersInStatus(this.d.db, ['compliance_check'], { unscreenedBefore }))
        await attempt(
          o,
          async (x) => {
            await this.rescreen?.(x);
            return true;
          },
          'advanced',
        );
    for (const o of await ordersInStatus(this.d.db, ['awaiting_payment', 'payment_claimed'], { dueBy }))
      await attempt(o, (x) => this.endWindow(x), 'expired');
    for (const o of await ordersInStatus(this.d.db, ['awaiting_release'], { autoReleasable: true }))
      await attempt(o, (x) => this.autoRelease(x), 'released');
    for (const o of await ordersInStatus(this.d.db, ['release_failed'], { withTx: true }))
      await attempt(o, (x) => this.follow(x), 'advanced');
    for (const o of await ordersInStatus(this.d.db, ['releasing', 'confirming']))
      await attempt(o, (x) => this.follow(x), 'advanced');
    return report;
  }

  /**
   * A window that ended: unclaimed orders expire (part of the money already booked for one becomes a late
   * payment to refund or re-quote; the whole amount received in time keeps the order at its rate for an
   * ops maker); claimed ones are flagged "claimed but not received" once. Nothing expires while
   * the desk, asset or client is frozen: evidence cannot be recorded then, so a customer who paid on time
   * must not become late because of the freeze.
   */
  private async endWindow(order: Order): Promise<boolean> {
    if (order.paymentDeadline.getTime() > this.d.now()) return false;
    return this.d.db.transaction(async (tx) => {
      let o = await loadOrder(tx, order.id, { forUpdate: true });
      if (o.paymentDeadline.getTime() > this.d.now()) return false;
      if (await isFrozen(tx, { asset: o.asset, clientId: o.clientId })) return false;
      if (o.status === 'awaiting_payment') {
        // The whole amount (or more) arrived inside the window: it waits for an ops maker at its rate.
        if ((await receivedFiat(tx, o)) >= o.fiatAmount) return false;
        o = await applyTransition(tx, o, 'expire', SYSTEM, {
          detail: { deadline: o.paymentDeadline.toISOString() },
        });
        if ((await openReservation(tx, o.id)) !== undefined) await releaseReservation(tx, { orderId: o.id });
        const held = await receivedFiat(tx, o);
        if (held > 0n)
          await flagException(tx, o, 'late_payment', {
            received: held.toString(),
            expected: o.fiatAmount.toString(),
          });
        return true;
      }
      if (o.status === 'payment_claimed' && o.exception === null && !(await waitingWasChosen(tx, o.id))) {
        await flagException(tx, o, 'claimed_not_received', { deadline: o.paymentDeadline.toISOString() });
        return true;
      }
      return false;
    });
  }

  /** An order that needs no desk approval moves to releasing on its own (unless frozen). */
  private async autoRelease(order: Order): Promise<boolean> {
    if (order.deskApprovalRequired) return false;
    const moved = await this.d.db.transaction(async (tx) => {
      const o = await loadOrder(tx, order.id, { forUpdate: true });
      if (o.status !== 'awaiting_release' || o.deskApprovalRequired) return undefined;
      await assertNotFrozen(tx, { asset: o.asset, clientId: o.clientId }, 'a release');
      return applyTransition(tx, o, 'release', SYSTEM, {
        patch: { releaseIdempotencyKey: o.releaseIdempotencyKey ?? releaseKey(o.id, 1) },
      });
    });
    if (moved === undefined) return false;
    await this.follow(moved);
    return true;
  }

  /**
   * Makes sure the node request exists (lookup by key first, create only when no node knows it and the
   * desk is not frozen), then records what the nodes and the chain say.
   */
  async follow(order: Order): Promise<boolean> {
    const asset = assetConfig(this.d.config, order.asset);
    const key = order.releaseIdempotencyKey;
    if (key === null)
      throw new OtcError('internal', `order ${order.id} is ${order.status} without a release key`);
    let status: ReleaseStatus | undefined =
      order.releaseRequestId !== null
        ? await this.d.custody.status(order.releaseRequestId)
        : await this.d.custody.lookup(key);
    if (status === undefined) {
      await assertNotFrozen(this.d.db, { asset: asset.id, clientId: order.clientId }, 'a release');
      const node = order.releaseNode ?? (await this.pinNode(order));
      status = await this.d.custody.release({
        ...(node !== undefined ? { node } : {}),
        orderId: order.id,
        idempotencyKey: key,
        asset,
        to: order.destination,
        amount: order.amount,
        reference: `otc order ${order.id}`,
      });
    }
    const confirmations =
      status.txHash !== undefined ? ((await this.d.custody.confirmations(asset, status.txHash)) ?? 0) : 0;
    const fee =
      confirmations >= asset.confirmations && status.txHash !== undefined
        ? await this.d.custody.networkFee?.(asset, status.txHash)
        : undefined;
    return this.record(order.id, status, confirmations, asset.confirmations, fee);
  }

  /**
   * Records the node a first create goes to, before it is sent: of two instances (or a restart) only one
   * pin stands, and every later attempt creates on that node only, where its idempotency key dedups.
   */
  private async pinNode(order: Order): Promise<string | undefined> {
    if (this.d.custody.reachableNode === undefined) return undefined;
    const node = await this.d.custody.reachableNode();
    if (node === undefined)
      throw new OtcError('custody-error', 'no signer node answers; the release waits', 'custody.nodes');
    const r = await this.d.db.query<{ release_node: string }>(
      `UPDATE otc_orders SET release_node = COALESCE(release_node, $2) WHERE id = $1 AND release_idempotency_key = $3
       RETURNING release_node`,
      [order.id, node, order.releaseIdempotencyKey],
    );
    return r.rows[0]?.release_node;
  }

  private async record(
    orderId: string,
    s: ReleaseStatus,
    confirmations: number,
    depth: number,
    fee: NetworkFee | undefined,
  ): Promise<boolean> {
    return this.d.db.transaction(async (tx) => {
      let o = await loadOrder(tx, orderId, { forUpdate: true });
      if (!FOLLOWED.includes(o.status)) return false;
      const patch = {
        releaseRequestId: s.requestId,
        releaseStatus: s.nodeStatus,
        txHash: s.txHash ?? o.txHash,
        confirmations,
      };
      const changed = (Object.keys(patch) as (keyof typeof patch)[]).some((k) => patch[k] !== o[k]);
      const onChain = s.txHash !== undefined && confirmations > 0;
      if (FAILED_NODE_STATUSES.includes(s.nodeStatus) && !onChain) {
        if (o.status === 'release_failed') return false;
        const reason = `signer nodes: ${s.nodeStatus}${s.error ? `: ${s.error}` : ''}${s.reasons?.length ? ` (${s.reasons.join(', ')})` : ''}`;
        await applyTransition(tx, o, 'custody_failed', SYSTEM, {
          patch: { ...patch, failureReason: reason },
          detail: { reason },
        });
        return true;
      }
      // Broadcast, or a "failed" request whose transaction the chain included after all.
      if (
        o.status !== 'confirming' &&
        s.txHash !== undefined &&
        (onChain || ['broadcast', 'confirmed'].includes(s.nodeStatus))
      )
        o = await applyTransition(tx, o, 'custody_broadcast', SYSTEM, {
          patch,
          detail: { txHash: s.txHash },
        });
      else if (changed)
        o = await updateOrder(tx, o, SYSTEM, 'release_progress', patch, {
          nodeStatus: s.nodeStatus,
          confirmations,
        });
      // Completed when the nodes confirm at the desk's depth — or, for a request the nodes gave up on, when
      // the chain alone shows its transaction at that depth.
      const settled = s.nodeStatus === 'confirmed' || FAILED_NODE_STATUSES.includes(s.nodeStatus);
      if (o.status !== 'confirming' || !onChain || !settled || confirmations < depth) return changed;
      await this.settle(tx, o, s.txHash!, confirmations, fee);
      return true;
    });
  }

  /** Completed: the ledger settles the sale and delivery (and books the network fee the hot wallet paid). */
  private async settle(
    tx: Queryable,
    o: Order,
    txHash: string,
    confirmations: number,
    fee: NetworkFee | undefined,
  ): Promise<void> {
    await settleBuy(tx, {
      orderId: o.id,
      clientId: o.clientId,
      asset: o.asset,
      amount: o.amount,
      fiat: o.fiatCurrency,
      fiatAmount: o.fiatAmount,
      txHash,
    });
    if (fee !== undefined && fee.amount > 0n)
      await bookNetworkFee(tx, { orderId: o.id, asset: fee.asset, amount: fee.amount, txHash });
    await applyTransition(tx, o, 'custody_confirmed', SYSTEM, { detail: { txHash, confirmations } });
  }

  /**
   * An admin retries a failed release. Only when the failed node request is terminal and was never
   * broadcast; the retry is a new node request under the next attempt's key.
   */
  async retry(actor: Actor, orderId: string): Promise<Order> {
    const order = await loadOrder(this.d.db, orderId);
    if (order.status !== 'release_failed')
      throw new OtcError(
        'invalid-transition',
        `order ${orderId} is ${order.status}, not release_failed`,
        'status',
      );
    await assertNeverSigned(this.d, order);
    const previousAttempt = /:release:(\d+)$/.exec(order.releaseIdempotencyKey ?? '')?.[1];
    const attempt = (previousAttempt === undefined ? 1 : Number(previousAttempt)) + 1;
    return this.d.db.transaction(async (tx) => {
      const o = await loadOrder(tx, orderId, { forUpdate: true });
      await assertNotFrozen(tx, { asset: o.asset, clientId: o.clientId }, 'a release');
      return applyTransition(tx, o, 'retry_release', actor, {
        patch: {
          releaseIdempotencyKey: releaseKey(orderId, attempt),
          releaseRequestId: null,
          releaseStatus: null,
          releaseNode: null,
          txHash: null,
          failureReason: null,
          confirmations: 0,
        },
        detail: { attempt, previousRequest: order.releaseRequestId },
      });
    });
  }
}

/** Whether an ops maker already chose to keep waiting on this order's claimed payment. */
async function waitingWasChosen(q: Queryable, orderId: string): Promise<boolean> {
  const r = await q.query(
    `SELECT 1 FROM otc_order_events WHERE order_id = $1 AND event = 'exception_resolved'
       AND detail->>'resolution' = 'keep_waiting' LIMIT 1`,
    [orderId],
  );
  return r.rows.length > 0;
}

/** Refuses (conflict) unless every node shows the order's failed release never signed anything. */
export async function assertNeverSigned(d: BuyDeskDeps, order: Order): Promise<void> {
  const key = order.releaseIdempotencyKey;
  if (key === null) return;
  if (d.custody.neverSigned === undefined)
    throw new OtcError(
      'conflict',
      'this custody connection cannot prove the failed release was never signed',
      'orderId',
    );
  const proof = await d.custody.neverSigned(key);
  if (!proof.proven)
    throw new OtcError(
      'conflict',
      `the failed release ${key} may have been signed (${proof.reason}); reconcile it first`,
      'orderId',
    );
}
