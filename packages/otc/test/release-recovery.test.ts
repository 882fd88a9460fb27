// After a release fails: the desk never pays twice and never strands the customer. The signer nodes are
// replaced by a scripted stand-in (this fast suite runs no cluster; the process-level suites use the
// real nodes) so each test can decide what the nodes report. Also: network fees booked from the hot
// wallet, re-quotes that keep the desk approval, and suspensions the backend cannot lift.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AssetConfig } from '../src/config/types.ts';
import type { Database } from '../src/db/database.ts';
import { OtcError } from '../src/errors.ts';
import { balance, checkLedger, fundInventory } from '../src/ledger/ledger.ts';
import type { Custody, ReleaseStatus } from '../src/orders/deps.ts';
import { DATABASE_KINDS, freshDatabase } from './helpers/db.ts';
import { type TestDesk, testDesk } from './helpers/desk.ts';
import { ETH, getOrder, placeOrder, quote, recordEvidence, registerClient } from './helpers/orders.ts';

/** Stand-in for the signer nodes and the chain: each release answers what the test scripted. */
class ScriptedNodes implements Custody {
  readonly byKey = new Map<string, ReleaseStatus>();
  next: { nodeStatus: string; withTx: boolean } = { nodeStatus: 'confirmed', withTx: true };
  confirmationsOf = new Map<string, number>();
  proof = { proven: false, reason: 'node-b did not answer' };
  fee: bigint | undefined;
  /** Which node answers the health check next, and the node each create was sent to. */
  reachable = ['http://node-a'];
  createdOn: string[] = [];
  unansweredCreates = 0;

  async reachableNode() {
    return this.reachable.shift() ?? 'http://node-a';
  }

  async release(r: Parameters<Custody['release']>[0]): Promise<ReleaseStatus> {
    const existing = this.byKey.get(r.idempotencyKey);
    if (existing) return existing;
    this.createdOn.push(r.node ?? 'unpinned');
    if (this.unansweredCreates > 0) {
      this.unansweredCreates--;
      throw new OtcError('custody-error', 'no answer', 'custody.nodes', { outcome: 'unknown' });
    }
    const made: ReleaseStatus = {
      requestId: `req-${randomBytes(12).toString('hex')}`,
      nodeStatus: this.next.nodeStatus,
      ...(this.next.withTx ? { txHash: `0x${randomBytes(32).toString('hex')}` } : {}),
    };
    this.byKey.set(r.idempotencyKey, made);
    return made;
  }
  async lookup(key: string) {
    return this.byKey.get(key);
  }
  async status(requestId: string) {
    const s = [...this.byKey.values()].find((x) => x.requestId === requestId);
    if (!s) throw new Error(`no request ${requestId}`);
    return s;
  }
  async confirmations(_a: AssetConfig, txHash: string) {
    return this.confirmationsOf.get(txHash) ?? 0;
  }
  async neverSigned() {
    return this.proof;
  }
  async networkFee(_a: AssetConfig, _txHash: string) {
    return this.fee === undefined ? undefined : { asset: 'ETH', amount: this.fee };
  }
}

describe.each(DATABASE_KINDS)('after a failed release, on %s', (kind) => {
  let db: Database;
  let t: TestDesk;
  const nodes = new ScriptedNodes();

  beforeAll(async () => {
    db = await freshDatabase(kind);
    t = await testDesk(db, { custody: nodes, deskApprovalUsdCents: 1_000_000n });
    await db.transaction((tx) => fundInventory(tx, { asset: 'ETH', amount: 100n * ETH, reference: 'seed' }));
  });
  afterEach(async () => {
    expect(await checkLedger(db)).toEqual({ balanced: true, problems: [] });
  });
  afterAll(async () => {
    await t.close();
    await db.close();
  });

  /** A paid order below the desk-approval threshold, handed to the (stand-in) nodes by the worker. */
  async function released(clientId: string, amount = ETH / 10n) {
    const { order } = await placeOrder(t, clientId, amount);
    const paid = await recordEvidence(t, order, { bankReference: `B-${clientId}` });
    expect(paid.body.outcome, JSON.stringify(paid.body)).toBe('paid');
    await t.desk.worker.tick();
    await t.desk.worker.tick();
    return getOrder(t, String(order.id));
  }

  it('double payout after a failed release: no retry and no refund while any node may have signed it', async () => {
    nodes.next = { nodeStatus: 'failed', withTx: false };
    const order = await released('c-retry');
    expect(order.status).toBe('release_failed');
    nodes.proof = { proven: false, reason: 'node-b did not answer' };
    const retry = await t.call('POST', `/v1/orders/${order.id}/retry-release`, 'adam', {});
    expect(retry.status).toBe(409);
    expect(String(retry.body.message)).toContain('may have been signed');
    const cancel = await t.call('POST', `/v1/orders/${order.id}/cancel`, 'adam', { reason: 'give up' });
    expect(cancel.status).toBe(409);
    expect((await getOrder(t, String(order.id))).status).toBe('release_failed');
    // Proven never signed on every node: a second attempt under its own key.
    nodes.proof = { proven: true, reason: 'all nodes answered, none signed' };
    nodes.next = { nodeStatus: 'confirmed', withTx: true };
    const again = await t.call('POST', `/v1/orders/${order.id}/retry-release`, 'adam', {});
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect((again.body.release as Record<string, unknown>).idempotencyKey).toBe(`otc:${order.id}:release:2`);
    await t.desk.worker.tick();
    await t.desk.worker.tick();
    expect(nodes.byKey.has(`otc:${order.id}:release:2`)).toBe(true);
  });

  it('a second transfer on another node: a release stays pinned to the node its first create went to', async () => {
    nodes.next = { nodeStatus: 'confirmed', withTx: true };
    nodes.reachable = ['http://node-a', 'http://node-b', 'http://node-b'];
    nodes.createdOn = [];
    nodes.unansweredCreates = 1;
    // released() runs the worker twice: the first create goes unanswered, the second is the retry.
    const order = await released('c-pinned');
    expect((order.release as Record<string, unknown>).node).toBe('http://node-a');
    // node-b answered the health check the second time, but the create went to node-a again.
    expect(nodes.createdOn).toEqual(['http://node-a', 'http://node-a']);
  });

  it('stranded release: a "failed" transaction the chain included after all completes the order', async () => {
    nodes.next = { nodeStatus: 'failed', withTx: true };
    const order = await released('c-landed');
    expect(order.status).toBe('release_failed');
    const txHash = String((order.release as Record<string, unknown>).txHash);
    nodes.confirmationsOf.set(txHash, 2);
    await t.desk.worker.tick();
    await t.desk.worker.tick();
    const done = await getOrder(t, String(order.id));
    expect(done.status).toBe('completed');
  });

  it('hot-wallet drift: the network fee a release paid is booked from the hot wallet to fees', async () => {
    nodes.next = { nodeStatus: 'confirmed', withTx: true };
    nodes.fee = 21_000n * 1_000_000_000n;
    const before = await balance(db, 'house:fees:ETH').catch(() => undefined);
    const order = await released('c-fee');
    const txHash = String((order.release as Record<string, unknown>).txHash);
    nodes.confirmationsOf.set(txHash, 3);
    await t.desk.worker.tick();
    expect((await getOrder(t, String(order.id))).status).toBe('completed');
    const fees = await balance(db, 'house:fees:ETH');
    expect(fees.creditsPosted - (before?.creditsPosted ?? 0n)).toBe(nodes.fee);
    nodes.fee = undefined;
  });

  it('four eyes skipped by a re-quote: a late payment re-quoted above the threshold still needs the desk approval', async () => {
    const windowMs = t.config.payments.windowMs;
    t.config.payments.windowMs = 2 * 60_000;
    try {
      const { order } = await placeOrder(t, 'c-requote', ETH / 1000n, 'institutional');
      t.clock.now += 3 * 60_000;
      const late = await recordEvidence(t, order, { bankReference: 'B-requote', amount: 2_000_000n });
      expect(late.body.order).toMatchObject({ status: 'expired', exception: 'late_payment' });
      const fresh = await quote(t, 'c-requote', 5n * ETH);
      const requoted = await t.call('POST', `/v1/orders/${order.id}/resolve-exception`, 'olivia', {
        resolution: 'requote',
        quoteToken: fresh.token,
      });
      expect(requoted.status, JSON.stringify(requoted.body)).toBe(200);
      expect(requoted.body).toMatchObject({ status: 'awaiting_release', deskApprovalRequired: true });
      await t.desk.worker.tick();
      expect((await getOrder(t, String(order.id))).status).toBe('awaiting_release');
    } finally {
      t.config.payments.windowMs = windowMs;
    }
  });

  it('an order stranded unscreened by a crash: the worker screens it again and it proceeds', async () => {
    const { order } = await placeOrder(t, 'c-unscreened', ETH / 100n);
    // The state a crash between the order's creation and its screening leaves: compliance_check, no
    // screening decision, last changed over a minute ago.
    await db.query(`DELETE FROM otc_compliance_decisions WHERE order_id = $1`, [order.id]);
    await db.query(
      `UPDATE otc_orders SET status = 'compliance_check', updated_at = now() - interval '2 minutes' WHERE id = $1`,
      [order.id],
    );
    await t.desk.worker.tick();
    await t.desk.worker.tick();
    expect((await getOrder(t, String(order.id))).status).toBe('awaiting_payment');
    const d = await db.query(`SELECT check_name, outcome FROM otc_compliance_decisions WHERE order_id = $1`, [
      order.id,
    ]);
    expect(d.rows).toContainEqual({ check_name: 'destination-screening', outcome: 'pass' });
  });

  it('suspension lifted by the backend: only compliance changes a client’s status', async () => {
    await registerClient(t, 'c-suspended');
    const suspend = await t.call('PUT', '/v1/clients/c-suspended', 'carla', {
      kycTier: 'basic',
      country: 'DE',
      status: 'suspended',
    });
    expect(suspend.body.status).toBe('suspended');
    const update = await t.call('PUT', '/v1/clients/c-suspended', 'desk-backend', {
      kycTier: 'basic',
      country: 'FR',
    });
    expect(update.body).toMatchObject({ status: 'suspended', country: 'FR' });
    const lift = await t.call('PUT', '/v1/clients/c-suspended', 'desk-backend', {
      kycTier: 'basic',
      country: 'DE',
      status: 'active',
    });
    expect(lift.status).toBe(403);
  });
});
