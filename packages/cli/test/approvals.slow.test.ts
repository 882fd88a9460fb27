// Transfers under a signed policy, as officers run them: every step is a separate `coffer` process
// against three real signer-node processes and a real anvil. Two policy admins sign a tiered policy
// (`coffer policy sign`) and publish it (`coffer policy publish`); a maker asks for 1 ETH from the hot
// wallet to an address-book entry, which needs two officers; each approves with `coffer approve`
// (local decode and digest, sealed key file); the nodes sign, broadcast and anvil confirms. A transfer
// outside the address book is denied with its trace; a wrong passphrase, a missing --yes and an
// under-signed policy version are refused with the CLI's exit codes; a veto and a cancellation end
// waiting requests.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCluster, NodeProcess } from '../../../signer-node/src/dev/cluster.ts';
import { type Anvil, startAnvil } from '../../chains/test/anvil.ts';
import { createApproverKeyFile } from '../src/approver-key.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const FUNDER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
const EXCHANGE = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const STRANGER = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';
const ETH = 10n ** 18n;
const PASSPHRASE = 'officer passphrase for tests';
const FAST = { opsLimit: 1, memLimitBytes: 8 * 1024 * 1024 };

type Run = { code: number | null; stdout: string; stderr: string };
const outputs: string[] = [];

function coffer(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
      env: {
        ...process.env,
        COFFER_URL: '',
        COFFER_API_KEY: '',
        COFFER_APPROVER_PASSPHRASE: PASSPHRASE,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      outputs.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

async function json(args: string[], expected = 0, env?: Record<string, string>) {
  const r = await coffer([...args, '--json'], env);
  expect(r.code, `${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(expected);
  // biome-ignore lint/suspicious/noExplicitAny: assertions read the parsed document field by field
  return JSON.parse(r.stdout) as Record<string, any>;
}

let anvil: Anvil;
let dir: string;
let nodes: NodeProcess[];
const tokens = {
  admin: randomBytes(24).toString('hex'),
  maker: randomBytes(24).toString('hex'),
  approver: randomBytes(24).toString('hex'),
  policyAdmin: randomBytes(24).toString('hex'),
};
const as = (who: keyof typeof tokens, node = 0) => ['--url', nodes[node]!.url, '--api-key', tokens[who]];
const keyFile = (id: string) => join(dir, `${id}.key`);
let wallet: { id: string; addresses: Record<string, string> };
const publicKeys: Record<string, string> = {};

beforeAll(async () => {
  process.env.TEST_PASSPHRASE = PASSPHRASE;
  anvil = await startAnvil();
  dir = mkdtempSync(join(tmpdir(), 'coffer-cli-approvals-'));
  for (const id of ['admin-1', 'admin-2', 'bob', 'carol'])
    publicKeys[id] = (
      await createApproverKeyFile({
        id,
        out: keyFile(id),
        passphrase: { env: 'TEST_PASSPHRASE' },
        argon2id: FAST,
      })
    ).publicKey;
  const spec = await initCluster({
    dir: join(dir, 'cluster'),
    backends: ['software', 'software', 'software'],
    // DKLs23 key generation rounds are slow on a loaded 2-core machine.
    roundMs: 45_000,
    logLevel: 'warn',
  });
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  for (const n of spec.nodes) {
    const config = JSON.parse(readFileSync(n.config, 'utf8')) as Record<string, unknown>;
    config.policy = {
      governance: {
        admins: [
          { id: 'admin-1', publicKey: publicKeys['admin-1'] },
          { id: 'admin-2', publicKey: publicKeys['admin-2'] },
        ],
        threshold: 2,
        timelockMs: 0,
      },
    };
    config.chains = { evm: { rpcUrl: anvil.url, chainId: 31337, nativeSymbol: 'ETH' } };
    config.apiKeys = [
      { id: 'admin', scopes: ['admin', 'auditor'], sha256: sha(tokens.admin) },
      { id: 'otc', scopes: ['maker'], operator: 'otc', sha256: sha(tokens.maker) },
      { id: 'officers', scopes: ['approver'], sha256: sha(tokens.approver) },
      { id: 'policy', scopes: ['policy-admin'], sha256: sha(tokens.policyAdmin) },
    ];
    writeFileSync(n.config, JSON.stringify(config, null, 2), { mode: 0o600 });
  }
  nodes = spec.nodes.map((n) => new NodeProcess(n, spec.env));
  await Promise.all(nodes.map((n) => n.start()));
}, 180_000);

afterAll(async () => {
  await Promise.all((nodes ?? []).map((n) => n.kill9()));
  await anvil?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function policyDocument(hot: string) {
  const network = 'eip155:31337';
  return {
    format: 'coffer-policy/1',
    version: 1,
    activatesAtMs: 0,
    reference: { currency: 'USD', decimals: 2 },
    pricing: { signers: [], maxAgeMs: 3_600_000 },
    approvals: { maxTtlMs: 86_400_000 },
    wallets: [{ id: 'hot-eth', tier: 'hot', chain: 'evm', network, address: hot }],
    addressBook: [
      {
        id: 'exchange-a',
        name: 'Exchange A deposit',
        chain: 'evm',
        network,
        tier: 'hot',
        address: EXCHANGE,
        addedAtMs: 0,
        coolOffMs: 0,
      },
    ],
    approverGroups: [
      {
        id: 'officers',
        approvers: [
          { id: 'alice', publicKey: publicKeys.alice },
          { id: 'bob', publicKey: publicKeys.bob },
          { id: 'carol', publicKey: publicKeys.carol },
        ],
      },
    ],
    operators: [
      { id: 'otc', roles: ['maker'] },
      { id: 'alice', roles: ['approver'] },
      { id: 'bob', roles: ['approver'] },
      { id: 'carol', roles: ['approver'] },
    ],
    rules: [
      {
        id: 'hot-to-address-book',
        when: { tiers: ['hot'], destination: { kind: 'address-book' } },
        effect: { type: 'allow' },
      },
    ],
    quorum: [
      { id: 'small', asset: `evm:${network}:native`, upToBaseUnits: (ETH / 10n).toString() },
      { id: 'large', approvals: { group: 'officers', count: 2 } },
    ],
    limits: [],
    delays: { largeDelayMs: 0, firstTimeDestinationDelayMs: 0 },
    screening: { denylist: [] },
  };
}

async function eventually<T>(f: () => Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('coffer transfers under a signed policy (three nodes, anvil)', () => {
  it('an approver key made by `coffer approver keygen`; admins sign and publish a policy; every node has it', async () => {
    const alice = await json(['approver', 'keygen', '--id', 'alice', '--out', keyFile('alice')]);
    expect(alice.publicKey).toMatch(/^[0-9a-f]{64}$/);
    publicKeys.alice = alice.publicKey;
    wallet = (await json(
      ['keygen', ...as('admin'), '--scheme', 'ecdsa-secp256k1', '--threshold', '2'].concat([
        '--parties',
        '3',
      ]),
    )) as typeof wallet;
    const doc = join(dir, 'policy.json');
    writeFileSync(doc, JSON.stringify(policyDocument(wallet.addresses.evm!)));
    const signed = join(dir, 'policy.signed.json');
    const first = await json(['policy', 'sign', '--key', keyFile('admin-1'), doc, '--out', signed]);
    expect(first.signers).toEqual(['admin-1']);
    // One admin signature of two: the node refuses the version.
    const short = await json(['policy', 'publish', signed, ...as('policyAdmin')], 1);
    expect(short.error).toMatchObject({ status: 422, code: 'invalid-policy-version' });
    const second = await json(['policy', 'sign', '--key', keyFile('admin-2'), signed, '--out', signed]);
    expect(second.signers).toEqual(['admin-1', 'admin-2']);
    const published = await json(['policy', 'publish', signed, ...as('policyAdmin')]);
    expect(published).toMatchObject({ version: 1, digest: second.digest });
    // Forwarded: each peer verified it and shows it active.
    for (const i of [1, 2]) {
      const shown = await eventually(async () => {
        const p = await json(['policy', 'show', ...as('admin', i)]);
        return p.active ? p : undefined;
      }, `policy on node ${i}`);
      expect(shown.active).toMatchObject({ version: 1, digest: second.digest });
    }
  }, 180_000);

  it('1 ETH needs two officers: approved with `coffer approve`, then signed, broadcast and confirmed on anvil', async () => {
    const hot = wallet.addresses.evm!;
    await anvil.rpc('eth_sendTransaction', [
      { from: FUNDER, to: hot, value: `0x${(10n * ETH).toString(16)}` },
    ]);
    const before = BigInt((await anvil.rpc('eth_getBalance', [EXCHANGE, 'latest'])) as string);
    const transfer = [
      '--wallet',
      'hot-eth',
      '--key-id',
      wallet.id,
      '--to',
      EXCHANGE,
      '--amount',
      ETH.toString(),
    ];
    const dry = await json(['policy', 'dry-run', ...as('maker'), ...transfer]);
    expect(dry.outcome).toBe('needs-approvals');
    const created = await json([
      'transfer',
      'create',
      ...as('maker'),
      ...transfer,
      '--idempotency-key',
      'order-1',
    ]);
    expect(created.status).toBe('pending-approvals');
    expect(created.decision.outcome).toBe('needs-approvals');
    const id = created.id as string;

    // No terminal and no --yes: nothing is signed (usage, exit 2). A wrong passphrase: exit 1.
    const noYes = await json(['approve', id, '--key', keyFile('alice'), ...as('approver')], 2);
    expect(noYes.error.message).toContain('--yes');
    const wrong = await json(['approve', id, '--key', keyFile('alice'), '--yes', ...as('approver')], 1, {
      COFFER_APPROVER_PASSPHRASE: 'not the passphrase',
    });
    expect(wrong.error.code).toBe('wrong-passphrase');

    const first = await json(['approve', id, '--key', keyFile('alice'), '--yes', ...as('approver', 1)]);
    expect(first).toMatchObject({ request: id, approverId: 'alice', requestDigest: created.requestDigest });
    expect(first.intent).toMatchObject({ to: expect.stringMatching(new RegExp(EXCHANGE.slice(2), 'i')) });
    expect(first.approvals).toEqual(['alice']);
    const readable = await coffer(['approve', id, '--key', keyFile('bob'), '--yes', ...as('approver')]);
    expect(readable.code, readable.stderr).toBe(0);
    expect(readable.stdout).toContain(`approved ${id} as bob`);

    const done = await eventually(
      async () => {
        const v = await json(['request', 'show', id, ...as('admin', 2)]);
        if (['failed', 'denied', 'cancelled', 'expired'].includes(v.status))
          throw new Error(JSON.stringify(v));
        return v.status === 'confirmed' ? v : undefined;
      },
      'confirmation',
      90_000,
    );
    expect(done.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    // The coordinator records who signed.
    const coordinator = await json(['request', 'show', id, ...as('admin')]);
    expect(coordinator.signers).toHaveLength(2);
    expect(coordinator.txHash).toBe(done.txHash);
    const receipt = (await anvil.rpc('eth_getTransactionReceipt', [done.txHash])) as { status: string };
    expect(receipt.status).toBe('0x1');
    const after = BigInt((await anvil.rpc('eth_getBalance', [EXCHANGE, 'latest'])) as string);
    expect(after - before).toBe(ETH);
  }, 180_000);

  it('a transfer outside the address book is denied, with the reason and trace in `request show`', async () => {
    const transfer = ['--wallet', 'hot-eth', '--key-id', wallet.id, '--to', STRANGER, '--amount', '1000'];
    const submitted = await json([
      'transfer',
      'create',
      ...as('maker'),
      ...transfer,
      '--idempotency-key',
      'order-2',
    ]);
    const created = await eventually(async () => {
      const v = await json(['request', 'show', submitted.id, ...as('admin')]);
      return v.status === 'denied' ? v : undefined;
    }, 'the denial');
    expect(created.decision.reasons.map((r: { code: string }) => r.code)).toContain('not-in-address-book');
    const shown = await coffer(['request', 'show', created.id, ...as('admin')]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('policy: deny');
    expect(shown.stdout).toContain('not-in-address-book');
    expect(shown.stdout).toContain('trace:');
    const refused = await json(
      ['approve', created.id, '--key', keyFile('carol'), '--yes', ...as('approver')],
      1,
    );
    expect(refused.error.code).toBe('not-waiting');
  }, 60_000);

  it('an officer vetoes a waiting request with `coffer veto`; the maker cancels another with `request cancel`', async () => {
    const transfer = [
      '--wallet',
      'hot-eth',
      '--key-id',
      wallet.id,
      '--to',
      EXCHANGE,
      '--amount',
      ETH.toString(),
    ];
    const first = await json([
      'transfer',
      'create',
      ...as('maker'),
      ...transfer,
      '--idempotency-key',
      'order-3',
    ]);
    expect(first.status).toBe('pending-approvals');
    const vetoed = await json(['veto', first.id, '--key', keyFile('carol'), '--yes', ...as('approver')]);
    expect(vetoed).toMatchObject({ request: first.id, approverId: 'carol', status: 'cancelled' });
    const second = await json([
      'transfer',
      'create',
      ...as('maker'),
      ...transfer,
      '--idempotency-key',
      'order-4',
    ]);
    const cancelled = await json(['request', 'cancel', second.id, ...as('maker')]);
    expect(cancelled.status).toBe('cancelled');
    // Approving a cancelled request: refused before anything is signed.
    const late = await json(['approve', second.id, '--key', keyFile('bob'), '--yes', ...as('approver')], 1);
    expect(late.error).toMatchObject({ code: 'not-waiting' });
    const list = await json(['request', 'list', '--status', 'cancelled', ...as('admin')]);
    expect(list.requests.map((r: { id: string }) => r.id).sort()).toEqual([first.id, second.id].sort());
  }, 60_000);

  it('nothing printed contains an API token or a key file secret', () => {
    expect(outputs.length).toBeGreaterThan(10);
    for (const o of outputs) {
      for (const t of Object.values(tokens)) expect(o).not.toContain(t);
      expect(o).not.toContain(PASSPHRASE);
      expect(o).not.toMatch(/\bat .*\.ts:\d+/);
    }
  });
});
