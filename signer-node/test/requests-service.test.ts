// The request service in one process, on a real SQLite file with the real policy gate (a signed policy
// version installed from a file) and a controlled clock: idempotency, what-you-see-is-what-you-sign at
// creation, approvals checked by the engine (each refusal named), vetoes, cancellation by the
// initiator only, 24-hour expiry, peer copies of forwarded bundles, and dry runs (the same preparation
// and errors as a submission, nothing written; an EVM build against a real anvil reserves no nonce).
// Signing itself runs in requests.slow.test.ts with real node processes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildEvmTransfer } from '@coffer/chains/evm';
import { buildTronTransfer, tronAddressFromPublicKey } from '@coffer/chains/tron';
import type { Keystore } from '@coffer/hsm';
import { signVeto } from '@coffer/policy/approvals';
import { parsePolicy } from '@coffer/policy/document';
import { signPolicy } from '@coffer/policy/governance';
import { SigningKey } from '@coffer/policy/keys';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnvil } from '../../packages/chains/test/anvil.ts';
import { ApiError } from '../src/api/errors.ts';
import { AuditLog } from '../src/audit/log.ts';
import { type ApiKeyConfig, type NodeConfig, parseConfig } from '../src/config/config.ts';
import { bundleToJson, keyAddress, makeBundle, parseBundle } from '../src/policy/bundle.ts';
import { PolicyGate } from '../src/policy/gate.ts';
import { RequestService, type TransferBody } from '../src/requests/service.ts';
import { SessionError, type SessionManager } from '../src/sessions/manager.ts';
import { type NodeDatabase, openDatabase } from '../src/storage/db.ts';
import { WalletStore } from '../src/store/wallets.ts';
import { Metrics } from '../src/util/metrics.ts';
import { insertWallet } from './helpers/node.ts';
import { APPROVERS, approval, DAY, ETH, HOUR, requestPolicyWire, TIER_PATHS } from './helpers/requests.ts';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
let now = T0;
let dir: string;
let db: NodeDatabase;
let service: RequestService;
let gate: PolicyGate;
let config: NodeConfig;
const notices: Array<{ peer: string; topic: string; body: string }> = [];
const keyId = 'ab'.repeat(32);
const admin = SigningKey.generate();
const address: Record<string, string> = {};
const OTC: ApiKeyConfig = { id: 'otc-key', scopes: ['maker'], operator: 'otc', sha256: '0'.repeat(64) };
const ALICE: ApiKeyConfig = { id: 'alice-key', scopes: ['maker'], operator: 'alice', sha256: '1'.repeat(64) };
const network = 'eip155:31337';
const metrics = new Metrics();
const TOKEN = '0x7000000000000000000000000000000000000007';
const noCoSigner = async (): Promise<never> => {
  throw new SessionError('not-enough-signers', 'no co-signer in this test');
};
/** What the request service's SessionManager.sign does in this file (no peers run here). */
let signing: () => Promise<unknown> = noCoSigner;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-requests-service-'));
  db = openDatabase(join(dir, 'node.sqlite'));
  const audit = new AuditLog(db);
  const secret = secp256k1.utils.randomSecretKey();
  const key = {
    scheme: 'ecdsa-secp256k1',
    publicKey: bytesToHex(secp256k1.getPublicKey(secret, true)),
    chainCode: bytesToHex(randomBytes(32)),
  };
  insertWallet(db, keyId, { ...key, createdAt: new Date(T0).toISOString() });
  for (const [tier, path] of Object.entries(TIER_PATHS))
    address[tier] = (await keyAddress(key, path, 'evm', network))!;
  address.exchange = '0x4000000000000000000000000000000000000004';
  address.fresh = '0x5000000000000000000000000000000000000005';
  const wire = requestPolicyWire(
    {
      network,
      hot: address.hot!,
      cold: address.cold!,
      warm: address.warm!,
      exchange: address.exchange,
      fresh: address.fresh,
    },
    { nowMs: T0 },
  );
  // No limits here: limit history needs live peers (requests.slow.test.ts covers limits).
  wire.limits = [];
  // Transfers to this address-book entry wait two days (a veto window longer than the 24 h expiry).
  address.slow = '0x6000000000000000000000000000000000000006';
  wire.addressBook.push({ ...wire.addressBook[0]!, id: 'slow-c', name: 'Slow C', address: address.slow });
  // The same key holds a TRON hot wallet that may pay one TRON address-book entry.
  address.tronHot = (await keyAddress(key, 'm', 'tron', 'nile'))!;
  address.tronExchange = tronAddressFromPublicKey(
    secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true),
  );
  address.tronStranger = tronAddressFromPublicKey(
    secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true),
  );
  wire.wallets.push({ id: 'hot-trx', tier: 'hot', chain: 'tron', network: 'nile', address: address.tronHot });
  wire.addressBook.push({
    ...wire.addressBook[0]!,
    id: 'tron-exchange',
    chain: 'tron',
    network: 'nile',
    address: address.tronExchange,
  });
  // Raw digests for the key itself as a policy wallet (POST /v1/sign).
  wire.wallets.push({ id: 'raw-key', tier: 'hot', chain: 'evm', network: 'raw', address: key.publicKey });
  wire.rules.push({
    id: 'raw-key',
    rawDigest: true,
    when: { wallets: ['raw-key'] },
    effect: { type: 'allow' },
  } as never);
  wire.rules.unshift({
    id: 'slow-destination',
    when: { destination: { kind: 'address-book', entries: ['slow-c'] } },
    effect: { type: 'require-delay', delayMs: 2 * DAY },
  } as never);
  const signed = {
    document: wire,
    signatures: [signPolicy(parsePolicy(wire), 'admin-1', admin)],
    receivedAtMs: T0,
  };
  writeFileSync(join(dir, 'policy-v1.json'), JSON.stringify(signed));
  const peerKey = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
  config = parseConfig(
    {
      nodeId: 'node-a',
      listen: { host: '127.0.0.1', port: 0 },
      dataDir: dir,
      kek: { backend: 'software', passphrase: { env: 'UNUSED' } },
      peers: ['node-b', 'node-c'].map((id, i) => ({
        id,
        url: 'http://127.0.0.1:9',
        identityKey: peerKey(i + 1),
        encryptionKey: peerKey(i + 3),
      })),
      apiKeys: [],
      logLevel: 'silent',
      policy: {
        governance: { admins: [{ id: 'admin-1', publicKey: admin.publicKey }], threshold: 1, timelockMs: 0 },
        initialVersionFile: 'policy-v1.json',
        historyTimeoutMs: 100,
      },
      chains: {
        evm: { chainId: 31337, tokens: [{ contract: TOKEN, symbol: 'TST', decimals: 6 }] },
        tron: { network: 'nile' },
      },
    },
    dir,
  );
  const log = pino({ level: 'silent' });
  const wallets = new WalletStore(db, {} as Keystore);
  const sendNotice = async (peer: string, topic: string, body: string) => {
    notices.push({ peer, topic, body });
  };
  gate = new PolicyGate({
    config,
    db,
    audit,
    log,
    wallets,
    sign: async () => new Uint8Array(64),
    identityPublicKey: peerKey(9),
    sendNotice,
    clock: () => now,
  });
  gate.start();
  const sign = async () => signing();
  const sessions = { sendNotice, sign } as unknown as SessionManager;
  service = new RequestService({
    config,
    db,
    audit,
    wallets,
    sessions,
    log,
    gate,
    metrics,
    clock: () => now,
  });
  gate.useLocalVetoes((id) => service.vetoesOf(id));
});

afterAll(() => {
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
function transfer(
  overrides: Partial<TransferBody> & { amountWei?: bigint; token?: string } = {},
): TransferBody {
  const amount = overrides.amountWei ?? ETH / 20n;
  const to = overrides.to ?? address.exchange!;
  const unsigned = buildEvmTransfer({
    network: {
      chainId: 31337,
      nativeSymbol: 'ETH',
      tokens: [{ contract: TOKEN, symbol: 'TST', decimals: 6 }],
      maxFeeWei: 10n ** 17n,
    },
    from: address.hot!,
    to,
    ...(overrides.token ? { token: overrides.token } : {}),
    amount,
    nonce: seq,
    gas: 21_000n,
    maxFeePerGas: 2_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
  });
  const { amountWei: _a, token, ...rest } = overrides;
  return {
    wallet: 'hot-eth',
    keyId,
    path: 'm',
    chain: 'evm',
    asset: token ? { kind: 'token', contract: token } : { kind: 'native' },
    to,
    amount: amount.toString(),
    idempotencyKey: `order-${++seq}`,
    unsignedTransaction: unsigned.serialized,
    ...rest,
  };
}

async function refused(p: Promise<unknown>): Promise<ApiError & { reason?: string }> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ApiError);
  return e as ApiError & { reason?: string };
}

describe('request service', () => {
  it('creates a small transfer as approved, forwards its bundle to both key holders and audits it', async () => {
    notices.length = 0;
    const { created, view } = await service.createTransfer(transfer(), OTC);
    expect(created).toBe(true);
    expect(view.status).toBe('approved');
    expect(view.decision?.outcome).toBe('allow');
    expect(view.history.map((h) => h.status)).toEqual(['submitted', 'approved']);
    expect(view.intent?.to.toLowerCase()).toBe(address.exchange);
    await expect.poll(() => notices.filter((n) => n.topic === 'request.submitted').length).toBe(2);
    expect(new Set(notices.map((n) => n.peer))).toEqual(new Set(['node-b', 'node-c']));
    const kinds = db.prepare('SELECT kind FROM audit_log WHERE subject = ? ORDER BY seq').all(view.id) as {
      kind: string;
    }[];
    expect(kinds.map((k) => k.kind)).toEqual(['request.submitted', 'policy.decision', 'request.approved']);
  });

  it('a token transfer is evaluated on the intent decoded from its calldata (recipient, not the contract)', async () => {
    const { view } = await service.createTransfer(transfer({ token: TOKEN, amountWei: 5_000_000n }), OTC);
    expect(view.intent).toMatchObject({
      asset: { kind: 'token', symbol: 'TST', decimals: 6 },
      amount: '5000000',
    });
    expect(view.intent?.to.toLowerCase()).toBe(address.exchange);
    // Outside the native band: it needs the officers, and is not refused as a mismatch.
    expect(view.status, JSON.stringify(view.decision?.reasons)).toBe('pending-approvals');
  });

  it('takes a client-built TRON transfer, decodes it itself and refuses one paying someone else', async () => {
    const build = (to: string) =>
      buildTronTransfer({
        network: { name: 'nile', tokens: [], maxFeeLimitSun: 100_000_000n },
        from: address.tronHot!,
        to,
        amount: 2_000_000n,
        refBlock: { number: 7, hash: 'cd'.repeat(32) },
        timestampMs: now,
        expirationMs: now + HOUR,
      }).transaction.raw_data_hex;
    const body = {
      wallet: 'hot-trx',
      keyId,
      chain: 'tron' as const,
      asset: { kind: 'native' as const },
      to: address.tronExchange!,
      amount: '2000000',
      idempotencyKey: `tron-${++seq}`,
    };
    const { view } = await service.createTransfer(
      { ...body, unsignedTransaction: build(address.tronExchange!) },
      OTC,
    );
    expect(view.intent).toMatchObject({
      chain: 'tron',
      network: 'nile',
      to: address.tronExchange,
      amount: '2000000',
    });
    expect(view.intent?.from).toBe(address.tronHot);
    // Above the native EVM band: two officers, not a refusal.
    expect(view.status, JSON.stringify(view.decision?.reasons)).toBe('pending-approvals');
    const e = await refused(
      service.createTransfer(
        { ...body, idempotencyKey: `tron-${++seq}`, unsignedTransaction: build(address.tronStranger!) },
        OTC,
      ),
    );
    expect(e).toMatchObject({ status: 422, code: 'description-mismatch', field: 'unsignedTransaction' });
    const unbuilt = await refused(service.createTransfer({ ...body, idempotencyKey: `tron-${++seq}` }, OTC));
    expect(unbuilt).toMatchObject({ status: 400, field: 'unsignedTransaction' });
  });

  it('idempotency: the same key returns the same request; a different body under it is 409', async () => {
    const body = transfer();
    const first = await service.createTransfer(body, OTC);
    const again = await service.createTransfer({ ...body }, OTC);
    expect(again).toMatchObject({ created: false, view: { id: first.view.id } });
    // A rebuilt transaction for the same transfer is the same request (a client retrying)...
    const rebuilt = await service.createTransfer({ ...transfer(), idempotencyKey: body.idempotencyKey }, OTC);
    expect(rebuilt.view.id).toBe(first.view.id);
    // ...another amount under the same key is not.
    const conflict = await refused(
      service.createTransfer(
        { ...transfer({ amountWei: ETH / 30n }), idempotencyKey: body.idempotencyKey },
        OTC,
      ),
    );
    expect(conflict).toMatchObject({ status: 409, code: 'idempotency-conflict', field: 'idempotencyKey' });
    // Another operator may use the same key for its own request.
    const other = await service.createTransfer({ ...transfer(), idempotencyKey: body.idempotencyKey }, ALICE);
    expect(other.view.id).not.toBe(first.view.id);
  });

  it('refuses an unsigned transaction that pays someone other than the described destination', async () => {
    const honest = transfer();
    const paysElsewhere = transfer({ to: address.fresh! });
    const e = await refused(
      service.createTransfer({ ...honest, unsignedTransaction: paysElsewhere.unsignedTransaction! }, OTC),
    );
    expect(e).toMatchObject({ status: 422, code: 'description-mismatch', field: 'unsignedTransaction' });
    expect(e.message).toMatch(/to: described/);
  });

  it('names the field of a malformed unsigned transaction', async () => {
    const e = await refused(service.createTransfer({ ...transfer(), unsignedTransaction: '0x01c0' }, OTC));
    expect(e).toMatchObject({ status: 400, field: expect.stringMatching(/^unsignedTransaction/) });
  });

  it('approvals: self-approval, another digest, a replay from another request and an expired one are refused by reason; two officers approve', async () => {
    const a = (await service.createTransfer(transfer({ amountWei: ETH / 2n }), ALICE)).view;
    const b = (await service.createTransfer(transfer({ amountWei: ETH / 2n }), OTC)).view;
    expect(a.status).toBe('pending-approvals');
    expect(a.decision?.reasons.map((r) => r.code)).toEqual(['needs-approvals']);
    const self = await refused(
      service.approve(a.id, approval('alice', a.requestDigest, { approvedAtMs: now }), OTC),
    );
    expect(self).toMatchObject({
      status: 422,
      code: 'approval-rejected',
      field: 'approval',
      reason: 'initiator',
    });
    const other = await refused(
      service.approve(a.id, approval('bob', 'cd'.repeat(32), { approvedAtMs: now }), OTC),
    );
    expect(other.reason).toBe('different-digest');
    const forB = approval('bob', b.requestDigest, { approvedAtMs: now });
    expect((await service.approve(b.id, forB, OTC)).approvals.map((x) => x.approverId)).toEqual(['bob']);
    expect((await refused(service.approve(a.id, forB, OTC))).reason).toBe('different-digest');
    const expired = approval('carol', a.requestDigest, { approvedAtMs: now - 2 * HOUR, ttlMs: HOUR });
    expect((await refused(service.approve(a.id, expired, OTC))).reason).toBe('expired');
    const forged = { ...approval('carol', a.requestDigest, { approvedAtMs: now }), approverId: 'bob' };
    expect((await refused(service.approve(a.id, forged, OTC))).reason).toBe('bad-signature');
    const malformed = await refused(service.approve(a.id, { approverId: 'bob' }, OTC));
    expect(malformed).toMatchObject({ status: 400, field: expect.stringMatching(/^approval\./) });
    expect(service.view(a.id)?.status).toBe('pending-approvals');
    await service.approve(a.id, approval('bob', a.requestDigest, { approvedAtMs: now }), OTC);
    expect(service.view(a.id)?.status).toBe('pending-approvals');
    const waitingBefore = metrics.render().match(/^coffer_requests_waiting (\d+)$/m)?.[1];
    const done = await service.approve(a.id, approval('carol', a.requestDigest, { approvedAtMs: now }), OTC);
    expect(done.status).toBe('approved');
    expect(Number(metrics.render().match(/^coffer_requests_waiting (\d+)$/m)?.[1])).toBe(
      Number(waitingBefore) - 1,
    );
    expect(metrics.get('coffer_requests_total', { status: 'approved' })).toBeGreaterThan(0);
    expect(done.decision?.trace.quorum?.counted).toEqual(['bob', 'carol']);
    const forwarded = notices.filter((n) => n.topic === 'request.approval' && n.body.includes(a.id));
    expect(forwarded).toHaveLength(4); // two approvals, two peers each
  });

  it('a veto by an approver cancels; a forged veto and a cancel by someone else are refused', async () => {
    const r = (await service.createTransfer(transfer({ amountWei: ETH }), OTC)).view;
    const forged = signVeto(
      { approverId: 'bob', requestDigest: r.requestDigest, vetoedAtMs: now },
      APPROVERS.carol,
    );
    expect(await refused(service.veto(r.id, forged, OTC))).toMatchObject({
      status: 422,
      code: 'veto-rejected',
    });
    expect(await refused(service.cancel(r.id, ALICE))).toMatchObject({ status: 403, code: 'forbidden' });
    const veto = signVeto(
      { approverId: 'bob', requestDigest: r.requestDigest, vetoedAtMs: now },
      APPROVERS.bob,
    );
    const cancelled = await service.veto(r.id, veto, OTC);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.history.at(-1)).toMatchObject({ status: 'cancelled', detail: 'vetoed by bob' });
    expect(await refused(service.cancel(r.id, OTC))).toMatchObject({ status: 409, code: 'request-closed' });
    const mine = (await service.createTransfer(transfer({ amountWei: ETH }), OTC)).view;
    expect((await service.cancel(mine.id, OTC)).status).toBe('cancelled');
  });

  it('a request waiting for approvals expires 24 h after submission, and late approvals no longer count', async () => {
    const r = (await service.createTransfer(transfer({ amountWei: ETH }), OTC)).view;
    expect(r.status).toBe('pending-approvals');
    now += DAY - 60_000;
    await service.tick();
    expect(service.view(r.id)?.status).toBe('pending-approvals');
    now += 60_000;
    await service.tick();
    const expired = service.view(r.id)!;
    expect(expired.status).toBe('expired');
    expect(expired.history.map((h) => h.status)).toEqual(['submitted', 'pending-approvals', 'expired']);
    const late = await refused(
      service.approve(r.id, approval('bob', r.requestDigest, { approvedAtMs: now }), OTC),
    );
    expect(late).toMatchObject({ status: 409, code: 'request-closed' });
    now = T0 + 2 * DAY; // keep later tests inside the policy's approval window
  });

  it('a delay longer than 24 h runs its course: the request is not expired, and is signed when it ends', async () => {
    const r = (await service.createTransfer(transfer({ to: address.slow! }), OTC)).view;
    expect(r.status).toBe('delayed');
    expect(r.decision?.delay?.delayedUntilMs).toBe(now + 2 * DAY);
    now += DAY + HOUR;
    await service.tick();
    expect(service.view(r.id)?.status).toBe('delayed');
    now += DAY;
    await service.tick();
    const after = service.view(r.id)!;
    // Signing starts once the delay is over (the stand-in session manager has no co-signer).
    expect(after.history.map((h) => h.status)).toEqual([
      'submitted',
      'delayed',
      'approved',
      'signing',
      'failed',
    ]);
    expect(after.error).toMatch(/no co-signer/);
  });

  it('stores a bundle forwarded by a key holder once, with the time this node first saw it; refuses one from elsewhere', async () => {
    const source = (await service.createTransfer(transfer(), OTC)).view;
    const bundle = notices.find((n) => n.topic === 'request.submitted' && n.body.includes(source.id))!.body;
    // As a peer would receive a request another node coordinates: a new id and idempotency key.
    const parsed = parseBundle(bundle);
    const foreign = bundleToJson(
      makeBundle({
        id: 'req-0123456789abcdef01234567',
        keyId: parsed.keyId,
        path: parsed.path,
        request: { ...parsed.request, requestId: 'order-at-node-b' },
        ...(parsed.description ? { description: parsed.description } : {}),
      }),
    );
    expect(() => service.onNotice('node-x', 'request.submitted', foreign)).toThrow(/does not hold key/);
    const tampered = foreign.replace(/"requestDigest":"[0-9a-f]{4}/, '"requestDigest":"0000');
    expect(() => service.onNotice('node-b', 'request.submitted', tampered)).toThrow(/requestDigest/);
    const replayed = bundle.replace(source.id, 'req-0123456789abcdef0123456a');
    expect(() => service.onNotice('node-b', 'request.submitted', replayed)).toThrow(/idempotency key/);
    now += 1_000;
    service.onNotice('node-b', 'request.submitted', foreign);
    now += 1_000;
    service.onNotice('node-b', 'request.submitted', foreign);
    const copy = service.view('req-0123456789abcdef01234567')!;
    expect(copy).toMatchObject({ origin: 'node-b', status: 'submitted', requestId: 'order-at-node-b' });
    expect(service.store.get(copy.id)?.firstSeenMs).toBe(now - 1_000);
    expect(() => service.onNotice('node-b', 'request.submitted', '{"format":"coffer-request/1"}')).toThrow(
      /bundle\./,
    );
  });

  it("a veto this node received counts at signing time even when the coordinator's bundle leaves it out", async () => {
    const source = (await service.createTransfer(transfer(), OTC)).view;
    expect(source.status).toBe('approved');
    const parsed = parseBundle(
      notices.find((n) => n.topic === 'request.submitted' && n.body.includes(source.id))!.body,
    );
    // A request node-b coordinates; this node holds its copy.
    const copy = makeBundle({
      id: 'req-0123456789abcdef0123abcd',
      keyId: parsed.keyId,
      path: parsed.path,
      request: { ...parsed.request, requestId: 'order-vetoed-at-node-b', submittedAtMs: now },
      ...(parsed.description ? { description: parsed.description } : {}),
    });
    service.onNotice('node-b', 'request.submitted', bundleToJson(copy));
    expect((await gate.evaluate(copy, { nowMs: now, dryRun: true })).outcome).toBe('allow');
    const veto = signVeto(
      { approverId: 'bob', requestDigest: copy.requestDigest, vetoedAtMs: now },
      APPROVERS.bob,
    );
    service.onNotice('node-b', 'request.veto', JSON.stringify({ id: copy.id, veto }));
    expect(service.view(copy.id)?.status).toBe('cancelled');
    // The coordinator starts signing with its bundle, which carries no veto: this node still refuses.
    const decision = await gate.evaluate(copy, { nowMs: now, dryRun: true });
    expect(decision.outcome).toBe('deny');
    expect(decision.reasons.map((r) => r.code)).toContain('vetoed');
  });

  it('a veto is kept even when the coordinator has reported the request as signed (it cannot be cancelled)', async () => {
    const source = (await service.createTransfer(transfer(), OTC)).view;
    const parsed = parseBundle(
      notices.find((n) => n.topic === 'request.submitted' && n.body.includes(source.id))!.body,
    );
    const copy = makeBundle({
      id: 'req-0123456789abcdef0123abce',
      keyId: parsed.keyId,
      path: parsed.path,
      request: { ...parsed.request, requestId: 'order-misreported-by-node-b', submittedAtMs: now },
      ...(parsed.description ? { description: parsed.description } : {}),
    });
    service.onNotice('node-b', 'request.submitted', bundleToJson(copy));
    service.onNotice('node-b', 'request.status', JSON.stringify({ id: copy.id, status: 'signed' }));
    expect(service.view(copy.id)?.status).toBe('signed');
    const veto = signVeto(
      { approverId: 'bob', requestDigest: copy.requestDigest, vetoedAtMs: now },
      APPROVERS.bob,
    );
    expect(() => service.onNotice('node-b', 'request.veto', JSON.stringify({ id: copy.id, veto }))).toThrow(
      /no longer be vetoed/,
    );
    // The coordinator now asks for a signature with a bundle that leaves the veto out: refused.
    const decision = await gate.evaluate(copy, { nowMs: now, dryRun: true });
    expect(decision.reasons.map((r) => r.code)).toContain('vetoed');
  });
});

describe('raw digests (POST /v1/sign)', () => {
  it("holds the peers' notices while the call signs, then sends submission and every status in order", async () => {
    notices.length = 0;
    let heardDuringSigning: string[] | undefined;
    signing = async () => {
      heardDuringSigning = notices.map((n) => n.topic);
      return noCoSigner();
    };
    try {
      const digest = bytesToHex(randomBytes(32));
      const { view, error } = await service.signRawDigest(
        { wallet: 'raw-key', keyId, digest, idempotencyKey: `raw-${digest}` },
        OTC,
      );
      expect((error as SessionError).code).toBe('not-enough-signers');
      expect(view.status).toBe('failed');
      expect(heardDuringSigning).toEqual([]);
      await expect.poll(() => notices.length).toBe(6);
      for (const peer of ['node-b', 'node-c'])
        expect(
          notices
            .filter((n) => n.peer === peer)
            .map((n) => `${n.topic}${n.topic === 'request.status' ? `:${JSON.parse(n.body).status}` : ''}`),
        ).toEqual(['request.submitted', 'request.status:approved', 'request.status:failed']);
      expect(parseBundle(notices[0]!.body).id).toBe(view.id);
    } finally {
      signing = noCoSigner;
    }
  });

  it('a raw digest policy does not allow at once is forwarded when the call returns', async () => {
    notices.length = 0;
    const digest = bytesToHex(randomBytes(32));
    // 'hot-eth' has no rawDigest rule: denied, nothing signed, the peers still hear of it.
    const { view } = await service.signRawDigest({ wallet: 'hot-eth', keyId, digest }, OTC);
    expect(view.status).toBe('denied');
    await expect.poll(() => notices.length).toBe(4);
    expect(notices.map((n) => n.topic).sort()).toEqual([
      'request.status',
      'request.status',
      'request.submitted',
      'request.submitted',
    ]);
  });
});

describe('dry run', () => {
  /** Rows of every table a submission writes to, and the notices sent so far. */
  const footprint = (): Record<string, number> => ({
    ...(db
      .prepare(
        `SELECT (SELECT COUNT(*) FROM requests) AS requests,
                (SELECT COUNT(*) FROM request_transitions) AS transitions,
                (SELECT COUNT(*) FROM audit_log) AS audit,
                (SELECT COUNT(*) FROM policy_decisions) AS decisions,
                (SELECT COUNT(*) FROM policy_requests_seen) AS seen,
                (SELECT COUNT(*) FROM policy_authorizations) AS authorizations`,
      )
      .get() as Record<string, number>),
    notices: notices.length,
  });
  const errorOf = (e: ApiError) => ({ status: e.status, code: e.code, field: e.field, message: e.message });

  it('refuses a description its transaction does not match with the same 422 as a submission, and audits nothing', async () => {
    const lying = {
      ...transfer(),
      unsignedTransaction: transfer({ to: address.fresh! }).unsignedTransaction!,
    };
    const before = footprint();
    const dry = await refused(service.dryRunTransfer(lying, OTC, []));
    await new Promise((r) => setTimeout(r, 20));
    expect(footprint()).toEqual(before);
    expect(dry).toMatchObject({ status: 422, code: 'description-mismatch', field: 'unsignedTransaction' });
    const real = await refused(service.createTransfer(lying, OTC));
    expect(errorOf(dry)).toEqual(errorOf(real));
    // The submission's refusal is audited; the dry run's is not.
    expect(footprint().audit).toBe(Number(before.audit) + 1);
  });

  it('answers every malformed or unbuildable body with the error a submission gets', async () => {
    const bodies: TransferBody[] = [
      { ...transfer(), chain: 'bitcoin' },
      (({ unsignedTransaction: _u, ...rest }) => ({
        ...rest,
        wallet: 'hot-trx',
        chain: 'tron' as const,
        to: address.tronExchange!,
      }))(transfer()),
      (({ unsignedTransaction: _u, ...rest }) => rest)(transfer()),
      { ...transfer(), keyId: 'cd'.repeat(32) },
      { ...transfer(), asset: { kind: 'token' } as never },
      { ...transfer(), asset: { kind: 'native', contract: TOKEN } as never },
      { ...transfer(), unsignedTransaction: '0x01c0' },
      { ...transfer(), priceSnapshot: { price: 'free' } },
      { ...transfer(), path: 'm/1/x' },
    ];
    for (const body of bodies) {
      const before = footprint();
      const dry = await refused(service.dryRunTransfer(body, OTC, []));
      expect(footprint()).toEqual(before);
      const real = await refused(service.createTransfer(body, OTC));
      expect(errorOf(dry), JSON.stringify(body)).toEqual(errorOf(real));
    }
    const approvals = await refused(service.dryRunTransfer(transfer(), OTC, [{ approverId: 'bob' }]));
    expect(approvals).toMatchObject({ status: 400, field: expect.stringMatching(/^approvals\[0\]\./) });
  });

  it('decides as the submission of the same body then decides, and writes, forwards and audits nothing', async () => {
    const bodies = [
      transfer(),
      transfer({ amountWei: ETH / 2n }),
      transfer({ to: address.slow! }),
      transfer({ to: `0x${'77'.repeat(20)}` }),
    ];
    const dry = [];
    const before = footprint();
    for (const body of bodies) dry.push(await service.dryRunTransfer(body, OTC, []));
    await new Promise((r) => setTimeout(r, 20));
    expect(footprint()).toEqual(before);
    expect(dry.map((d) => d.outcome)).toEqual(['allow', 'needs-approvals', 'delayed', 'deny']);
    for (const [i, body] of bodies.entries()) {
      const { view } = await service.createTransfer(body, OTC);
      expect(dry[i]!.outcome).toBe(view.decision?.outcome);
      expect(dry[i]!.reasons.map((r) => r.code)).toEqual(view.decision?.reasons.map((r) => r.code));
    }
  });

  it('counts the approvals it is given, on the digest the submission then carries', async () => {
    const body = transfer({ amountWei: ETH / 2n });
    const { bundle } = await service.prepareTransfer(body, ALICE);
    const approvals = (['bob', 'carol'] as const).map((id) =>
      approval(id, bundle.requestDigest, { approvedAtMs: now }),
    );
    const decision = await service.dryRunTransfer(body, ALICE, approvals);
    expect(decision.outcome).toBe('allow');
    expect(decision.trace.quorum?.counted).toEqual(['bob', 'carol']);
    expect((await service.dryRunTransfer(body, ALICE, approvals.slice(1))).outcome).toBe('needs-approvals');
    const { view } = await service.createTransfer(body, ALICE);
    expect(view.requestDigest).toBe(bundle.requestDigest);
  });

  it('an EVM transaction the node builds (real anvil) takes the next free nonce without reserving it', async () => {
    const anvil = await startAnvil();
    try {
      const withRpc = {
        ...config,
        chains: { ...config.chains, evm: { ...config.chains.evm!, rpcUrl: anvil.url } },
      };
      const builder = new RequestService({
        config: withRpc,
        db,
        audit: new AuditLog(db),
        wallets: new WalletStore(db, {} as Keystore),
        sessions: {
          sendNotice: async () => {},
          sign: async () => new Uint8Array(64),
        } as unknown as SessionManager,
        log: pino({ level: 'silent' }),
        gate,
        clock: () => now,
      });
      const unbuilt = () => (({ unsignedTransaction: _u, ...rest }) => rest)(transfer());
      const nonceOf = (id: string) => builder.store.get(id)!.evmNonce;
      const first = (await builder.createTransfer(unbuilt(), OTC)).view;
      expect(first.status).toBe('approved');
      const dry = await builder.prepareTransfer(unbuilt(), OTC);
      expect(dry.nonce).toBe(nonceOf(first.id)! + 1);
      expect((await builder.dryRunTransfer(unbuilt(), OTC, [])).outcome).toBe('allow');
      const second = (await builder.createTransfer(unbuilt(), OTC)).view;
      expect(nonceOf(second.id)).toBe(dry.nonce);
    } finally {
      await anvil.stop();
    }
  });
});
