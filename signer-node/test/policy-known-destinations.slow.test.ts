// The first-time-destination delay across three real signer-node processes (DESIGN §5 "Delays";
// signer-node/docs/policy-api.md, "Known destinations"): after hot-eth pays X, its receipts travel to
// every node; a payment to X from another policy wallet of the same key still waits the veto window,
// while hot-eth may pay X again at once, even through the node that was not in the first signing set
// (it knows X only from the receipts of the two nodes that signed). One ECDSA key (DKLs23) for the file.
import { join } from 'node:path';
import { buildEvmTransfer } from '@coffer/chains/evm';
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentDevPolicy, type NodeProcess, publishPolicy } from '../src/dev/cluster.ts';
import { keyAddress } from '../src/policy/bundle.ts';
import { api, type Cluster, startCluster } from './helpers/cluster.ts';

const CHAIN_ID = 31337;
const NETWORK = `eip155:${CHAIN_ID}`;
const EVM = { chainId: CHAIN_ID, nativeSymbol: 'ETH', maxFeeWei: 10n ** 17n, tokens: [] };
const X = '0x7777777777777777777777777777777777777777';
const DELAY_MS = 2_000;
const WALLET_PATHS = { 'hot-eth': 'm', 'hot2-eth': 'm/1' } as const;
type WalletId = keyof typeof WALLET_PATHS;

let c: Cluster;
let keyId: string;
const from: Record<string, string> = {};
const nonces: Record<string, number> = {};

beforeAll(async () => {
  c = await startCluster({ roundMs: 20_000, chains: { evm: { chainId: CHAIN_ID } } });
  const kg = await api(c.nodes[0]!, 'POST', '/v1/keys', {
    token: c.spec.adminToken,
    body: { scheme: 'ecdsa-secp256k1', threshold: 2, parties: 3 },
  });
  if (kg.status !== 201) throw new Error(JSON.stringify(kg.body));
  const key = kg.body as { id: string; scheme: string; publicKey: string; chainCode: string };
  keyId = key.id;
  for (const [wallet, path] of Object.entries(WALLET_PATHS)) {
    from[wallet] = (await keyAddress(key, path, 'evm', NETWORK))!;
    nonces[wallet] = 0;
  }
  // biome-ignore lint/suspicious/noExplicitAny: policy documents are edited as plain JSON here
  const doc = structuredClone(currentDevPolicy(c.spec)) as Record<string, any>;
  doc.version += 1;
  doc.wallets = [
    ...doc.wallets.filter((w: { id: string }) => !(w.id in WALLET_PATHS)),
    ...Object.keys(WALLET_PATHS).map((id) => ({
      id,
      tier: 'hot',
      chain: 'evm',
      network: NETWORK,
      address: from[id],
    })),
  ];
  doc.addressBook = [
    {
      id: 'x',
      name: 'X',
      chain: 'evm',
      network: NETWORK,
      tier: 'hot',
      address: X,
      addedAtMs: 0,
      coolOffMs: 0,
    },
  ];
  doc.rules = [
    {
      id: 'hot-to-book',
      when: { tiers: ['hot'], destination: { kind: 'address-book' } },
      effect: { type: 'allow' },
    },
  ];
  doc.quorum = [{ id: 'any-amount' }];
  doc.limits = [];
  doc.delays = { largeDelayMs: 0, firstTimeDestinationDelayMs: DELAY_MS };
  doc.screening = { denylist: [] };
  await publishPolicy(c.spec, doc);
}, 180_000);

afterAll(async () => {
  await c?.stopAll();
});

type View = { status: number; body: Record<string, unknown> };
const delaysOf = (view: View) =>
  ((view.body.decision as { trace: { delays: { source: string }[] } }).trace.delays ?? []).map(
    (d) => d.source,
  );

/** POST /v1/transfers as the maker: the view as created (the coordinator's first decision). */
function create(via: NodeProcess, wallet: WalletId): Promise<View> {
  const tx = buildEvmTransfer({
    network: EVM,
    from: from[wallet]!,
    to: X,
    amount: 1000n,
    nonce: nonces[wallet]!++,
    gas: 21_000n,
    maxFeePerGas: 1_000_000_000n,
    maxPriorityFeePerGas: 1n,
  });
  return api(via, 'POST', '/v1/transfers', {
    token: c.spec.policy.makerToken,
    body: {
      wallet,
      keyId,
      path: WALLET_PATHS[wallet],
      chain: 'evm',
      asset: { kind: 'native' },
      to: X,
      amount: '1000',
      idempotencyKey: `t-${bytesToHex(randomBytes(6))}`,
      unsignedTransaction: tx.serialized,
    },
  });
}

/** Waits until the request leaves the waiting and signing states. */
async function settled(via: NodeProcess, id: string): Promise<View> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const view = await api(via, 'GET', `/v1/requests/${id}`, { token: c.spec.auditorToken });
    if (!['submitted', 'approved', 'signing', 'delayed'].includes(view.body.status as string)) return view;
    if (Date.now() > deadline) throw new Error(`request ${id} still ${view.body.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Nodes whose receipt for `requestDigest` is stored in `n`'s database. */
function receiptSigners(n: NodeProcess, requestDigest: string): string[] {
  const db = new Database(join(n.spec.dir, 'data', 'node.sqlite'), { readonly: true });
  try {
    const rows = db.prepare('SELECT signer FROM receipts WHERE request_id = ?').all(requestDigest) as {
      signer: string;
    }[];
    return rows.map((r) => r.signer).sort();
  } finally {
    db.close();
  }
}

describe('first-time-destination delay across signer-node processes', () => {
  it('X paid by hot-eth stays first-time for hot2-eth; hot-eth pays X again without delay through the node that did not sign', async () => {
    // 1. hot-eth → X: first time, it waits the veto window, then signs.
    const first = await create(c.nodes[0]!, 'hot-eth');
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body.status).toBe('delayed');
    expect(delaysOf(first)).toEqual(['first-time-destination']);
    const signed = await settled(c.nodes[0]!, first.body.id as string);
    expect(signed.body.status, JSON.stringify(signed.body)).toBe('signed');
    const signers = (signed.body.signers as string[]).slice().sort();
    expect(signers).toHaveLength(2);
    const digest = signed.body.requestDigest as string;
    const outsider = c.nodes.find((n) => !signers.includes(n.spec.id))!;
    // Both signers' receipts reach the node that was not in the signing set.
    await expect.poll(() => receiptSigners(outsider, digest), { timeout: 10_000 }).toEqual(signers);

    // 2. hot2-eth → X through a node that signed the payment: X is still first-time for hot2-eth.
    const other = await create(c.nodes[0]!, 'hot2-eth');
    expect(other.status, JSON.stringify(other.body)).toBe(201);
    expect(other.body.status, JSON.stringify(other.body.decision)).toBe('delayed');
    expect(delaysOf(other)).toEqual(['first-time-destination']);
    const cancelled = await api(c.nodes[0]!, 'POST', `/v1/requests/${other.body.id as string}/cancel`, {
      token: c.spec.policy.makerToken,
    });
    expect(cancelled.body.status).toBe('cancelled');

    // 3. hot-eth → X again, coordinated by the outsider: known from the two signers' receipts.
    const again = await create(outsider, 'hot-eth');
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body.status, JSON.stringify(again.body.decision)).not.toBe('delayed');
    expect(delaysOf(again)).toEqual([]);
    const done = await settled(outsider, again.body.id as string);
    expect(done.body.status, JSON.stringify(done.body)).toBe('signed');
    expect(done.body.signers).toContain(outsider.spec.id);
  }, 120_000);
});
