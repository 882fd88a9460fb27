// @coffer/client against three real signer-node processes (signer-node's test cluster helper): every
// route, typed API errors carrying the API's code/field and the HTTP status, an unreachable node, a
// node that never answers (bounded timeout), and an API key that never shows up in JSON or inspect.
import { createServer, type Server } from 'node:http';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowRawDigests, freePort } from '../../../signer-node/src/dev/cluster.ts';
import { type Cluster, startCluster, verifySignature } from '../../../signer-node/test/helpers/cluster.ts';
import {
  CofferApiError,
  CofferClient,
  CofferConnectionError,
  CofferResponseError,
  type Wallet,
} from '../src/index.ts';

let c: Cluster;
let admin: CofferClient;
let auditor: CofferClient;
let wallet: Wallet;
const digest = '5a'.repeat(32);

beforeAll(async () => {
  c = await startCluster({ roundMs: 20_000 });
  admin = new CofferClient({ url: c.nodes[0]!.url, apiKey: c.spec.adminToken });
  auditor = new CofferClient({ url: `${c.nodes[1]!.url}/`, apiKey: c.spec.auditorToken });
}, 120_000);

afterAll(async () => {
  await c?.stopAll();
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('CofferClient against three signer-node processes', () => {
  it('health, readiness, key generation, wallets, signing, requests, sessions, peers, audit', async () => {
    expect(await admin.health()).toEqual({ status: 'ok', node: 'node-a' });
    expect(await auditor.ready()).toEqual({ status: 'ready', node: 'node-b' });

    wallet = await admin.keygen({
      scheme: 'schnorr-secp256k1-tr',
      threshold: 2,
      parties: 3,
      label: 'client',
    });
    expect(wallet).toMatchObject({
      scheme: 'schnorr-secp256k1-tr',
      threshold: 2,
      parties: 3,
      label: 'client',
    });
    expect(wallet.addresses?.bitcoinP2tr).toMatch(/^bc1p/);
    await allowRawDigests(c.spec, [wallet]);
    expect(wallet).not.toHaveProperty('shareIndex');

    const list = await auditor.wallets();
    expect(list.map((w) => w.id)).toEqual([wallet.id]);
    expect((await auditor.wallet(wallet.id)).publicKey).toBe(wallet.publicKey);

    const signed = await admin.sign({ walletId: wallet.id, digest, idempotencyKey: 'client-test-1' });
    expect(signed.status).toBe('signed');
    expect(verifySignature(wallet.scheme, wallet.publicKey, digest, signed.signature!)).toBe(true);
    // Same idempotency key: the same request back, not a second signature.
    expect((await admin.sign({ walletId: wallet.id, digest, idempotencyKey: 'client-test-1' })).id).toBe(
      signed.id,
    );
    expect(await admin.request(signed.id)).toEqual(signed);

    const sessions = await admin.sessions({ status: 'done', limit: 10 });
    expect(sessions.map((s) => s.kind).sort()).toEqual(['keygen', 'sign']);
    expect(sessions.every((s) => s.scheme === 'schnorr-secp256k1-tr')).toBe(true);

    const peers = await auditor.peers();
    expect(peers.self.id).toBe('node-b');
    expect(peers.peers.map((p) => [p.id, p.banned])).toEqual([
      ['node-a', false],
      ['node-c', false],
    ]);
    expect(await admin.clearBan('node-b')).toEqual({ cleared: false });

    const audit = await auditor.auditVerify();
    expect(audit).toMatchObject({ ok: true, problems: [] });
    expect(audit.entries).toBeGreaterThan(2);
  }, 60_000);

  it('policy versions, request lists and the policy routes, decoded field by field', async () => {
    // The dev cluster's first version plus the one allowing raw digests for this test's key.
    const policy = await auditor.policy();
    expect(policy.active?.version).toBe(2);
    expect(policy.versions.map((v) => v.version).sort()).toEqual([1, 2]);
    const signed = await auditor.requests({ status: 'signed' });
    expect(signed.length).toBeGreaterThan(0);
    for (const r of signed) {
      expect([r.kind, r.status, r.keyId]).toEqual(['raw-digest', 'signed', wallet.id]);
      expect(r.requestDigest).toMatch(/^[0-9a-f]{64}$/);
      expect(r.submittedAtMs).toBeGreaterThan(0);
    }
    expect(await auditor.requests({ status: 'pending-approvals' })).toEqual([]);
    // This cluster has no EVM configuration: the node refuses the chain as POST /v1/transfers does.
    const noChain = (await rejection(
      admin.dryRun({
        wallet: 'hot-eth',
        keyId: wallet.id,
        chain: 'evm',
        asset: { kind: 'native' },
        to: `0x${'11'.repeat(20)}`,
        amount: '1000',
        idempotencyKey: 'dry-1',
      }),
    )) as CofferApiError;
    expect([noChain.status, noChain.code, noChain.field]).toEqual([400, 'invalid-request', 'chain']);
    await expect(auditor.requests({ status: 'teleported' as never })).rejects.toThrow(TypeError);
  }, 30_000);

  it('API errors are CofferApiError with the status, code and field the node sent', async () => {
    const notFound = await rejection(admin.wallet('0'.repeat(64)));
    expect(notFound).toBeInstanceOf(CofferApiError);
    expect((notFound as CofferApiError).toJSON()).toEqual({
      status: 404,
      code: 'not-found',
      message: 'no such wallet',
      field: 'id',
    });
    const invalid = (await rejection(
      admin.keygen({ scheme: 'eddsa-ed25519', threshold: 3, parties: 2 }),
    )) as CofferApiError;
    expect([invalid.status, invalid.code, invalid.field]).toEqual([400, 'invalid-request', 'threshold']);
    const forbidden = (await rejection(auditor.sign({ walletId: wallet.id, digest }))) as CofferApiError;
    expect([forbidden.status, forbidden.code]).toEqual([403, 'forbidden']);
    const unauthenticated = (await rejection(
      new CofferClient({ url: c.nodes[0]!.url, apiKey: 'wrong' }).wallets(),
    )) as CofferApiError;
    expect([unauthenticated.status, unauthenticated.code]).toEqual([401, 'unauthenticated']);
    const badDigest = (await rejection(admin.sign({ walletId: wallet.id, digest: 'zz' }))) as CofferApiError;
    expect([badDigest.status, badDigest.field]).toEqual([400, 'digest']);
    for (const e of [notFound, invalid, forbidden, unauthenticated, badDigest]) {
      expect(JSON.stringify(e)).not.toContain(c.spec.adminToken);
      expect(JSON.stringify(e)).not.toContain('stack');
      expect((e as Error).message).not.toContain(c.spec.auditorToken);
    }
  }, 30_000);

  it('never prints the API key', () => {
    expect(JSON.stringify(admin)).not.toContain(c.spec.adminToken);
    expect(inspect(admin)).not.toContain(c.spec.adminToken);
    expect(inspect(admin)).toContain('<redacted>');
  });
});

describe('CofferClient against a node that answers out of contract', () => {
  let server: Server;
  let url: string;
  let answer: unknown;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const view = {
    id: `req-${'ab'.repeat(12)}`,
    kind: 'transfer',
    status: 'pending-approvals',
    wallet: 'hot-eth',
    keyId: 'cd'.repeat(32),
    path: 'm',
    operator: 'otc',
    requestDigest: 'ef'.repeat(32),
    submittedAtMs: 5,
    requestId: 'order-1',
    intent: {
      chain: 'evm',
      network: 'eip155:1',
      asset: { kind: 'native', symbol: 'ETH', decimals: 18 },
      from: `0x${'11'.repeat(20)}`,
      to: `0x${'22'.repeat(20)}`,
      amount: '1000',
      fee: '21000',
    },
    unsignedTransaction: '0x02',
    decision: null,
    approvals: [],
    signature: null,
    signedTransaction: null,
    txHash: null,
    signers: [],
    history: [],
    error: null,
    createdAt: 'x',
    updatedAt: 'x',
  };

  it('a request view is decoded, never cast: an unknown status, a float amount or a bad decision is refused', async () => {
    const client = new CofferClient({ url, apiKey: 'k' });
    answer = view;
    expect((await client.request(view.id)).intent?.amount).toBe('1000');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...view, status: 'teleported' }, 'request.status'],
      [{ ...view, intent: { ...view.intent, amount: '1e3' } }, 'request.intent.amount'],
      [{ ...view, submittedAtMs: 1.5 }, 'request.submittedAtMs'],
      [{ ...view, decision: { outcome: 'maybe' } }, 'request.decision.outcome'],
      [{ ...view, approvals: [{ approverId: 'bob' }] }, 'request.approvals[0].approvedAtMs'],
    ];
    for (const [body, field] of cases) {
      answer = body;
      const e = await rejection(client.request(view.id));
      expect(e, field).toBeInstanceOf(CofferResponseError);
      expect((e as CofferResponseError).field).toBe(field);
    }
  });
});

describe('CofferClient without a healthy node', () => {
  let silent: Server;
  let silentUrl: string;
  beforeAll(async () => {
    // Accepts the connection and never answers.
    silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const a = silent.address();
    silentUrl = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  afterAll(async () => {
    silent.closeAllConnections();
    await new Promise((r) => silent.close(r));
  });

  it('a refused connection is CofferConnectionError unreachable', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const e = (await rejection(new CofferClient({ url, apiKey: 'k' }).wallets())) as CofferConnectionError;
    expect(e).toBeInstanceOf(CofferConnectionError);
    expect(e.code).toBe('unreachable');
    expect(e.message).toBe(`GET /v1/wallets: cannot reach ${url} (ECONNREFUSED)`);
  });

  it('a node that does not answer is CofferConnectionError timeout within the bound', async () => {
    const client = new CofferClient({ url: silentUrl, apiKey: 'k', timeoutMs: 300, sessionTimeoutMs: 400 });
    const started = Date.now();
    const e = (await rejection(client.wallets())) as CofferConnectionError;
    expect(e.code).toBe('timeout');
    expect(e.message).toContain('within 300 ms');
    const s = (await rejection(client.sign({ walletId: 'a'.repeat(64), digest }))) as CofferConnectionError;
    expect(s.message).toContain('within 400 ms');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('refuses URLs with credentials and out-of-range timeouts', () => {
    expect(() => new CofferClient({ url: 'http://user:pw@127.0.0.1:1' })).toThrow(/credentials/);
    expect(() => new CofferClient({ url: 'file:///etc/passwd' })).toThrow(/http/);
    expect(() => new CofferClient({ url: 'http://127.0.0.1:1', timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});
