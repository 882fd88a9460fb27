// The policy gate across three real signer-node processes (issue 6, node side): each bypass attempt
// is named after the attack and asserts the refusing node's own decision, so it fails if that node's
// check were removed. One ECDSA key (DKLs23, for EVM transfers) and FROST keys for raw digests,
// generated once for the file.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { buildEvmTransfer, evmSigningDigest } from '@coffer/chains/evm';
import { openSoftwareKeystore } from '@coffer/hsm';
import { parsePolicy } from '@coffer/policy/document';
import { signPolicy } from '@coffer/policy/governance';
import { SigningKey } from '@coffer/policy/keys';
import type { TransferRequest } from '@coffer/policy/request';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowRawDigests,
  currentDevPolicy,
  type NodeProcess,
  publishPolicy,
  signDevPolicy,
} from '../src/dev/cluster.ts';
import { bundleToJson, makeBundle } from '../src/policy/bundle.ts';
import { newEnvelopeId, sealEnvelope } from '../src/transport/envelope.ts';
import { api, type Cluster, startCluster, verifySignature } from './helpers/cluster.ts';

// biome-ignore lint/suspicious/noExplicitAny: policy documents are edited as plain JSON here
type Doc = Record<string, any>;
const CHAIN_ID = 31337;
const NETWORK = `eip155:${CHAIN_ID}`;
const EVM = { chainId: CHAIN_ID, nativeSymbol: 'ETH', maxFeeWei: 10n ** 17n, tokens: [] };
const PAYEE = '0x1111111111111111111111111111111111111111';
const PAYEE2 = '0x3333333333333333333333333333333333333333';
const SANCTIONED = '0x5555555555555555555555555555555555555555';
const MALLORY = '0x2222222222222222222222222222222222222222';

let c: Cluster;
let ecdsa: { id: string; publicKey: string; addresses: Record<string, string> };
let nonce = 0;
/** Transfers this file got signed so far (all by operator otc-desk, within the limit window). */
let signedTransfers = 0;
const node = (i: number) => c.nodes[i]!;

beforeAll(async () => {
  c = await startCluster({ roundMs: 20_000, chains: { evm: { chainId: CHAIN_ID } } });
  const kg = await api(node(0), 'POST', '/v1/keys', {
    token: c.spec.adminToken,
    body: { scheme: 'ecdsa-secp256k1', threshold: 2, parties: 3 },
  });
  if (kg.status !== 201) throw new Error(JSON.stringify(kg.body));
  ecdsa = kg.body as typeof ecdsa;
}, 180_000);

afterAll(async () => {
  await c?.stopAll();
});

async function frostKey(): Promise<{ id: string; publicKey: string }> {
  const kg = await api(node(1), 'POST', '/v1/keys', {
    token: c.spec.adminToken,
    body: { scheme: 'eddsa-ed25519', threshold: 2, parties: 3 },
  });
  expect(kg.status, JSON.stringify(kg.body)).toBe(201);
  return kg.body as { id: string; publicKey: string };
}

/** The transfer policy: hot-eth may pay the address book, otc-desk at most `maxCount` per day. */
function transferPolicy(extra: { hook?: { url: string; timeoutMs: number }; maxCount?: number } = {}) {
  const doc = structuredClone(currentDevPolicy(c.spec)) as Doc;
  doc.version += 1;
  doc.wallets = [
    ...doc.wallets.filter((w: { id: string }) => w.id !== 'hot-eth'),
    { id: 'hot-eth', tier: 'hot', chain: 'evm', network: NETWORK, address: ecdsa.addresses.evm },
  ];
  doc.addressBook = [PAYEE, PAYEE2, SANCTIONED].map((address, i) => ({
    id: `payee-${i}`,
    name: `payee ${i}`,
    chain: 'evm',
    network: NETWORK,
    tier: 'hot',
    address,
    addedAtMs: 0,
    coolOffMs: 0,
  }));
  doc.rules = [
    ...doc.rules.filter((r: { id: string }) => r.id === 'dev-raw-digests'),
    {
      id: 'hot-to-book',
      when: { tiers: ['hot'], destination: { kind: 'address-book' } },
      effect: { type: 'allow' },
    },
  ];
  doc.quorum = [{ id: 'any-amount' }];
  doc.limits =
    extra.maxCount === undefined
      ? []
      : [
          {
            id: 'otc-daily',
            scope: 'operator',
            windowMs: 86_400_000,
            operators: ['otc-desk'],
            maxCount: extra.maxCount,
          },
        ];
  doc.screening = { denylist: [], ...(extra.hook ? { hook: extra.hook } : {}) };
  return doc;
}

function unsignedTo(to: string, amount = 1000n) {
  return buildEvmTransfer({
    network: EVM,
    from: ecdsa.addresses.evm!,
    to,
    amount,
    nonce: nonce++,
    gas: 21_000n,
    maxFeePerGas: 1_000_000_000n,
    maxPriorityFeePerGas: 1n,
  });
}

/** POST /v1/transfers as the maker, then waits until the request leaves the waiting/signing states. */
async function transfer(via: NodeProcess, to: string, tx = unsignedTo(to)) {
  const created = await api(via, 'POST', '/v1/transfers', {
    token: c.spec.policy.makerToken,
    body: {
      wallet: 'hot-eth',
      keyId: ecdsa.id,
      chain: 'evm',
      asset: { kind: 'native' },
      to,
      amount: tx.intent.amount.toString(),
      idempotencyKey: `t-${bytesToHex(randomBytes(6))}`,
      unsignedTransaction: tx.serialized,
    },
  });
  if (created.status !== 201) return { ...created, tx };
  const id = created.body.id as string;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const view = await api(via, 'GET', `/v1/requests/${id}`, { token: c.spec.auditorToken });
    if (
      !['submitted', 'approved', 'signing', 'pending-approvals', 'delayed'].includes(
        view.body.status as string,
      )
    ) {
      if (view.body.status === 'signed') signedTransfers += 1;
      return { ...view, tx };
    }
    if (Date.now() > deadline) throw new Error(`request ${id} still ${view.body.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const reasons = (view: { body: Record<string, unknown> }) =>
  ((view.body.decision as { reasons?: { code: string }[] } | null)?.reasons ?? []).map((r) => r.code);

function decisionsOf(n: NodeProcess, where: string, arg: string) {
  const db = new Database(join(n.spec.dir, 'data', 'node.sqlite'), { readonly: true });
  try {
    return (
      db
        .prepare(`SELECT outcome, decision FROM policy_decisions WHERE ${where} ORDER BY seq`)
        .all(arg) as Array<{
        outcome: string;
        decision: string;
      }>
    ).map((r) => ({
      outcome: r.outcome,
      codes: (JSON.parse(r.decision) as { reasons: { code: string }[] }).reasons.map((x) => x.code),
    }));
  } finally {
    db.close();
  }
}

async function restart(n: NodeProcess, edit?: (config: Doc) => void) {
  await n.stop();
  if (edit) {
    const config = JSON.parse(readFileSync(n.spec.config, 'utf8')) as Doc;
    edit(config);
    writeFileSync(n.spec.config, JSON.stringify(config, null, 2));
  }
  await n.start();
}

describe('policy gate in three signer-node processes', () => {
  it('raw digest without a policy permission: every node refuses; the permission alone lets it sign', async () => {
    const key = await frostKey();
    const digest = 'a1'.repeat(32);
    const refused = await api(node(0), 'POST', '/v1/sign', {
      token: c.spec.adminToken,
      body: { keyId: key.id, digest },
    });
    expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    expect(reasons({ body: refused.body.request as Record<string, unknown> })).toContain('unknown-wallet');
    await allowRawDigests(c.spec, [key]);
    const signed = await api(node(0), 'POST', '/v1/sign', {
      token: c.spec.adminToken,
      body: { keyId: key.id, digest },
    });
    expect(signed.status, JSON.stringify(signed.body)).toBe(200);
    expect(verifySignature('eddsa-ed25519', key.publicKey, digest, signed.body.signature as string)).toBe(
      true,
    );
  }, 60_000);

  it('forged policy version and a version signed by too few admins are refused by every node', async () => {
    const doc = structuredClone(currentDevPolicy(c.spec)) as Doc;
    doc.version += 50;
    doc.rules = [{ id: 'everything', when: {}, effect: { type: 'allow' } }];
    const before = await api(node(1), 'GET', '/v1/policy', { token: c.spec.auditorToken });
    // Signed by keys that are not the configured admins, under the admins' ids.
    const mallory = [SigningKey.generate(), SigningKey.generate()];
    const parsed = parsePolicy(doc);
    const forged = {
      document: doc,
      signatures: ['admin-1', 'admin-2'].map((id, i) => signPolicy(parsed, id, mallory[i]!)),
    };
    const tooFew = signDevPolicy(c.spec, doc, ['admin-1']);
    const duplicated = { document: doc, signatures: [tooFew.signatures[0]!, tooFew.signatures[0]!] };
    for (const n of c.nodes) {
      for (const body of [forged, tooFew, duplicated]) {
        const r = await api(n, 'POST', '/v1/policy/versions', {
          token: c.spec.policy.policyAdminToken,
          body,
        });
        expect(r.status, JSON.stringify(r.body)).toBe(422);
        expect(r.body.message).toMatch(/valid admin signatures, 2 required/);
      }
      const after = await api(n, 'GET', '/v1/policy', { token: c.spec.auditorToken });
      expect((after.body.active as { version: number }).version).toBe(
        (before.body.active as { version: number }).version,
      );
    }
  });

  it('denylisted destination: the node refuses by its own denylist file; a missing file refuses everything', async () => {
    await publishPolicy(c.spec, transferPolicy());
    const denylist = join(node(0).spec.dir, 'denylist.txt');
    writeFileSync(denylist, `# sanctions\n${SANCTIONED.toUpperCase().replace('0X', '0x')}\n`);
    const hit = await transfer(node(0), SANCTIONED);
    expect(hit.body.status, JSON.stringify(hit.body)).toBe('denied');
    expect(reasons(hit)).toContain('screening-hit');
    rmSync(denylist);
    const missing = await transfer(node(0), PAYEE);
    expect(missing.body.status).toBe('denied');
    expect(reasons(missing)).toContain('screening-unavailable');
    writeFileSync(denylist, '# restored\n');
    const ok = await transfer(node(0), PAYEE);
    expect(ok.body.status, JSON.stringify(ok.body)).toBe('signed');
    const signingDigest = bytesToHex(evmSigningDigest(ok.tx.serialized));
    expect(
      verifySignature('ecdsa-secp256k1', ecdsa.publicKey, signingDigest, ok.body.signature as string),
    ).toBe(true);
  }, 90_000);

  it('dry run: the full evaluation for a maker, nothing stored or audited', async () => {
    const count = () => {
      const db = new Database(join(node(0).spec.dir, 'data', 'node.sqlite'), { readonly: true });
      try {
        return (
          db
            .prepare('SELECT (SELECT COUNT(*) FROM policy_decisions) + (SELECT COUNT(*) FROM audit_log) AS n')
            .get() as { n: number }
        ).n;
      } finally {
        db.close();
      }
    };
    const before = count();
    const body = (to: string) => {
      const tx = unsignedTo(to);
      return {
        wallet: 'hot-eth',
        keyId: ecdsa.id,
        chain: 'evm',
        asset: { kind: 'native' },
        to,
        amount: tx.intent.amount.toString(),
        idempotencyKey: 'dry-1',
        unsignedTransaction: tx.serialized,
      };
    };
    const allowed = await api(node(0), 'POST', '/v1/policy/dry-run', {
      token: c.spec.policy.makerToken,
      body: body(PAYEE),
    });
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(200);
    expect((allowed.body.decision as { outcome: string }).outcome).toBe('allow');
    const stranger = await api(node(0), 'POST', '/v1/policy/dry-run', {
      token: c.spec.policy.makerToken,
      body: body(MALLORY),
    });
    expect((stranger.body.decision as { outcome: string }).outcome).toBe('deny');
    expect(reasons(stranger)).toContain('not-in-address-book');
    const lying = { ...body(PAYEE), to: PAYEE2 };
    const mismatch = await api(node(0), 'POST', '/v1/policy/dry-run', {
      token: c.spec.policy.makerToken,
      body: lying,
    });
    // Refused as POST /v1/transfers refuses it (and not audited: the count below).
    expect([mismatch.status, mismatch.body.code]).toEqual([422, 'description-mismatch']);
    const auditorOnly = await api(node(0), 'POST', '/v1/policy/versions', {
      token: c.spec.auditorToken,
      body: {},
    });
    expect(auditorOnly.status).toBe(403);
    expect(count()).toBe(before);
  });

  it('screening hook that times out: the transfer is denied (fail closed); a clear answer lets it through', async () => {
    let delayMs = 5_000;
    const server: Server = createServer((req, res) => {
      req.resume();
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ status: 'clear' }));
      }, delayMs);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      await publishPolicy(
        c.spec,
        transferPolicy({ hook: { url: `http://127.0.0.1:${port}/screen`, timeoutMs: 1_500 } }),
      );
      const slow = await transfer(node(1), PAYEE);
      expect(slow.body.status, JSON.stringify(slow.body)).toBe('denied');
      expect(reasons(slow)).toContain('screening-unavailable');
      expect((slow.body.decision as { trace: { screening: string } }).trace.screening).toBe('hook-timeout');
      delayMs = 0;
      const fast = await transfer(node(1), PAYEE);
      expect(fast.body.status, JSON.stringify(fast.body)).toBe('signed');
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }, 90_000);

  /**
   * node-c (software keystore: the test can sign as it) sends node-b a signing start control carrying
   * `bundle` for `message`; resolves with node-b's stored decisions for that session.
   */
  async function forgedStart(bundle: ReturnType<typeof makeBundle>, message: Uint8Array) {
    const session = `sg-${bytesToHex(randomBytes(16))}`;
    const start = {
      type: 'start',
      kind: 'sign',
      scheme: 'ecdsa-secp256k1',
      threshold: 2,
      parties: 3,
      participants: ['node-a', 'node-b', 'node-c'],
      members: [2, 3],
      walletId: ecdsa.id,
      message: bytesToHex(message),
      path: 'm',
      request: bundleToJson(bundle),
    };
    const nodeC = c.spec.nodes[2]!;
    const ks = await openSoftwareKeystore({
      directory: join(nodeC.dir, 'data', 'keystore'),
      passphrase: { file: join(nodeC.dir, 'passphrase') },
    });
    const envelope = await sealEnvelope(
      {
        kind: 'control',
        id: newEnvelopeId(),
        session,
        round: 0,
        from: 'node-c',
        to: 'node-b',
        encrypted: false,
        payload: new TextEncoder().encode(JSON.stringify(start)),
      },
      (m) => ks.identity.sign(m),
    );
    await ks.close();
    const res = await fetch(`${node(1).url}/v1/peer/envelope`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: envelope,
    });
    expect(res.status).toBe(202);
    let decisions: ReturnType<typeof decisionsOf> = [];
    for (let i = 0; i < 100 && decisions.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      decisions = decisionsOf(node(1), 'session_id = ?', session);
    }
    return decisions;
  }

  function forgedBundle(tx: ReturnType<typeof unsignedTo>, describedTo: string, submittedAtMs = Date.now()) {
    const request: TransferRequest = {
      kind: 'transfer',
      wallet: 'hot-eth',
      operator: 'otc-desk',
      submittedAtMs,
      requestId: `forged-${bytesToHex(randomBytes(4))}`,
      unsignedTransaction: hexToBytes(tx.serialized.slice(2)),
      intent: tx.intent,
    };
    return makeBundle({
      id: `req-${bytesToHex(randomBytes(12))}`,
      keyId: ecdsa.id,
      path: 'm',
      request,
      description: {
        chain: 'evm',
        network: NETWORK,
        asset: { kind: 'native' },
        to: describedTo,
        amount: tx.intent.amount,
      },
    });
  }

  it('description/transaction mismatch: a member refuses a start control whose transaction pays someone else', async () => {
    // The bundle describes a payment to PAYEE while the unsigned transaction pays MALLORY.
    const tx = unsignedTo(MALLORY);
    const decisions = await forgedStart(forgedBundle(tx, PAYEE), evmSigningDigest(tx.serialized));
    expect(decisions).toEqual([{ outcome: 'deny', codes: ['description-mismatch'] }]);
  }, 30_000);

  it('a member refuses a session signing another digest than the bundle’s transaction, and a stale request', async () => {
    const tx = unsignedTo(PAYEE);
    const other = unsignedTo(PAYEE);
    const wrongMessage = await forgedStart(forgedBundle(tx, PAYEE), evmSigningDigest(other.serialized));
    expect(wrongMessage).toEqual([{ outcome: 'deny', codes: ['wrong-message'] }]);
    // Submitted (it claims) 10 minutes before node-b first saw it.
    const stale = await forgedStart(
      forgedBundle(tx, PAYEE, Date.now() - 10 * 60_000),
      evmSigningDigest(tx.serialized),
    );
    expect(stale).toEqual([{ outcome: 'deny', codes: ['stale-request'] }]);
  }, 30_000);

  it("one operator's limit holds when a node that missed the receipts coordinates (n − t + 1 history)", async () => {
    // node-c is down while the limit is published and while node-a and node-b sign: it misses both
    // the version (fetched from its peers when it starts) and the receipts (asked for when it evaluates).
    await node(2).stop();
    const published = await publishPolicy(c.spec, transferPolicy({ maxCount: signedTransfers + 2 }));
    try {
      for (const to of [PAYEE, PAYEE2]) {
        const r = await transfer(node(0), to);
        expect(r.body.status, JSON.stringify(r.body)).toBe('signed');
      }
    } finally {
      await node(2).start();
    }
    for (let i = 0; ; i++) {
      const view = await api(node(2), 'GET', '/v1/policy', { token: c.spec.auditorToken });
      if ((view.body.active as { version: number } | null)?.version === published.version) break;
      if (i > 100) throw new Error(`node-c did not fetch version ${published.version}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const third = await transfer(node(2), PAYEE);
    expect(third.body.status, JSON.stringify(third.body)).toBe('denied');
    // node-c's own decision, from receipts it fetched from the other key holders.
    expect(reasons(third)).toContain('limit-exceeded');
    const trace = (third.body.decision as { trace: { limits: { id: string; usedCount: number }[] } }).trace;
    expect(trace.limits).toEqual([expect.objectContaining({ id: 'otc-daily', usedCount: signedTransfers })]);
  }, 120_000);

  it('policy used before its timelock: a node with a timelock keeps the older version in force', async () => {
    const key = await frostKey();
    await restart(node(0), (config) => {
      config.policy.governance.timelockMs = 3_600_000;
    });
    try {
      await allowRawDigests(c.spec, [key]);
      const view = await api(node(0), 'GET', '/v1/policy', { token: c.spec.auditorToken });
      const newest = (view.body.versions as { version: number; activeFromMs: number }[]).at(-1)!;
      expect(newest.activeFromMs).toBeGreaterThan(Date.now() + 3_500_000);
      expect((view.body.active as { version: number }).version).toBeLessThan(newest.version);
      const refused = await api(node(0), 'POST', '/v1/sign', {
        token: c.spec.adminToken,
        body: { keyId: key.id, digest: 'b2'.repeat(32) },
      });
      expect(refused.status, JSON.stringify(refused.body)).toBe(403);
      expect(reasons({ body: refused.body.request as Record<string, unknown> })).toContain('unknown-wallet');
    } finally {
      await restart(node(0), (config) => {
        config.policy.governance.timelockMs = 0;
      });
    }
  }, 60_000);

  it('a compromised node that installs an allow-everything policy cannot get a signature the others refuse', async () => {
    const evil = SigningKey.generate();
    await restart(node(2), (config) => {
      config.policy.governance = {
        admins: [{ id: 'evil', publicKey: evil.publicKey }],
        threshold: 1,
        timelockMs: 0,
      };
    });
    const doc = transferPolicy();
    doc.version = 99;
    doc.addressBook.push({
      id: 'mallory',
      name: 'mallory',
      chain: 'evm',
      network: NETWORK,
      tier: 'hot',
      address: MALLORY,
      addedAtMs: 0,
      coolOffMs: 0,
    });
    const signed = { document: doc, signatures: [signPolicy(parsePolicy(doc), 'evil', evil)] };
    const installed = await api(node(2), 'POST', '/v1/policy/versions', {
      token: c.spec.policy.policyAdminToken,
      body: signed,
    });
    expect(installed.status, JSON.stringify(installed.body)).toBe(201);
    // The honest nodes refuse the forwarded version themselves.
    for (const i of [0, 1]) {
      const view = await api(node(i), 'GET', '/v1/policy', { token: c.spec.auditorToken });
      expect((view.body.versions as { version: number }[]).map((v) => v.version)).not.toContain(99);
    }
    const r = await transfer(node(2), MALLORY);
    expect(r.body.status, JSON.stringify(r.body)).not.toBe('signed');
    expect(r.body.signature ?? null).toBeNull();
    // The compromised coordinator allowed it; the member it picked refused with its own decision.
    expect((r.body.decision as { outcome: string }).outcome).toBe('allow');
    const refusals = [0, 1].flatMap((i) => decisionsOf(node(i), 'request_id = ?', r.body.id as string));
    expect(refusals.length).toBeGreaterThan(0);
    for (const d of refusals) {
      expect(d.outcome).toBe('deny');
      expect(d.codes).toContain('not-in-address-book');
    }
  }, 90_000);

  it('a node without a policy section refuses every signature', async () => {
    await restart(node(2), (config) => {
      delete config.policy;
    });
    const key = (await api(node(0), 'GET', '/v1/wallets', { token: c.spec.auditorToken })).body.wallets as {
      id: string;
      scheme: string;
    }[];
    const frost = key.find((w) => w.scheme === 'eddsa-ed25519')!;
    const r = await api(node(2), 'POST', '/v1/sign', {
      token: c.spec.adminToken,
      body: { keyId: frost.id, digest: 'c3'.repeat(32) },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(403);
    expect(JSON.stringify(r.body)).toContain('no policy configured');
  }, 60_000);
});
