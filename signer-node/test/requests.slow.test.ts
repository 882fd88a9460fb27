// Transfer requests across three real signer-node processes and a real anvil: an EVM transfer built by
// the node (nonce and fees from the RPC), approved by two approver keys, signed by a 2-of-3 DKLs23
// session carrying the bundle, broadcast and confirmed on chain; and the request-side bypass attempts
// of issue 6, each refused for its own reason (tier routes, address-book cool-off, a limit catching a
// split amount, approvals replayed, for another digest, by the initiator, expired). One cluster, one
// key for the whole file.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeEvmTransfer } from '@coffer/chains/evm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Anvil, minimalTokenInitCode, startAnvil } from '../../packages/chains/test/anvil.ts';
import { type ClusterSpec, initCluster, NodeProcess, publishPolicy } from '../src/dev/cluster.ts';
import { keyAddress } from '../src/policy/bundle.ts';
import { api } from './helpers/cluster.ts';
import { approval, ETH, requestPolicyWire, TIER_PATHS } from './helpers/requests.ts';

const NETWORK = 'eip155:31337';
const ALICE_TOKEN = randomBytes(24).toString('hex');
const EXCHANGE = `0x${'4e'.repeat(20)}`;
/** anvil's first dev account (unlocked): deploys and funds the test token. */
const FUNDER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
let token: string;
const FRESH = `0x${'5f'.repeat(20)}`;

let dir: string;
let anvil: Anvil;
let spec: ClusterSpec;
let nodes: NodeProcess[];
let keyId: string;
const address: Record<string, string> = {};
const tokens = () => ({
  otc: spec.policy.makerToken,
  alice: ALICE_TOKEN,
  officer: spec.policy.approverTokens.bob!,
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-requests-'));
  anvil = await startAnvil();
  const deploy = (await anvil.rpc('eth_sendTransaction', [
    { from: FUNDER, data: minimalTokenInitCode(10n ** 15n), gas: '0x100000' },
  ])) as string;
  token = (await receiptOf(deploy)).contractAddress;
  spec = await initCluster({
    dir,
    backends: ['software', 'software', 'software'],
    roundMs: 20_000,
    chains: {
      evm: { rpcUrl: anvil.url, chainId: 31337, tokens: [{ contract: token, symbol: 'TST', decimals: 6 }] },
    },
  });
  // alice both initiates transfers and approves (the self-approval attempt).
  for (const n of spec.nodes) {
    const config = JSON.parse(readFileSync(n.config, 'utf8')) as { apiKeys: unknown[] };
    config.apiKeys.push({
      id: 'alice-maker',
      scopes: ['maker'],
      operator: 'alice',
      sha256: createHash('sha256').update(ALICE_TOKEN).digest('hex'),
    });
    writeFileSync(n.config, JSON.stringify(config, null, 2));
  }
  nodes = spec.nodes.map((n) => new NodeProcess(n, spec.env));
  await Promise.all(nodes.map((n) => n.start()));
  const kg = await api(nodes[0]!, 'POST', '/v1/keys', {
    token: spec.adminToken,
    body: { scheme: 'ecdsa-secp256k1', threshold: 2, parties: 3 },
  });
  expect(kg.status, JSON.stringify(kg.body)).toBe(201);
  const wallet = kg.body as { id: string; publicKey: string; chainCode: string; scheme: string };
  keyId = wallet.id;
  for (const [tier, path] of Object.entries(TIER_PATHS))
    address[tier] = (await keyAddress(wallet, path, 'evm', NETWORK))!;
  const document = requestPolicyWire(
    {
      network: NETWORK,
      hot: address.hot!,
      cold: address.cold!,
      warm: address.warm!,
      exchange: EXCHANGE,
      fresh: FRESH,
    },
    { nowMs: Date.now(), version: 2, maker: 'otc-desk' },
  );
  await publishPolicy(spec, document);
  for (const n of nodes)
    await until(
      async () =>
        (
          (await api(n, 'GET', '/v1/policy', { token: spec.auditorToken })).body.active as {
            version?: number;
          }
        )?.version === 2,
    );
  await anvil.rpc('anvil_setBalance', [address.hot, `0x${(10n * ETH).toString(16)}`]);
  const credit = `0xa9059cbb${'0'.repeat(24)}${address.hot!.slice(2).toLowerCase()}${(10n ** 9n).toString(16).padStart(64, '0')}`;
  await receiptOf(
    (await anvil.rpc('eth_sendTransaction', [{ from: FUNDER, to: token, data: credit }])) as string,
  );
}, 180_000);

/** anvil mines right after answering: wait (bounded) for the receipt. */
async function receiptOf(hash: string): Promise<{ contractAddress: string; status: string }> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const receipt = (await anvil.rpc('eth_getTransactionReceipt', [hash])) as {
      contractAddress: string;
      status: string;
    } | null;
    if (receipt) return receipt;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no receipt for ${hash} after 5 s`);
}

async function tokenBalance(holder: string): Promise<bigint> {
  const data = `0x70a08231${'0'.repeat(24)}${holder.slice(2).toLowerCase()}`;
  return BigInt((await anvil.rpc('eth_call', [{ to: token, data }, 'latest'])) as string);
}

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(async () => {
  await Promise.all((nodes ?? []).map((n) => n.kill9()));
  await anvil?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let orders = 0;
async function transfer(
  who: 'otc' | 'alice',
  options: { path?: string; wallet?: string; to?: string; amount: bigint; node?: number; token?: string },
) {
  return api(nodes[options.node ?? 0]!, 'POST', '/v1/transfers', {
    token: tokens()[who],
    body: {
      wallet: options.wallet ?? 'hot-eth',
      keyId,
      path: options.path ?? 'm',
      chain: 'evm',
      asset: options.token ? { kind: 'token', contract: options.token } : { kind: 'native' },
      to: options.to ?? EXCHANGE,
      amount: options.amount.toString(),
      idempotencyKey: `order-${++orders}-${Date.now()}`,
    },
  });
}

type View = {
  id: string;
  status: string;
  requestDigest: string;
  decision: { outcome: string; reasons: { code: string }[] } | null;
  txHash: string | null;
  signers: string[];
  history: { status: string }[];
  error: string | null;
};

async function settled(id: string, until: string[], node = 0): Promise<View> {
  let view: View | undefined;
  await expect
    .poll(
      async () => {
        view = (await api(nodes[node]!, 'GET', `/v1/requests/${id}`, { token: spec.auditorToken }))
          .body as View;
        return until.includes(view.status) ? view.status : `${view.status} ${view.error ?? ''}`;
      },
      { timeout: 60_000, interval: 200 },
    )
    .toSatisfy((s: string) => until.includes(s));
  return view!;
}

function approve(id: string, body: unknown, node = 0) {
  return api(nodes[node]!, 'POST', `/v1/requests/${id}/approvals`, { token: tokens().officer, body });
}

const reasons = (v: { decision: View['decision'] }) => (v.decision?.reasons ?? []).map((r) => r.code);

describe('transfer requests through real nodes and anvil', () => {
  it('an EVM transfer built by the node, approved by two officers, is signed, broadcast and confirmed', async () => {
    const before = BigInt((await anvil.rpc('eth_getBalance', [EXCHANGE, 'latest'])) as string);
    const created = await transfer('alice', { amount: ETH / 2n });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const r = created.body as View;
    expect(r.status).toBe('pending-approvals');
    // Every key holder stored the forwarded bundle.
    for (const n of nodes.slice(1))
      await expect
        .poll(async () => (await api(n, 'GET', `/v1/requests/${r.id}`, { token: spec.auditorToken })).status)
        .toBe(200);
    const now = Date.now();
    const first = await approve(r.id, approval('bob', r.requestDigest, { approvedAtMs: now }));
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect((first.body as View).status).toBe('pending-approvals');
    // The second approval arrives at another node; it reaches the coordinator as a notice.
    const second = await approve(r.id, approval('carol', r.requestDigest, { approvedAtMs: now }), 1);
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    const done = await settled(r.id, ['confirmed', 'failed', 'denied']);
    expect(done.status, done.error ?? '').toBe('confirmed');
    expect(done.history.map((h) => h.status)).toEqual([
      'submitted',
      'pending-approvals',
      'approved',
      'signing',
      'signed',
      'broadcast',
      'confirmed',
    ]);
    expect(done.signers).toHaveLength(2);
    const receipt = (await anvil.rpc('eth_getTransactionReceipt', [done.txHash])) as { status: string };
    expect(receipt.status).toBe('0x1');
    const after = BigInt((await anvil.rpc('eth_getBalance', [EXCHANGE, 'latest'])) as string);
    expect(after - before).toBe(ETH / 2n);
    // The peers heard how it ended.
    await settled(r.id, ['confirmed'], 2);
    const listed = await api(nodes[0]!, 'GET', '/v1/requests?status=confirmed', { token: spec.auditorToken });
    expect((listed.body.requests as View[]).map((v) => v.id)).toContain(r.id);
  });

  it('an ERC-20 transfer built by the node (gas estimated by the RPC) is approved, signed, broadcast and confirmed', async () => {
    const created = await transfer('alice', { amount: 1_000_000n, token });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const r = created.body as View & { intent: { asset: { kind: string; contract: string }; to: string } };
    expect(r.intent.asset.kind).toBe('token');
    expect(r.intent.asset.contract.toLowerCase()).toBe(token.toLowerCase());
    expect(r.intent.to.toLowerCase()).toBe(EXCHANGE);
    expect(r.status, JSON.stringify(r.decision)).toBe('pending-approvals');
    const now = Date.now();
    for (const who of ['bob', 'carol'] as const)
      expect((await approve(r.id, approval(who, r.requestDigest, { approvedAtMs: now }))).status).toBe(200);
    const done = await settled(r.id, ['confirmed', 'failed', 'denied']);
    expect(done.status, done.error ?? '').toBe('confirmed');
    expect(await tokenBalance(EXCHANGE)).toBe(1_000_000n);
  });

  it.each<[string, { path?: string; wallet?: string; to?: string }, string]>([
    ['cold → external', { path: TIER_PATHS.cold, wallet: 'cold-eth' }, 'tier-route'],
    ['warm → external', { path: TIER_PATHS.warm, wallet: 'warm-eth' }, 'tier-route'],
    ['hot → cold', { to: 'cold' }, 'tier-route'],
    ['an address-book entry inside its cool-off', { to: FRESH }, 'address-book-cool-off'],
  ])('denies %s (%s)', async (_name, options, reason) => {
    const to = options.to === 'cold' ? address.cold : options.to;
    const created = await transfer('otc', {
      amount: ETH / 100n,
      ...(options.path ? { path: options.path, wallet: options.wallet } : {}),
      ...(to ? { to } : {}),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const view = created.body as View;
    expect(view.status).toBe('denied');
    expect(reasons(view)).toContain(reason);
    expect(view.signers).toEqual([]);
  });

  it('an amount split into small requests to stay under the approval band is caught by the daily limit', async () => {
    // 0.09 ETH each needs no approval; the operator may move 0.25 ETH a day.
    const outcomes: View[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await transfer('otc', { amount: (ETH * 9n) / 100n });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      outcomes.push(await settled((created.body as View).id, ['confirmed', 'denied', 'failed']));
    }
    expect(outcomes.map((o) => o.status)).toEqual(['confirmed', 'confirmed', 'denied']);
    expect(reasons(outcomes[2]!)).toContain('limit-exceeded');
  });

  it('refuses approvals by reason: replayed from another request, for another digest, by the initiator, expired', async () => {
    // Created concurrently (otc-desk used up its daily limit above; alice has none).
    const [a, b] = (
      await Promise.all([transfer('alice', { amount: ETH }), transfer('alice', { amount: ETH })])
    ).map((r) => r.body as View) as [View, View];
    expect([a.status, b.status]).toEqual(['pending-approvals', 'pending-approvals']);
    // Both wait unsigned, built at the same time, yet the node gave them consecutive nonces: neither
    // can replace the other.
    const nonceOf = (v: View) =>
      decodeEvmTransfer((v as unknown as { unsignedTransaction: `0x${string}` }).unsignedTransaction, {
        network: { chainId: 31337, nativeSymbol: 'ETH', tokens: [], maxFeeWei: 10n ** 17n },
        from: address.hot!,
      }).nonce;
    expect(Math.abs(nonceOf(b) - nonceOf(a))).toBe(1);
    const now = Date.now();
    const forB = approval('bob', b.requestDigest, { approvedAtMs: now });
    expect((await approve(b.id, forB)).status).toBe(200);
    const cases: Array<[string, unknown, string]> = [
      ['replayed on another request', forB, 'different-digest'],
      [
        'for a different digest',
        approval('carol', 'ab'.repeat(32), { approvedAtMs: now }),
        'different-digest',
      ],
      ['by the initiator', approval('alice', a.requestDigest, { approvedAtMs: now }), 'initiator'],
      [
        'expired',
        approval('carol', a.requestDigest, { approvedAtMs: now - 2 * 3_600_000, ttlMs: 3_600_000 }),
        'expired',
      ],
    ];
    for (const [name, body, reason] of cases) {
      const refused = await approve(a.id, body);
      expect(refused.status, name).toBe(422);
      expect(refused.body, name).toMatchObject({ code: 'approval-rejected', field: 'approval', reason });
    }
    const still = (await api(nodes[0]!, 'GET', `/v1/requests/${a.id}`, { token: spec.auditorToken }))
      .body as View;
    expect(still.status).toBe('pending-approvals');
    expect((still as unknown as { approvals: unknown[] }).approvals).toEqual([]);
    // Clean up: the initiators cancel what they started.
    for (const [r, who] of [
      [a, 'alice'],
      [b, 'alice'],
    ] as const)
      expect(
        (await api(nodes[0]!, 'POST', `/v1/requests/${r.id}/cancel`, { token: tokens()[who] })).status,
      ).toBe(200);
  });

  it('after a crash: a waiting request survives and is signed once approved; one caught mid-signing is failed, not signed again', async () => {
    const waiting = (await transfer('alice', { amount: ETH / 2n })).body as View;
    expect(waiting.status).toBe('pending-approvals');
    const coordinator = nodes[0]!;
    await coordinator.kill9();
    await coordinator.start({ env: { COFFER_TEST_STALL: 'sign:1' } });
    // Small enough to need no approval: signing starts at once and the node stalls after round 1.
    const interrupted = (await transfer('alice', { amount: ETH / 50n })).body as View;
    await coordinator.waitForEvent('stalled');
    await coordinator.kill9();
    await coordinator.start();
    const failed = (
      await api(coordinator, 'GET', `/v1/requests/${interrupted.id}`, { token: spec.auditorToken })
    ).body as View;
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/restarted/);
    expect(failed.history.map((h) => h.status).slice(-2)).toEqual(['signing', 'failed']);
    expect(failed.txHash).toBeNull();
    const now = Date.now();
    for (const who of ['bob', 'carol'] as const)
      expect(
        (await approve(waiting.id, approval(who, waiting.requestDigest, { approvedAtMs: now }))).status,
      ).toBe(200);
    const done = await settled(waiting.id, ['confirmed', 'failed', 'denied']);
    expect(done.status, done.error ?? '').toBe('confirmed');
    expect(
      (await api(coordinator, 'GET', `/v1/requests/${interrupted.id}`, { token: spec.auditorToken })).body
        .status,
    ).toBe('failed');
  });

  it('a raw digest is a request too: denied without a rawDigest rule for the wallet', async () => {
    const r = await api(nodes[0]!, 'POST', '/v1/sign', {
      token: tokens().otc,
      body: { wallet: 'hot-eth', keyId, digest: 'ab'.repeat(32) },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(403);
    expect(r.body.code).toBe('policy-denied');
    expect(reasons(r.body.request as View)).toContain('raw-digest-not-allowed');
  });
});
