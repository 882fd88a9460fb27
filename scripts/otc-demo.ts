// The main job's OTC part: one buy order through every step, over the OTC service's HTTP API only. The
// service runs as its own process on the embedded database (PGlite data directory) and holds no keys;
// it asks the signer nodes for the release with the maker key of operator otc-desk, and the nodes'
// policy still decides: the customer's address is an address-book entry, and 0.5 ETH is above the
// 0.1 ETH band, so two treasury officers approve on the nodes (policy approval) after the desk's own
// ops checker has approved (desk approval).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { writeDevDesk } from '@coffer/otc/dev';
import { OtcProcess } from '@coffer/otc/dev-process';
import { currentDevPolicy, loadDevKey, publishPolicy } from '@coffer/signer-node/dev-cluster';
import type { Anvil } from '../packages/chains/test/anvil.ts';
import { approveRequest } from '../packages/cli/src/approve.ts';
import { CofferClient } from '../packages/client/src/index.ts';
import type { RunningCluster } from './cluster.ts';

const ETH = 10n ** 18n;
/** anvil's fourth dev account, standing in for the desk's customer. */
const CUSTOMER = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';

type Say = (s: string) => void;
type Call = (method: string, path: string, who: string, body?: unknown) => Promise<Record<string, unknown>>;

function client(url: string, tokens: Record<string, string>): Call {
  return async (method, path, who, body) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${tokens[who]}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(method === 'POST' ? { 'idempotency-key': randomBytes(12).toString('hex') } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const out = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${out.code}: ${out.message}`);
    return out;
  };
}

const usd = (cents: unknown) => `${(Number(cents) / 100).toFixed(2)} USD`;
const eth = (wei: unknown) => `${Number(BigInt(String(wei)) / 10n ** 12n) / 1e6} ETH`;

async function waitForOrder(
  call: Call,
  id: string,
  wanted: string,
  timeoutMs: number,
  say: Say,
  onStatus?: (o: Record<string, unknown>) => Promise<void>,
) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const o = await call('GET', `/v1/orders/${id}`, 'olivia');
    const release = o.release as Record<string, unknown>;
    const line = `${o.status}${release.nodeStatus ? ` (signer nodes: ${release.nodeStatus})` : ''}`;
    if (line !== last) {
      say(`    … ${line}`);
      last = line;
      await onStatus?.(o);
    }
    if (o.status === wanted) return o;
    if (['release_failed', 'cancelled', 'rejected'].includes(String(o.status)))
      throw new Error(`order ${id} ended ${o.status}: ${release.failureReason ?? ''}`);
    if (Date.now() > deadline) throw new Error(`order ${id} still ${o.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function otcDemo(
  cluster: RunningCluster,
  anvil: Anvil,
  hotKeyId: string,
  dir: string,
  say: Say,
): Promise<Record<string, unknown>> {
  const { spec } = cluster;
  const admin = new CofferClient({ url: cluster.nodes[0]!.url, apiKey: spec.adminToken });
  const hot = (await admin.wallet(hotKeyId)).addresses!.evm!;
  say('\nOTC desk: one buy order, quote to reconciled (the service holds no keys)');
  const doc = structuredClone(currentDevPolicy(spec)) as Record<string, unknown> & {
    version: number;
    addressBook: unknown[];
  };
  doc.version += 1;
  doc.addressBook.push({
    id: 'customer-c-demo',
    name: 'OTC customer c-demo',
    chain: 'evm',
    network: 'eip155:31337',
    tier: 'hot',
    address: CUSTOMER,
    addedAtMs: 0,
    coolOffMs: 0,
  });
  await publishPolicy(spec, doc);
  say(`  policy: the customer's address ${CUSTOMER} added to the nodes' address book`);

  const dev = writeDevDesk({
    dir,
    nodeUrls: cluster.nodes.map((n) => n.url),
    makerToken: spec.policy.makerToken,
    evmRpcUrl: anvil.url,
    assets: [
      {
        id: 'ETH',
        chain: 'evm',
        network: 'eip155:31337',
        kind: 'native',
        decimals: 18,
        wallet: 'hot-eth',
        keyId: hotKeyId,
        hotAddress: hot,
        confirmations: 1,
      },
    ],
    prices: [{ asset: 'ETH', fiat: 'USD', mid: 300_000n }],
    deskApprovalUsdCents: 100_000n,
  });
  const service = new OtcProcess(dev.configFile);
  const url = await service.start();
  say(`  OTC service ${url} (embedded PostgreSQL: PGlite in ${join(dir, 'db')})`);
  try {
    const call = client(url, dev.tokens);
    const onChain = BigInt((await anvil.rpc('eth_getBalance', [hot, 'latest'])) as string);
    await call('POST', '/v1/inventory/funding', 'adam', {
      asset: 'ETH',
      amount: onChain.toString(),
      reference: 'demo-opening-balance',
    });
    say(`  inventory: the hot wallet's ${eth(onChain)} recorded in the ledger by the admin`);
    await call('PUT', '/v1/clients/c-demo', 'desk-backend', { kycTier: 'institutional', country: 'DE' });
    const amount = ETH / 2n;
    const quote = await call('POST', '/v1/quotes', 'desk-backend', {
      clientId: 'c-demo',
      side: 'buy',
      asset: 'ETH',
      amount: amount.toString(),
      fiatCurrency: 'USD',
      kind: 'firm',
    });
    say(
      `  1. firm quote ${quote.id}: ${eth(quote.amount)} at ${usd(quote.priceMinor)}/ETH = ${usd(quote.fiatAmount)}, expires ${quote.expiresAt}`,
    );
    const order = await call('POST', '/v1/orders', 'desk-backend', {
      clientId: 'c-demo',
      quoteToken: quote.token,
      destination: CUSTOMER,
    });
    const pi = order.paymentInstructions as Record<string, unknown>;
    const account = pi.account as Record<string, string>;
    say(
      `  2. order ${order.id} ${order.status}: pay ${usd(pi.amount)} to ${account.accountName}, ${account.accountNumber}, reference ${pi.reference}, before ${pi.deadline}`,
    );
    const evidence = await call('POST', '/v1/fiat/evidence', 'olivia', {
      paymentReference: pi.reference,
      bankReference: `DEMO-${randomBytes(4).toString('hex').toUpperCase()}`,
      amount: pi.amount,
      currency: 'USD',
      transferredAt: new Date().toISOString(),
      sourceAccountLast4: '4821',
    });
    const paid = evidence.order as Record<string, unknown>;
    say(
      `  3. fiat confirmed by ops maker olivia (${usd(pi.amount)}, account …4821): ${evidence.outcome}, order ${paid.status}`,
    );
    const approved = await call('POST', `/v1/orders/${order.id}/desk-approval`, 'oscar', {});
    say(`  4. desk approval by ops checker oscar: ${approved.status}`);
    const approvedOnNodes = new Set<string>();
    const before = BigInt((await anvil.rpc('eth_getBalance', [CUSTOMER, 'latest'])) as string);
    const t = Date.now();
    const done = await waitForOrder(call, String(order.id), 'completed', 180_000, say, async (o) => {
      const release = o.release as Record<string, unknown>;
      if (release.nodeStatus !== 'pending-approvals' || approvedOnNodes.has(String(release.requestId)))
        return;
      approvedOnNodes.add(String(release.requestId));
      for (const [who, node] of [
        ['alice', cluster.nodes[0]!],
        ['bob', cluster.nodes[1]!],
      ] as const) {
        const key = loadDevKey(spec, who);
        await approveRequest({
          client: new CofferClient({ url: node.url, apiKey: spec.policy.approverTokens[who]! }),
          requestId: String(release.requestId),
          key: { id: who, publicKey: key.publicKey, key },
          ttlMs: 3_600_000,
        });
        say(`       policy approval on the nodes by ${who} (decoded and checked on this machine)`);
      }
    });
    const release = done.release as Record<string, unknown>;
    const received = BigInt((await anvil.rpc('eth_getBalance', [CUSTOMER, 'latest'])) as string) - before;
    say(
      `  5. released by the signer nodes under key ${release.idempotencyKey}: tx ${release.txHash}, ${release.confirmations} confirmation(s); the customer received ${eth(received)} (${Date.now() - t} ms)`,
    );
    const rec = await call('POST', '/v1/reconciliation/run', 'adam', {
      from: new Date(t - 3_600_000).toISOString(),
      to: new Date(Date.now() + 60_000).toISOString(),
    });
    const final = await call('GET', `/v1/orders/${order.id}`, 'audrey');
    const report = rec.report as { items: { kind: string; reason: string }[] };
    say(
      `  6. reconciliation: delivery ↔ node request ↔ chain and receipt ↔ bank evidence matched; order ${final.status}`,
    );
    for (const item of report.items) say(`     listed: ${item.kind}: ${item.reason}`);
    const ledger = await call('GET', '/v1/ledger/check', 'audrey');
    say(
      `  ledger ${ledger.balanced ? 'balanced' : `NOT BALANCED: ${(ledger.problems as string[]).join('; ')}`}`,
    );
    const ok = final.status === 'reconciled' && received === amount && ledger.balanced === true;
    return {
      ok,
      order: order.id,
      status: final.status,
      txHash: release.txHash,
      receivedWei: received.toString(),
    };
  } finally {
    await service.stop();
  }
}
