// The desk's process-level test world: a real anvil, a hand-assembled ERC-20 on it ("USDC", 6
// decimals), three real signer-node processes whose `chains.evm` points at anvil, one 2-of-3 ECDSA hot
// key funded with ETH and tokens, and a signed policy: the hot wallet pays the desk's customer addresses
// (address book) up to 1 ETH / 1000 USDC without approvals; above that, two officers (alice, bob) must
// approve (`approveAll`). One world per test file (`beforeAll`); `stop()` kills everything it started.
//
// Time: start-up is bounded by `timeoutMs` (default 90 s; about 30–60 s on a loaded 2-core machine:
// three `init` runs and three node starts dominate, key generation takes a few seconds). Every step
// has its own bound as well (node readiness 30 s, key generation 60 s, RPC calls 5 s).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CofferClient } from '@coffer/client';
import {
  type ClusterSpec,
  currentDevPolicy,
  initCluster,
  loadDevKey,
  NodeProcess,
  publishPolicy,
} from '@coffer/signer-node/dev-cluster';
import { type Anvil, minimalTokenInitCode, startAnvil } from '../../../chains/test/anvil.ts';
import { approveRequest } from '../../../cli/src/approve.ts';
import type { AssetConfig, OtcConfig } from '../../src/config/types.ts';

export const CHAIN_ID = 31337;
export const NETWORK = `eip155:${CHAIN_ID}`;
export const ETH = 10n ** 18n;
export const USDC = 10n ** 6n;
/** anvil's first dev account (unlocked): deploys the token and funds the hot wallet. */
export const FUNDER = '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266';
/** Released without policy approvals up to these amounts (inclusive); above, two officers. */
export const NO_APPROVAL_UP_TO = { ETH: ETH, USDC: 1_000n * USDC } as const;
/** The desk's customer addresses in the nodes' address book (the policy pays no other address). */
export const CUSTOMERS: readonly string[] = Array.from(
  { length: 12 },
  (_, i) => `0x${(i + 1).toString(16).padStart(2, '0').repeat(20)}`,
);
const HOT_FUNDS = { eth: 1_000n * ETH, usdc: 10_000_000n * USDC };

export type DeskCluster = {
  anvil: Anvil;
  spec: ClusterSpec;
  nodes: NodeProcess[];
  /** The 2-of-3 ECDSA key of the hot wallet (policy wallet `hot-eth`, path m). */
  hotKeyId: string;
  hotAddress: string;
  token: { contract: string; decimals: number };
  /** Maker-scoped bearer token (operator `otc-desk`), the desk's custody API key. */
  makerToken: string;
  nodeUrls: string[];
  /** ETH (native) and USDC (the test ERC-20), both from the hot wallet. */
  assets: AssetConfig[];
  /** Addresses the policy lets the hot wallet pay. */
  customers: readonly string[];
  /** The desk's custody section for this cluster (requestTimeoutMs 15 s, pollMs 200). */
  custody(overrides?: Partial<OtcConfig['custody']>): OtcConfig['custody'];
  /** Both officers (alice on the first node, bob on the second) approve the request. */
  approveAll(requestId: string): Promise<void>;
  /** An admin client of node `i`. */
  admin(i?: number): CofferClient;
  stop(): Promise<void>;
};

export async function startDeskCluster(
  opts: { dir?: string; timeoutMs?: number } = {},
): Promise<DeskCluster> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'coffer-otc-cluster-'));
  const started: { anvil?: Anvil; nodes: NodeProcess[] } = { nodes: [] };
  const stop = async () => {
    await Promise.all(started.nodes.map((n) => n.kill9()));
    await started.anvil?.stop();
    if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true });
  };
  // A test process that dies must not leave nodes or anvil running.
  const onExit = () => {
    for (const n of started.nodes) n.child?.kill('SIGKILL');
  };
  process.once('exit', onExit);
  let timer: NodeJS.Timeout | undefined;
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the desk cluster did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    const world = await Promise.race([bringUp(dir, started), deadline]);
    return {
      ...world,
      async stop() {
        process.removeListener('exit', onExit);
        await stop();
      },
    };
  } catch (e) {
    await stop();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

async function bringUp(
  dir: string,
  started: { anvil?: Anvil; nodes: NodeProcess[] },
): Promise<Omit<DeskCluster, 'stop'>> {
  const anvil = await startAnvil();
  started.anvil = anvil;
  const token = await deployToken(anvil);
  const spec = await initCluster({
    dir,
    backends: ['software', 'software', 'software'],
    roundMs: 20_000,
    logLevel: 'warn',
    chains: {
      evm: {
        rpcUrl: anvil.url,
        chainId: CHAIN_ID,
        nativeSymbol: 'ETH',
        tokens: [{ contract: token, symbol: 'USDC', decimals: 6 }],
      },
    },
  });
  const nodes = spec.nodes.map((n) => new NodeProcess(n, spec.env));
  started.nodes.push(...nodes);
  await Promise.all(nodes.map((n) => n.start({ timeoutMs: 30_000 })));
  const nodeUrls = nodes.map((n) => n.url);
  const admin = (i = 0) =>
    new CofferClient({ url: nodeUrls[i]!, apiKey: spec.adminToken, sessionTimeoutMs: 60_000 });
  const hot = await admin().keygen({ scheme: 'ecdsa-secp256k1', threshold: 2, parties: 3, label: 'otc hot' });
  const hotAddress = hot.addresses?.evm?.toLowerCase();
  if (hotAddress === undefined) throw new Error('the hot key has no EVM address');
  await publishDeskPolicy(spec, nodeUrls, hotAddress, token);
  await fundHotWallet(anvil, hotAddress, token);
  const asset = (a: Pick<AssetConfig, 'id' | 'kind' | 'decimals'> & { contract?: string }): AssetConfig => ({
    ...a,
    chain: 'evm',
    network: NETWORK,
    wallet: 'hot-eth',
    keyId: hot.id,
    hotAddress,
    confirmations: 1,
  });
  return {
    anvil,
    spec,
    nodes,
    hotKeyId: hot.id,
    hotAddress,
    token: { contract: token, decimals: 6 },
    makerToken: spec.policy.makerToken,
    nodeUrls,
    assets: [
      asset({ id: 'ETH', kind: 'native', decimals: 18 }),
      asset({ id: 'USDC', kind: 'token', contract: token, decimals: 6 }),
    ],
    customers: CUSTOMERS,
    custody: (overrides = {}) => ({
      nodes: nodeUrls,
      apiKey: spec.policy.makerToken,
      requestTimeoutMs: 15_000,
      pollMs: 200,
      evmRpcUrl: anvil.url,
      ...overrides,
    }),
    approveAll: (requestId) => approveAll(spec, nodeUrls, requestId),
    admin,
  };
}

/** The policy version the desk works under (on top of the dev cluster's first version). */
async function publishDeskPolicy(
  spec: ClusterSpec,
  nodeUrls: string[],
  hotAddress: string,
  token: string,
): Promise<void> {
  const doc = structuredClone(currentDevPolicy(spec)) as Record<string, unknown> & {
    version: number;
    wallets: unknown[];
    addressBook: unknown[];
    rules: unknown[];
    quorum: unknown[];
  };
  doc.version += 1;
  doc.wallets.push({ id: 'hot-eth', tier: 'hot', chain: 'evm', network: NETWORK, address: hotAddress });
  doc.addressBook.push(
    ...CUSTOMERS.map((address, i) => ({
      id: `customer-${i + 1}`,
      name: `OTC customer ${i + 1}`,
      chain: 'evm',
      network: NETWORK,
      tier: 'hot',
      address,
      addedAtMs: 0,
      coolOffMs: 0,
    })),
  );
  doc.rules.push({
    id: 'hot-pays-customers',
    description: 'the hot wallet pays the desk’s customers (address book)',
    when: { tiers: ['hot'], destination: { kind: 'address-book' } },
    effect: { type: 'allow' },
  });
  doc.quorum.push(
    { id: 'eth-small', asset: `evm:${NETWORK}:native`, upToBaseUnits: NO_APPROVAL_UP_TO.ETH.toString() },
    { id: 'usdc-small', asset: `evm:${NETWORK}:${token}`, upToBaseUnits: NO_APPROVAL_UP_TO.USDC.toString() },
    { id: 'large', approvals: { group: 'officers', count: 2 } },
  );
  const published = await publishPolicy(spec, doc);
  // Every node must run the version before the first release (publication reaches each node directly).
  for (const url of nodeUrls) {
    const client = new CofferClient({ url, apiKey: spec.auditorToken, timeoutMs: 5_000 });
    for (let i = 0; ; i++) {
      if ((await client.policy()).active?.version === published.version) break;
      if (i >= 100) throw new Error(`${url} does not run policy version ${published.version}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function deployToken(anvil: Anvil): Promise<string> {
  const hash = (await anvil.rpc('eth_sendTransaction', [
    { from: FUNDER, data: minimalTokenInitCode(10n ** 15n * USDC), gas: '0x100000' },
  ])) as string;
  const receipt = await receiptOf(anvil, hash);
  if (receipt.status !== '0x1' || typeof receipt.contractAddress !== 'string')
    throw new Error('the test token was not deployed');
  return receipt.contractAddress.toLowerCase();
}

async function fundHotWallet(anvil: Anvil, hot: string, token: string): Promise<void> {
  await anvil.rpc('anvil_setBalance', [hot, `0x${HOT_FUNDS.eth.toString(16)}`]);
  const data = `0xa9059cbb${hot.slice(2).padStart(64, '0')}${HOT_FUNDS.usdc.toString(16).padStart(64, '0')}`;
  const hash = (await anvil.rpc('eth_sendTransaction', [{ from: FUNDER, to: token, data }])) as string;
  if ((await receiptOf(anvil, hash)).status !== '0x1') throw new Error('funding the hot wallet failed');
}

/** anvil mines right after answering: the receipt, waited for (bounded, 5 s). */
export async function receiptOf(
  anvil: Anvil,
  hash: string,
): Promise<{ status: string; contractAddress: string | null; blockNumber: string; to: string | null }> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const receipt = (await anvil.rpc('eth_getTransactionReceipt', [hash])) as {
      status: string;
      contractAddress: string | null;
      blockNumber: string;
      to: string | null;
    } | null;
    if (receipt) return receipt;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no receipt for ${hash} after 5 s`);
}

/** alice (through the first node) and bob (through the second) approve `requestId` as `coffer approve` does. */
export async function approveAll(spec: ClusterSpec, nodeUrls: string[], requestId: string): Promise<void> {
  for (const [approver, url] of [
    ['alice', nodeUrls[0]!],
    ['bob', nodeUrls[1]!],
  ] as const) {
    const key = loadDevKey(spec, approver);
    await approveRequest({
      client: new CofferClient({ url, apiKey: spec.policy.approverTokens[approver]! }),
      requestId,
      key: { id: approver, publicKey: key.publicKey, key },
      ttlMs: 3_600_000,
    });
  }
}

/**
 * Transactions anvil mined from `from` to `to` (the token contract for ERC-20 transfers), scanning
 * every block: how many times the hot wallet actually paid.
 */
export async function transactionsBetween(anvil: Anvil, from: string, to: string): Promise<string[]> {
  const head = Number.parseInt((await anvil.rpc('eth_blockNumber')) as string, 16);
  const found: string[] = [];
  for (let n = 0; n <= head; n++) {
    const block = (await anvil.rpc('eth_getBlockByNumber', [`0x${n.toString(16)}`, true])) as {
      transactions: { hash: string; from: string; to: string | null; input: string }[];
    };
    for (const tx of block.transactions)
      if (tx.from.toLowerCase() === from.toLowerCase() && tx.to?.toLowerCase() === to.toLowerCase())
        found.push(tx.hash);
  }
  return found;
}
