// Coffer's main job: brings up a local 3-node cluster (separate processes, each with its own SQLite
// database and KEK — SoftHSM2 tokens when installed), then through the HTTP API generates a 2-of-3 key
// for each scheme, signs a digest with it on a pair of nodes, verifies every signature with noble's
// standard verifiers (not Coffer's code), shows 2-of-3 still signing with one node stopped; then, under
// a signed policy (hot and cold tiers, an address book, a band needing two officers) and against a local
// anvil, moves 1 ETH from the hot wallet with two approvals made through `coffer approve`'s code path
// (local decode, local request digest), watches the nodes sign, broadcast and anvil confirm, and shows a
// denied transfer with its explain trace; then starts the OTC desk service (its own process, embedded
// database) and runs one buy order from quote to reconciled (scripts/otc-demo.ts); stops everything.
// Usage: pnpm demo [--json]
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  allowRawDigests,
  currentDevPolicy,
  initCluster,
  loadDevKey,
  NodeProcess,
  publishPolicy,
} from '@coffer/signer-node/dev-cluster';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { type Anvil, startAnvil } from '../packages/chains/test/anvil.ts';
import { approveRequest } from '../packages/cli/src/approve.ts';
import { CofferClient, type RequestView } from '../packages/client/src/index.ts';
import { DEV_DIR, type RunningCluster } from './cluster.ts';
import { otcDemo } from './otc-demo.ts';

const SCHEMES = ['ecdsa-secp256k1', 'schnorr-secp256k1-tr', 'eddsa-ed25519'] as const;
const json = process.argv.includes('--json');
const say = (s: string) => {
  if (!json) console.log(s);
};

function verify(scheme: string, publicKey: string, message: string, signature: string): boolean {
  const pub = hexToBytes(publicKey);
  const msg = hexToBytes(message);
  const sig = hexToBytes(signature);
  if (scheme === 'schnorr-secp256k1-tr') return schnorr.verify(sig, msg, pub);
  if (scheme === 'eddsa-ed25519') return ed25519.verify(sig, msg, pub);
  return sig.length === 65 && secp256k1.verify(sig.subarray(0, 64), msg, pub, { prehash: false });
}

async function call(
  url: string,
  token: string,
  method: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const out = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${out.code}: ${out.message}`);
  return out;
}

/** As scripts/cluster.ts bringUp, with each node's `chains.evm` pointing at the demo's anvil. */
async function bringUpWithChain(dir: string, rpcUrl: string): Promise<RunningCluster> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(DEV_DIR, { recursive: true });
  writeFileSync(join(DEV_DIR, '.gitignore'), '*\n');
  const spec = await initCluster({
    dir,
    logLevel: 'warn',
    chains: { evm: { rpcUrl, chainId: ANVIL_CHAIN_ID, nativeSymbol: 'ETH' } },
  });
  const nodes = spec.nodes.map((n) => new NodeProcess(n, spec.env));
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  process.once('exit', () => {
    for (const n of nodes) n.child?.kill('SIGKILL');
  });
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (e) {
    await stop();
    throw e;
  }
  return { spec, nodes, stop };
}

const ANVIL_CHAIN_ID = 31337;
/** anvil's first dev account (unlocked): funds the hot wallet. */
const FUNDER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
/** anvil's second dev account, standing in for an exchange's deposit address. */
const EXCHANGE = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const ETH = 10n ** 18n;

/**
 * Transfers under policy: a new policy version (hot wallet: the ECDSA key made above; cold wallet: a
 * new one; an address book; 0.1 ETH without approvals and two officers above), 1 ETH hot → exchange approved by alice and bob through
 * approveRequest (the code of `coffer approve`), then hot → cold, which the tier routes deny.
 */
async function policyDemo(
  cluster: RunningCluster,
  anvil: Anvil,
  hotKeyId: string,
): Promise<Record<string, unknown>> {
  const { spec } = cluster;
  const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
  const admin = new CofferClient({ url: a.url, apiKey: spec.adminToken });
  const maker = new CofferClient({ url: a.url, apiKey: spec.policy.makerToken });
  say('\ntransfers under a signed policy, on a local anvil (EVM chain 31337)');
  const hotKey = await admin.wallet(hotKeyId);
  const coldKey = await admin.keygen({ scheme: 'ecdsa-secp256k1', threshold: 2, parties: 3, label: 'cold' });
  const hot = hotKey.addresses!.evm!;
  const cold = coldKey.addresses!.evm!;
  const network = `eip155:${ANVIL_CHAIN_ID}`;
  const doc = structuredClone(currentDevPolicy(spec)) as Record<string, unknown> & {
    version: number;
    wallets: unknown[];
    addressBook: unknown[];
    rules: unknown[];
    quorum: unknown[];
  };
  doc.version += 1;
  doc.wallets.push(
    { id: 'hot-eth', tier: 'hot', chain: 'evm', network, address: hot },
    { id: 'cold-eth', tier: 'cold', chain: 'evm', network, address: cold },
  );
  doc.addressBook.push({
    id: 'exchange-a',
    name: 'Exchange A deposit',
    chain: 'evm',
    network,
    tier: 'hot',
    address: EXCHANGE,
    addedAtMs: 0,
    coolOffMs: 0,
  });
  doc.rules.push({
    id: 'hot-to-address-book',
    description: 'the hot wallet pays address-book entries',
    when: { tiers: ['hot'], destination: { kind: 'address-book' } },
    effect: { type: 'allow' },
  });
  doc.rules.push({
    id: 'tier-routes',
    description: 'anything the tier routes allow',
    when: {},
    effect: { type: 'allow' },
  });
  doc.quorum = [
    ...doc.quorum,
    { id: 'up-to-0.1-eth', asset: `evm:${network}:native`, upToBaseUnits: (ETH / 10n).toString() },
    { id: 'above', approvals: { group: 'officers', count: 2 } },
  ];
  const version = await publishPolicy(spec, doc);
  say(
    `  policy version ${version.version} signed by 2 of 3 admins, accepted by every node (digest ${version.digest.slice(0, 16)}…)`,
  );
  say(`    hot-eth  (hot)   ${hot}`);
  say(`    cold-eth (cold)  ${cold}`);
  say(`    address book: exchange-a ${EXCHANGE}`);
  say(
    '    rules: hot → address book allowed; up to 0.1 ETH without approvals, above needs 2 officers (alice, bob)',
  );

  await anvil.rpc('eth_sendTransaction', [{ from: FUNDER, to: hot, value: `0x${(5n * ETH).toString(16)}` }]);
  say(`  funded hot-eth with 5 ETH from anvil's dev account ${FUNDER}`);
  const balance = async (address: string) =>
    BigInt((await anvil.rpc('eth_getBalance', [address, 'latest'])) as string);
  const before = await balance(EXCHANGE);

  let t = Date.now();
  const created = await maker.createTransfer({
    wallet: 'hot-eth',
    keyId: hotKey.id,
    chain: 'evm',
    asset: { kind: 'native' },
    to: EXCHANGE,
    amount: ETH.toString(),
    idempotencyKey: 'demo-order-1',
    reference: 'demo: 1 ETH to Exchange A',
  });
  say(`\n  1 ETH hot-eth → exchange-a: ${created.id} ${created.status} (${created.decision?.outcome})`);
  const approvals: string[] = [];
  for (const [approver, node] of [
    ['alice', a],
    ['bob', b],
  ] as const) {
    const key = loadDevKey(spec, approver);
    const result = await approveRequest({
      client: new CofferClient({ url: node.url, apiKey: spec.policy.approverTokens[approver]! }),
      requestId: created.id,
      key: { id: approver, publicKey: key.publicKey, key },
      ttlMs: 3_600_000,
    });
    approvals.push(approver);
    say(
      `  ${approver} decoded the transaction and recomputed the digest ${result.requestDigest.slice(0, 16)}… on this machine; the approval went to ${node.spec.id}`,
    );
  }
  const final = await waitFor(admin, created.id, ['confirmed'], 120_000, (v) =>
    say(`    … ${v.status}${v.txHash ? ` ${v.txHash}` : ''}`),
  );
  const moved = (await balance(EXCHANGE)) - before;
  const receipt = final.txHash
    ? ((await anvil.rpc('eth_getTransactionReceipt', [final.txHash])) as {
        status: string;
        blockNumber: string;
      } | null)
    : null;
  const confirmed = final.status === 'confirmed' && receipt?.status === '0x1' && moved === ETH;
  say(
    `  signed by ${final.signers.join(' + ')}, broadcast ${final.txHash}, confirmed in block ${receipt ? Number(receipt.blockNumber) : '?'}; exchange-a received ${Number(moved) / 1e18} ETH (${Date.now() - t} ms)${confirmed ? '' : ' — UNEXPECTED'}`,
  );

  t = Date.now();
  const denied = await maker.createTransfer({
    wallet: 'hot-eth',
    keyId: hotKey.id,
    chain: 'evm',
    asset: { kind: 'native' },
    to: cold,
    amount: (ETH / 20n).toString(),
    idempotencyKey: 'demo-order-2',
  });
  const deniedView = await waitFor(admin, denied.id, ['denied'], 30_000);
  say(`\n  0.05 ETH hot-eth → cold-eth: ${deniedView.status} (${Date.now() - t} ms); the explain trace:`);
  for (const r of deniedView.decision?.reasons ?? []) say(`    reason     ${r.code}: ${r.detail}`);
  for (const [k, v] of Object.entries(deniedView.decision?.trace ?? {}))
    say(`    ${k.padEnd(10)} ${JSON.stringify(v)}`);
  return {
    ok: confirmed && deniedView.status === 'denied',
    policyVersion: version.version,
    approved: {
      request: created.id,
      approvals,
      txHash: final.txHash,
      status: final.status,
      movedWei: moved.toString(),
    },
    denied: { request: denied.id, status: deniedView.status, decision: deniedView.decision },
  };
}

/** Polls the request until it reaches one of `wanted` (or a terminal status, which throws). */
async function waitFor(
  client: CofferClient,
  id: string,
  wanted: string[],
  timeoutMs: number,
  onChange?: (v: RequestView) => void,
): Promise<RequestView> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const v = await client.request(id);
    if (v.status !== last) {
      last = v.status;
      onChange?.(v);
    }
    if (wanted.includes(v.status)) return v;
    if (['failed', 'cancelled', 'expired', 'denied', 'confirmed'].includes(v.status))
      throw new Error(
        `request ${id} ended ${v.status}: ${v.error ?? v.decision?.reasons.map((r) => r.code).join(', ')}`,
      );
    if (Date.now() > deadline) throw new Error(`request ${id} still ${v.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  say('Coffer demo: three signer-node processes on 127.0.0.1');
  // anvil first: every node's `chains.evm` points at it (nonces, fees, broadcast, confirmations).
  const anvil = await startAnvil();
  let cluster: RunningCluster;
  try {
    cluster = await bringUpWithChain(join(DEV_DIR, 'demo'), anvil.url);
  } catch (e) {
    await anvil.stop();
    throw e;
  }
  const results: Array<Record<string, unknown>> = [];
  let failed = false;
  try {
    for (const n of cluster.nodes)
      say(
        `  ${n.spec.id}  ${n.url}  KEK: ${n.spec.backend === 'pkcs11' ? 'SoftHSM2 token (PKCS#11)' : 'software (argon2id)'}`,
      );
    const token = cluster.spec.adminToken;
    const [a, b, c] = cluster.nodes as [
      (typeof cluster.nodes)[0],
      (typeof cluster.nodes)[0],
      (typeof cluster.nodes)[0],
    ];
    for (const [i, scheme] of SCHEMES.entries()) {
      const coordinator = cluster.nodes[i]!;
      let t = Date.now();
      const wallet = await call(`${coordinator.url}/v1/keys`, token, 'POST', {
        scheme,
        threshold: 2,
        parties: 3,
        label: `demo ${scheme}`,
      });
      const keygenMs = Date.now() - t;
      await allowRawDigests(cluster.spec, [{ id: String(wallet.id), publicKey: String(wallet.publicKey) }]);
      const digest = bytesToHex(sha256(new TextEncoder().encode(`coffer demo ${scheme}`)));
      t = Date.now();
      const signed = await call(`${b.url}/v1/sign`, token, 'POST', { walletId: wallet.id, digest });
      const signMs = Date.now() - t;
      const ok = verify(scheme, wallet.publicKey as string, digest, signed.signature as string);
      failed ||= !ok;
      results.push({
        scheme,
        wallet: wallet.id,
        publicKey: wallet.publicKey,
        addresses: wallet.addresses,
        keygenMs,
        signers: signed.signers,
        digest,
        signature: signed.signature,
        signMs,
        verified: ok,
      });
      say(
        `\n${scheme}: 2-of-3 key generated by ${coordinator.spec.id} with all three nodes in ${keygenMs} ms`,
      );
      say(`  public key  ${wallet.publicKey}`);
      for (const [k, v] of Object.entries(wallet.addresses as Record<string, string>))
        say(`  ${k.padEnd(11)} ${v}`);
      say(
        `  signed by ${(signed.signers as string[]).join(' + ')} in ${signMs} ms: ${(signed.signature as string).slice(0, 32)}…`,
      );
      say(`  independent verification (noble): ${ok ? 'valid' : 'INVALID'}`);
    }
    say(`\nstopping ${c.spec.id}: 2-of-3 must still sign`);
    await c.stop();
    const w = results[1]!;
    const digest = bytesToHex(sha256(new TextEncoder().encode('signed while node-c is down')));
    const signed = await call(`${a.url}/v1/sign`, token, 'POST', { walletId: w.wallet, digest });
    const ok = verify('schnorr-secp256k1-tr', w.publicKey as string, digest, signed.signature as string);
    failed ||= !ok;
    results.push({
      scheme: 'schnorr-secp256k1-tr',
      nodeDown: c.spec.id,
      signers: signed.signers,
      verified: ok,
    });
    say(`  signed by ${(signed.signers as string[]).join(' + ')}; noble: ${ok ? 'valid' : 'INVALID'}`);
    const audit = await call(`${a.url}/v1/audit/verify`, token, 'GET');
    say(
      `\naudit log on ${a.spec.id}: ${audit.entries} entries, hash chain ${audit.ok ? 'intact' : 'BROKEN'}`,
    );
    failed ||= audit.ok !== true;

    say(`\nrestarting ${c.spec.id}`);
    await c.start();
    const transfers = await policyDemo(cluster, anvil, String(results[0]!.wallet));
    results.push({ transfers });
    failed ||= transfers.ok !== true;
    const otc = await otcDemo(cluster, anvil, String(results[0]!.wallet), join(DEV_DIR, 'demo', 'otc'), say);
    results.push({ otc });
    failed ||= otc.ok !== true;
  } finally {
    await cluster.stop();
    await anvil.stop();
  }
  if (json) console.log(JSON.stringify({ ok: !failed, results, totalMs: Date.now() - started }, null, 2));
  else
    say(`\n${failed ? 'FAILED' : 'all signatures verified'}; cluster stopped (${Date.now() - started} ms)`);
  process.exit(failed ? 1 : 0);
}

await main();
