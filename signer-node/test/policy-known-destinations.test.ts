// The first-time-destination delay (DESIGN §5 "Delays"; signer-node/docs/policy-api.md, "Known
// destinations") in the policy gate of one node, on a real SQLite file with a signed policy installed
// from a file. A destination is known only for the policy wallet that completed a transfer to it, on
// the same chain:network, by a receipt this node signed itself or by receipts of `t` distinct nodes
// (each verified under its signer's pinned key): a payment by another wallet, on another network, or a
// receipt only one peer vouches for must not skip the veto window. The gate is asked exactly as the
// session manager asks a member before it lends its share (`authorizeSign`).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildEvmTransfer } from '@coffer/chains/evm';
import type { Keystore } from '@coffer/hsm';
import { parsePolicy } from '@coffer/policy/document';
import { signPolicy } from '@coffer/policy/governance';
import { SigningKey } from '@coffer/policy/keys';
import type { PolicyRequest } from '@coffer/policy/request';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.ts';
import { type NodeConfig, parseConfig } from '../src/config/config.ts';
import { bundleToJson, decodeUnsigned, keyAddress, makeBundle } from '../src/policy/bundle.ts';
import { PolicyGate } from '../src/policy/gate.ts';
import { KNOWN_DESTINATIONS_SQL, type ReceiptBody, receiptMessage } from '../src/policy/receipts.ts';
import { type NodeDatabase, openDatabase } from '../src/storage/db.ts';
import { MIGRATIONS } from '../src/storage/migrations.ts';
import { WalletStore } from '../src/store/wallets.ts';
import { insertWallet } from './helpers/node.ts';
import { ETH, HOUR, requestPolicyWire, TIER_PATHS } from './helpers/requests.ts';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
const now = T0;
const network = 'eip155:31337';
const keyId = 'cd'.repeat(32);
const admin = SigningKey.generate();
const identity = { a: SigningKey.generate(), b: SigningKey.generate(), c: SigningKey.generate() };
const address: Record<string, string> = {};
/** A second hot wallet on the same key (path m/3) and chain:network as hot-eth. */
const HOT2_PATH = 'm/3';
let dir: string;
let db: NodeDatabase;
let gate: PolicyGate;
let config: NodeConfig;
let seq = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-known-destinations-'));
  db = openDatabase(join(dir, 'node.sqlite'));
  const secret = secp256k1.utils.randomSecretKey();
  const key = {
    scheme: 'ecdsa-secp256k1',
    publicKey: bytesToHex(secp256k1.getPublicKey(secret, true)),
    chainCode: bytesToHex(randomBytes(32)),
  };
  // A 2-of-3 key: t = 2.
  insertWallet(db, keyId, { ...key, createdAt: new Date(T0).toISOString() });
  for (const [tier, path] of Object.entries(TIER_PATHS))
    address[tier] = (await keyAddress(key, path, 'evm', network))!;
  address.hot2 = (await keyAddress(key, HOT2_PATH, 'evm', network))!;
  for (const [i, name] of ['exchange', 'otc', 'broker', 'custodian', 'fresh'].entries())
    address[name] = `0x${(i + 4).toString(16).repeat(40)}`;
  const wire = requestPolicyWire(
    {
      network,
      hot: address.hot!,
      cold: address.cold!,
      warm: address.warm!,
      exchange: address.exchange!,
      fresh: address.fresh!,
    },
    { nowMs: T0 },
  );
  wire.limits = [];
  wire.delays = { largeDelayMs: 0, firstTimeDestinationDelayMs: HOUR };
  wire.wallets.push({ id: 'hot2-eth', tier: 'hot', chain: 'evm', network, address: address.hot2 });
  for (const name of ['otc', 'broker', 'custodian'])
    wire.addressBook.push({ ...wire.addressBook[0]!, id: `${name}-a`, name, address: address[name]! });
  const signed = {
    document: wire,
    signatures: [signPolicy(parsePolicy(wire), 'admin-1', admin)],
    receivedAtMs: T0,
  };
  writeFileSync(join(dir, 'policy-v1.json'), JSON.stringify(signed));
  config = parseConfig(
    {
      nodeId: 'node-a',
      listen: { host: '127.0.0.1', port: 0 },
      dataDir: dir,
      kek: { backend: 'software', passphrase: { env: 'UNUSED' } },
      peers: (['b', 'c'] as const).map((n, i) => ({
        id: `node-${n}`,
        url: 'http://127.0.0.1:9',
        identityKey: identity[n].publicKey,
        encryptionKey: (i + 3).toString(16).padStart(2, '0').repeat(32),
      })),
      apiKeys: [],
      logLevel: 'silent',
      policy: {
        governance: { admins: [{ id: 'admin-1', publicKey: admin.publicKey }], threshold: 1, timelockMs: 0 },
        initialVersionFile: 'policy-v1.json',
        historyTimeoutMs: 100,
      },
      chains: { evm: { chainId: 31337 } },
    },
    dir,
  );
  gate = new PolicyGate({
    config,
    db,
    audit: new AuditLog(db),
    log: pino({ level: 'silent' }),
    wallets: new WalletStore(db, {} as Keystore),
    sign: async (message) => identity.a.sign(message),
    identityPublicKey: identity.a.publicKey,
    sendNotice: async () => undefined,
    clock: () => now,
  });
  gate.start();
});

afterAll(() => {
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const hex = (bytes: number) => bytesToHex(randomBytes(bytes));

/** A small native transfer from a policy wallet, as the coordinator would send it to a member. */
async function transfer(wallet: 'hot-eth' | 'hot2-eth', to: string) {
  const from = wallet === 'hot-eth' ? address.hot! : address.hot2!;
  const unsigned = buildEvmTransfer({
    network: { chainId: 31337, nativeSymbol: 'ETH', tokens: [], maxFeeWei: 10n ** 17n },
    from,
    to,
    amount: ETH / 20n,
    nonce: ++seq,
    gas: 21_000n,
    maxFeePerGas: 2_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
  });
  const bytes = hexToBytes(unsigned.serialized.slice(2));
  const decoded = await decodeUnsigned('evm', bytes, { from, chains: config.chains });
  const request: PolicyRequest = {
    kind: 'transfer',
    wallet,
    operator: 'otc',
    submittedAtMs: now,
    requestId: `order-${seq}`,
    unsignedTransaction: bytes,
    intent: decoded.intent,
  };
  const bundle = makeBundle({
    id: `req-${hex(12)}`,
    keyId,
    path: wallet === 'hot-eth' ? TIER_PATHS.hot : HOT2_PATH,
    request,
    description: { chain: 'evm', network, asset: { kind: 'native' }, to, amount: ETH / 20n },
  });
  return { bundle, message: decoded.signingDigest };
}

/** This member's own decision for a signing session of the transfer, and the delays it applied. */
async function authorize(t: Awaited<ReturnType<typeof transfer>>) {
  const result = await gate.authorizeSign({
    sessionId: `sg-${hex(16)}`,
    walletId: keyId,
    message: t.message,
    path: t.bundle.path,
    request: bundleToJson(t.bundle),
    coordinator: 'node-b',
    signers: ['node-a', 'node-b'],
  });
  const decision = gate.decisions(t.bundle.id).at(-1)!;
  return { ok: result.ok, outcome: decision.outcome, delays: decision.trace.delays.map((d) => d.source) };
}

/** The transfer completes with this node in the signing set: the session manager's onSigned. */
function signedHere(t: Awaited<ReturnType<typeof transfer>>): Promise<void> {
  gate.onSigned({
    sessionId: `sg-${hex(16)}`,
    walletId: keyId,
    message: bytesToHex(t.message),
    path: t.bundle.path,
    signature: hex(64),
    request: bundleToJson(t.bundle),
    coordinator: 'node-b',
    signers: ['node-a', 'node-b'],
  });
  // issue() signs asynchronously; wait until the receipt is stored.
  return expect
    .poll(() =>
      db.prepare('SELECT count(*) AS n FROM receipts WHERE request_id = ?').get(t.bundle.requestDigest),
    )
    .toEqual({ n: 1 });
}

/** A receipt body for a transfer that the given wallet completed (or claims to have completed). */
function receiptBody(o: { wallet: string; to: string; asset?: string; digest?: string }): ReceiptBody {
  return {
    format: 'coffer-receipt/1',
    requestDigest: o.digest ?? hex(32),
    requestId: `req-${hex(12)}`,
    kind: 'transfer',
    wallet: o.wallet,
    keyId,
    operator: 'otc',
    asset: o.asset ?? `evm:${network}:native`,
    to: o.to,
    amount: (ETH / 20n).toString(),
    completedAtMs: now - HOUR,
    signer: 'node-a',
    sessionId: `sg-${hex(16)}`,
  };
}

/** A peer's receipt, signed with its identity key and delivered as the `receipt` notice. */
function fromPeer(peer: 'b' | 'c', body: ReceiptBody): void {
  const full = { ...body, signer: `node-${peer}` };
  const signature = bytesToHex(identity[peer].sign(receiptMessage(full)));
  gate.handleNotice(`node-${peer}`, 'receipt', JSON.stringify({ body: full, signature }));
}

describe('first-time-destination delay: a destination is known per policy wallet and network', () => {
  it('a destination this wallet never paid waits the veto window (baseline)', async () => {
    const first = await authorize(await transfer('hot-eth', address.exchange!));
    expect(first).toEqual({ ok: false, outcome: 'delayed', delays: ['first-time-destination'] });
  });

  it('a payment from another wallet to X does not make X known for this wallet (first-time delay still applies)', async () => {
    const x = address.exchange!;
    await signedHere(await transfer('hot2-eth', x));
    // The receipt counts for the wallet that paid: hot2-eth → X no longer waits...
    expect(await authorize(await transfer('hot2-eth', x))).toEqual({
      ok: true,
      outcome: 'allow',
      delays: [],
    });
    // ...but hot-eth never paid X.
    expect(await authorize(await transfer('hot-eth', x))).toEqual({
      ok: false,
      outcome: 'delayed',
      delays: ['first-time-destination'],
    });
  });

  it('a payment to X by the same wallet on another network does not make X known on this one', async () => {
    const x = address.otc!;
    // Receipts this node signed itself: the same wallet id paid X on mainnet, and on a token of mainnet.
    await gate.receipts.issue(receiptBody({ wallet: 'hot-eth', to: x, asset: 'evm:eip155:1:native' }));
    await gate.receipts.issue(
      receiptBody({ wallet: 'hot-eth', to: x, asset: `evm:eip155:1:0x${'7'.repeat(40)}` }),
    );
    expect(await authorize(await transfer('hot-eth', x))).toEqual({
      ok: false,
      outcome: 'delayed',
      delays: ['first-time-destination'],
    });
    // The same receipt on this network does make it known.
    await gate.receipts.issue(receiptBody({ wallet: 'hot-eth', to: x }));
    expect(await authorize(await transfer('hot-eth', x))).toEqual({ ok: true, outcome: 'allow', delays: [] });
  });

  it('one peer alone cannot vouch for a destination (a compromised node forging receipts); t = 2 signers of one transfer can', async () => {
    const x = address.broker!;
    const digest = hex(32);
    fromPeer('b', receiptBody({ wallet: 'hot-eth', to: x, digest }));
    // Another transfer that only node-c vouches for: two signers, but not of the same transfer.
    fromPeer('c', receiptBody({ wallet: 'hot-eth', to: x }));
    expect(await authorize(await transfer('hot-eth', x))).toEqual({
      ok: false,
      outcome: 'delayed',
      delays: ['first-time-destination'],
    });
    // node-c signs a receipt for the same transfer as node-b: two of the three nodes signed it.
    fromPeer('c', receiptBody({ wallet: 'hot-eth', to: x, digest }));
    expect(await authorize(await transfer('hot-eth', x))).toEqual({ ok: true, outcome: 'allow', delays: [] });
  });

  it('same wallet, same network: no first-time delay, addresses compared by the chain rules (EVM checksum casing)', async () => {
    const x = address.custodian!;
    const shouted = `0x${x.slice(2).toUpperCase()}`;
    await signedHere(await transfer('hot-eth', shouted));
    expect(await authorize(await transfer('hot-eth', x))).toEqual({ ok: true, outcome: 'allow', delays: [] });
  });
});

describe('known-destination lookup (migration 6)', () => {
  it('receipts stored before the migration are found, by an index search rather than a table scan', async () => {
    const path = join(dir, 'upgraded.sqlite');
    const old = openDatabase(path, { migrations: MIGRATIONS.filter((m) => m.version <= 5) });
    const body = { ...receiptBody({ wallet: 'hot-eth', to: address.exchange! }), signer: 'node-a' };
    old
      .prepare(
        `INSERT INTO receipts (id, request_id, body, signatures, received_at, signer, completed_at_ms)
         VALUES (?, ?, ?, '{}', ?, 'node-a', ?)`,
      )
      .run(
        `${body.requestDigest}/node-a`,
        body.requestDigest,
        JSON.stringify(body),
        new Date(T0).toISOString(),
        T0,
      );
    old.close();
    const upgraded = openDatabase(path);
    try {
      const rows = upgraded
        .prepare(KNOWN_DESTINATIONS_SQL)
        .all(address.exchange!.toLowerCase(), 'hot-eth', 10);
      expect(rows).toEqual([
        { request_id: body.requestDigest, signer: 'node-a', address: address.exchange, asset: body.asset },
      ]);
      const plan = upgraded
        .prepare(`EXPLAIN QUERY PLAN ${KNOWN_DESTINATIONS_SQL}`)
        .all('x', 'y', 1) as Array<{ detail: string }>;
      expect(plan.map((p) => p.detail).join('; ')).toMatch(
        /^SEARCH receipts USING INDEX receipts_destination/,
      );
    } finally {
      upgraded.close();
    }
  });
});
