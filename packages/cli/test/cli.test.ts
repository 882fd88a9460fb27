// The `coffer` command as a user runs it: a separate process per invocation against three real
// signer-node processes (signer-node's test cluster helper). Key generation, wallets, signing verified
// with noble, sessions, the audit log (through the node and offline on its SQLite file, intact and
// tampered), node init/start, and the exit codes scripts rely on: 2 for usage errors naming the flag,
// 3 when the node cannot be reached, 1 for API errors carrying the API's code.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowRawDigests, freePort } from '../../../signer-node/src/dev/cluster.ts';
import { type Cluster, startCluster, verifySignature } from '../../../signer-node/test/helpers/cluster.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

type Run = { code: number | null; stdout: string; stderr: string };
const outputs: string[] = [];

function coffer(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
      env: { ...process.env, COFFER_URL: '', COFFER_API_KEY: '', ...opts.env },
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
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      outputs.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs with --json, requires the given exit code, and parses stdout as exactly one JSON document. */
async function json(args: string[], expected = 0, env?: Record<string, string>) {
  const r = await coffer([...args, '--json'], env ? { env } : {});
  expect(r.code, `${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(expected);
  expect(r.stdout.endsWith('\n') && r.stdout.trim().split('\n').length).toBe(1);
  // biome-ignore lint/suspicious/noExplicitAny: assertions read the parsed document field by field
  return JSON.parse(r.stdout) as Record<string, any>;
}

let c: Cluster;
let at: (i: number) => string[];
const digest = 'ab'.repeat(32);
const wallets: Record<string, { id: string; publicKey: string; addresses: Record<string, string> }> = {};

beforeAll(async () => {
  c = await startCluster({ roundMs: 20_000 });
  at = (i) => ['--url', c.nodes[i]!.url, '--api-key', c.spec.adminToken];
}, 120_000);

afterAll(async () => {
  await c?.stopAll();
});

describe('coffer against three signer-node processes', () => {
  it('generates a 2-of-3 ECDSA key and an Ed25519 key (--json), every node shows the same wallet', async () => {
    for (const scheme of ['ecdsa-secp256k1', 'eddsa-ed25519']) {
      const w = await json(['keygen', ...at(0), '--scheme', scheme, '--threshold', '2', '--parties', '3']);
      expect(w.scheme).toBe(scheme);
      expect(w.participants).toEqual(['node-a', 'node-b', 'node-c']);
      expect(w.publicKey).toMatch(/^[0-9a-f]+$/);
      wallets[scheme] = w as (typeof wallets)[string];
    }
    await allowRawDigests(c.spec, Object.values(wallets));
    expect(Object.keys(wallets['ecdsa-secp256k1']!.addresses).sort()).toEqual([
      'bitcoinP2wpkh',
      'evm',
      'tron',
    ]);
    // URL and key from the environment; another node holds a share of the same keys.
    const env = { COFFER_URL: c.nodes[2]!.url, COFFER_API_KEY: c.spec.auditorToken };
    const list = await json(['wallet', 'list'], 0, env);
    expect(list.wallets.map((w: { id: string }) => w.id).sort()).toEqual(
      Object.values(wallets)
        .map((w) => w.id)
        .sort(),
    );
    const id = wallets['ecdsa-secp256k1']!.id;
    const shown = await json(['wallet', 'show', id], 0, env);
    expect(shown.publicKey).toBe(wallets['ecdsa-secp256k1']!.publicKey);
    expect(shown.shareIndex).toBeUndefined();
    const evm = await json(['wallet', 'address', '--wallet', id, '--chain', 'evm'], 0, env);
    expect(evm.address).toBe(wallets['ecdsa-secp256k1']!.addresses.evm);
    const plain = await coffer(['wallet', 'address', id, '--chain', 'evm'], { env });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toBe(`${evm.address}\n`);
    const readable = await coffer(['--json', 'wallet', 'list'], { env });
    expect(JSON.parse(readable.stdout).wallets).toHaveLength(2);
    const text = await coffer(['wallet', 'list'], { env });
    expect(text.stdout).toContain(`${id}  ecdsa-secp256k1  2-of-3`);
    // An Ed25519 key has no EVM address: the operation fails (1) and says which it has.
    const none = await json(['wallet', 'address', wallets['eddsa-ed25519']!.id, '--chain', 'evm'], 1, env);
    expect(none.error.code).toBe('no-address');
  }, 90_000);

  it('signs with each key through another node; noble verifies; request and sessions are listed', async () => {
    for (const [scheme, message] of [
      ['ecdsa-secp256k1', digest],
      ['eddsa-ed25519', '68656c6c6f20636f66666572'],
    ] as const) {
      const w = wallets[scheme]!;
      const r = await json(['sign', ...at(1), '--wallet', w.id, '--digest', message]);
      expect(r.status).toBe('signed');
      expect(r.signers).toHaveLength(2);
      expect(verifySignature(scheme, w.publicKey, message, r.signature)).toBe(true);
      expect(verifySignature(scheme, w.publicKey, 'cd'.repeat(32), r.signature)).toBe(false);
      const again = await json(['request', 'show', r.id, ...at(1)]);
      expect(again.signature).toBe(r.signature);
    }
    const sessions = await json(['session', 'list', ...at(1), '--status', 'done']);
    const kinds = sessions.sessions.map((s: { kind: string; scheme: string }) => `${s.kind} ${s.scheme}`);
    expect(kinds).toEqual(
      expect.arrayContaining(['keygen ecdsa-secp256k1', 'keygen eddsa-ed25519', 'sign ecdsa-secp256k1']),
    );
    const readable = await coffer(['session', 'list', ...at(1), '--limit', '2']);
    expect(readable.code).toBe(0);
    expect(readable.stdout.trim().split('\n')).toHaveLength(2);
  }, 90_000);

  it('verifies the audit log through the node, and offline on the SQLite file; a tampered copy fails', async () => {
    const online = await json(['audit', 'verify', ...at(0)]);
    expect(online).toMatchObject({ ok: true, problems: [] });
    // The auditor key from a file (kept out of the process list), readable output.
    const keyFile = join(c.dir, 'auditor.key');
    writeFileSync(keyFile, `${c.spec.auditorToken}\n`, { mode: 0o600 });
    const readableOnline = await coffer([
      'audit',
      'verify',
      '--url',
      c.nodes[0]!.url,
      '--api-key-file',
      keyFile,
    ]);
    expect(readableOnline.code).toBe(0);
    expect(readableOnline.stdout).toContain('audit log intact');
    expect(online.entries).toBeGreaterThan(3);
    // The key a peer pinned for node-a, not what node-a says about itself.
    const pins = JSON.parse(readFileSync(c.spec.nodes[1]!.config, 'utf8')) as {
      peers: Array<{ id: string; identityKey: string }>;
    };
    const keyA = pins.peers.find((p) => p.id === 'node-a')!.identityKey;
    const dataDir = join(c.spec.nodes[0]!.dir, 'data');
    const offline = await json(['audit', 'verify', '--data-dir', dataDir, '--identity-key', keyA]);
    expect(offline).toMatchObject({ ok: true, entries: online.entries });
    // A consistent copy of the running node's database, with one entry altered.
    const copy = join(c.dir, 'tampered.sqlite');
    const src = new Database(join(dataDir, 'node.sqlite'), { readonly: true });
    await src.backup(copy);
    src.close();
    const db = new Database(copy);
    db.prepare('UPDATE audit_log SET details = \'{"wallet":"someone-else"}\' WHERE seq = 2').run();
    db.close();
    const bad = await json(['audit', 'verify', '--db', copy, '--identity-key', keyA], 1);
    expect(bad.error.code).toBe('audit-verification-failed');
    expect(bad.result.problems).toContain('entry 2 was altered (hash mismatch)');
    const readable = await coffer(['audit', 'verify', '--db', copy, '--identity-key', keyA]);
    expect(readable.code).toBe(1);
    expect(readable.stderr).toContain('entry 2 was altered');
  }, 60_000);

  it('an unknown wallet, a wrong API key and a refused body exit 1 with the API code', async () => {
    const unknown = await json(['wallet', 'show', '0'.repeat(64), ...at(0)], 1);
    expect(unknown.error).toMatchObject({ status: 404, code: 'not-found', field: 'id' });
    const plain = await coffer(['wallet', 'show', '0'.repeat(64), ...at(0)]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/no such wallet.*\[HTTP 404 not-found\]/);
    const wrongKey = await json(['wallet', 'list', '--url', c.nodes[0]!.url, '--api-key', 'not-a-key'], 1);
    expect(wrongKey.error).toMatchObject({ status: 401, code: 'unauthenticated' });
    const auditorSigns = await json(
      ['sign', '--url', c.nodes[0]!.url, '--api-key', c.spec.auditorToken, '--wallet', '1'.repeat(64)],
      2,
    );
    expect(auditorSigns.error.message).toContain('--digest');
    const forbidden = await json(
      ['sign', '--url', c.nodes[0]!.url, '--api-key', c.spec.auditorToken, '--wallet', '1'.repeat(64)].concat(
        ['--digest', digest],
      ),
      1,
    );
    expect(forbidden.error).toMatchObject({ status: 403, code: 'forbidden' });
    const tooHigh = await json(
      ['keygen', ...at(0), '--scheme', 'eddsa-ed25519', '--threshold', '3', '--parties', '2'],
      1,
    );
    expect(tooHigh.error).toMatchObject({ status: 400, code: 'invalid-request', field: 'threshold' });
  }, 60_000);
});

describe('coffer when nodes go down', () => {
  it('one node down still signs; two down exit 1 with not-enough-signers naming them', async () => {
    const w = wallets['eddsa-ed25519']!;
    await c.nodes[2]!.kill9();
    const r = await json(['sign', ...at(0), '--wallet', w.id, '--digest', 'c0ffee']);
    expect(r.signers.sort()).toEqual(['node-a', 'node-b']);
    expect(verifySignature('eddsa-ed25519', w.publicKey, 'c0ffee', r.signature)).toBe(true);
    await c.nodes[1]!.kill9();
    const down = await json(['sign', ...at(0), '--wallet', w.id, '--digest', 'c0ffee'], 1);
    expect(down.error).toMatchObject({ status: 503, code: 'not-enough-signers' });
    expect(down.error.message).toContain('down: node-b, node-c');
    const gone = await json(['wallet', 'list', ...at(2)], 3);
    expect(gone.error.code).toBe('unreachable');
  }, 60_000);
});

describe('exit codes without a node', () => {
  it('usage errors exit 2 and name the flag', async () => {
    const cases: Array<[string[], string]> = [
      [['wallet', 'list', '--bogus'], '--bogus'],
      [['wallet', 'list'], '--url'],
      [
        ['keygen', '--url', 'http://127.0.0.1:7001', '--scheme', 'rsa', '--threshold', '2', '--parties', '3'],
        '--scheme',
      ],
      [
        ['keygen', '--url', 'http://127.0.0.1:7001', '--scheme', 'eddsa-ed25519', '--threshold', 'two'],
        '--threshold',
      ],
      [['sign', '--url', 'http://127.0.0.1:7001', '--wallet', 'abc', '--digest', digest], '--wallet'],
      [['sign', '--url', 'http://127.0.0.1:7001', '--wallet', 'a'.repeat(64), '--digest', 'xyz'], '--digest'],
      [['session', 'list', '--url', 'http://127.0.0.1:7001', '--status', 'maybe'], '--status'],
      [['wallet', 'list', '--url', 'ftp://example'], '--url'],
      [['wallet', 'list', '--url'], '--url'],
      [['audit', 'verify', '--db', '/nonexistent/node.sqlite'], '--identity-key'],
      [['node', 'init'], '--config'],
      [['wallet', 'frobnicate'], 'wallet frobnicate'],
      [['wallet'], 'list, show, address'],
      [['wallet', 'list', '--url', 'http://127.0.0.1:7001', '--timeout-ms', '0'], '--timeout-ms'],
      [
        ['sign', '--url', 'http://127.0.0.1:7001', '--wallet', 'a'.repeat(64), '--digest', digest, 'extra'],
        'extra',
      ],
      [['approver', 'keygen', '--id', 'alice', '--out', '/tmp/never-written.key'], '--passphrase-file'],
      [['approve', `req-${'0'.repeat(24)}`, '--key', 'k', '--url', 'http://127.0.0.1:7001'], '--yes'],
      [['approve', 'req-1', '--key', 'k', '--yes', '--url', 'http://127.0.0.1:7001'], '--request'],
      [
        [
          'approve',
          `req-${'0'.repeat(24)}`,
          '--key',
          'k',
          '--yes',
          '--ttl',
          '10y',
          '--url',
          'http://127.0.0.1:7001',
        ],
        '--ttl',
      ],
      [
        [
          'transfer',
          'create',
          '--url',
          'http://127.0.0.1:7001',
          '--wallet',
          'hot-eth',
          '--key-id',
          'a'.repeat(64),
        ].concat(['--to', `0x${'1'.repeat(40)}`, '--amount', '1.5', '--idempotency-key', 'k']),
        '--amount',
      ],
      [
        [
          'transfer',
          'create',
          '--url',
          'http://127.0.0.1:7001',
          '--wallet',
          'hot-eth',
          '--key-id',
          'a'.repeat(64),
        ].concat(['--to', `0x${'1'.repeat(40)}`, '--amount', '15']),
        '--idempotency-key',
      ],
      [['policy', 'publish', '/nonexistent/policy.json', '--url', 'http://127.0.0.1:7001'], '--file'],
      [['policy'], 'show, sign, publish, dry-run'],
    ];
    await Promise.all(
      cases.map(async ([args, flag]) => {
        const r = await coffer(args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toContain(flag);
        expect(r.stdout).toBe('');
        const j = await coffer([...args, '--json']);
        expect(j.code).toBe(2);
        expect(JSON.parse(j.stdout).error).toMatchObject({ code: 'usage' });
        expect(JSON.parse(j.stdout).error.message).toContain(flag);
      }),
    );
  }, 60_000);

  it('an unreachable node exits 3 with a clear message', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await coffer(['wallet', 'list', '--url', url, '--api-key', 'k']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`cannot reach ${url} (ECONNREFUSED)`);
    const j = await json(['sign', '--url', url, '--wallet', 'a'.repeat(64), '--digest', digest], 3);
    expect(j.error).toMatchObject({ code: 'unreachable', url });
  }, 30_000);

  it('--help exits 0 and lists every command with the exit codes', async () => {
    const r = await coffer(['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['node init', 'keygen', 'wallet address', 'sign', 'session list', 'audit verify'])
      expect(r.stdout).toContain(`coffer ${cmd}`);
    expect(r.stdout).toContain('0 ok, 1 operation failed, 2 usage error, 3 cannot reach the node');
  });
});

describe('coffer node init | start', () => {
  it('initialises a node, refuses to re-initialise, serves it and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coffer-cli-node-'));
    try {
      writeFileSync(join(dir, 'passphrase'), 'correct horse battery staple\n', { mode: 0o600 });
      const port = await freePort();
      const config = join(dir, 'config.json');
      writeFileSync(
        config,
        JSON.stringify({
          nodeId: 'solo',
          listen: { host: '127.0.0.1', port },
          dataDir: './data',
          kek: {
            backend: 'software',
            passphrase: { file: './passphrase' },
            argon2id: { opsLimit: 1, memLimitBytes: 8 * 1024 * 1024 },
          },
          peers: [],
          apiKeys: [],
          logLevel: 'warn',
        }),
      );
      const init = await json(['node', 'init', '--config', config]);
      expect(init.node).toBe('solo');
      expect(init.identityKey).toMatch(/^[0-9a-f]{64}$/);
      expect(init.encryptionKey).toMatch(/^[0-9a-f]{64}$/);
      const again = await coffer(['node', 'init', '--config', config]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('already initialised');

      const child = spawn(process.execPath, ['--import', TSX, MAIN, 'node', 'start', '--config', config], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.resume();
      child.stderr.resume();
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      let status: Record<string, unknown> | undefined;
      for (let i = 0; i < 100 && !status; i++) {
        const r = await coffer(['node', 'status', '--url', `http://127.0.0.1:${port}`, '--json']);
        if (r.code === 0) status = JSON.parse(r.stdout) as Record<string, unknown>;
        else await new Promise((res) => setTimeout(res, 200));
      }
      expect(status).toEqual({ node: 'solo', health: 'ok', ready: 'ready' });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // Stopped cleanly, so the node sealed its log with a checkpoint: the pinned key verifies it,
      // another key does not.
      const ok = await json([
        'audit',
        'verify',
        '--data-dir',
        join(dir, 'data'),
        '--identity-key',
        init.identityKey,
      ]);
      expect(ok.ok).toBe(true);
      expect(ok.checkpoints).toBeGreaterThan(0);
      const wrong = await json(
        ['audit', 'verify', '--data-dir', join(dir, 'data'), '--identity-key', 'ab'.repeat(32)],
        1,
      );
      expect(wrong.result.problems.join('\n')).toContain("no valid signature by this node's key");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('no secrets in output', () => {
  it('nothing any command printed contains an API token', () => {
    expect(outputs.length).toBeGreaterThan(20);
    for (const o of outputs) {
      expect(o).not.toContain(c.spec.adminToken);
      expect(o).not.toContain(c.spec.auditorToken);
      expect(o).not.toMatch(/\bat .*\.ts:\d+/); // no stack traces
    }
  });
});
