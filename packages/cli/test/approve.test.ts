// `coffer approve` against a node that lies: a local HTTP server serves a request view whose intent or
// digest does not match its own unsigned transaction. The approver's process must refuse (exit 1, the
// field named) and post nothing; an honest view is approved with a signature over the digest computed
// on the approver's side; a declined prompt posts nothing. Real EVM bytes (@coffer/chains), real
// digests (@coffer/policy), a real sealed key file.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildEvmTransfer } from '@coffer/chains/evm';
import { intentToWire } from '@coffer/chains/intent';
import { signApproval } from '@coffer/policy/approvals';
import { type PolicyRequest, requestDigest } from '@coffer/policy/request';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApproverKeyFile, openApproverKeyFile } from '../src/approver-key.ts';
import { run } from '../src/cli.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const ID = `req-${'ab'.repeat(12)}`;
const TO = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const ATTACKER = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';
const PASSPHRASE = 'approver passphrase for tests';

let dir: string;
let keyFile: string;
let server: Server;
let url: string;
let view: Record<string, unknown>;
const posts: Array<{ path: string; body: Record<string, unknown> }> = [];

function honestView(to = TO): Record<string, unknown> {
  const built = buildEvmTransfer({
    network: { chainId: 31337, nativeSymbol: 'ETH', tokens: [], maxFeeWei: 10n ** 17n },
    from: '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266',
    to,
    amount: 10n ** 18n,
    nonce: 0,
    gas: 21_000n,
    maxFeePerGas: 2_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
  });
  const request: PolicyRequest = {
    kind: 'transfer',
    wallet: 'hot-eth',
    operator: 'otc',
    submittedAtMs: 1_760_000_000_000,
    requestId: 'order-1',
    unsignedTransaction: new Uint8Array(Buffer.from(built.serialized.slice(2), 'hex')),
    intent: built.intent,
  };
  return {
    id: ID,
    kind: 'transfer',
    status: 'pending-approvals',
    wallet: 'hot-eth',
    keyId: 'cd'.repeat(32),
    path: 'm',
    operator: 'otc',
    requestDigest: requestDigest(request),
    submittedAtMs: request.submittedAtMs,
    requestId: request.requestId,
    intent: intentToWire(built.intent),
    unsignedTransaction: built.serialized,
    digest: null,
    decision: null,
    approvals: [],
    signature: null,
    signedTransaction: null,
    txHash: null,
    signers: [],
    history: [],
    error: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-approve-test-'));
  keyFile = join(dir, 'bob.key');
  process.env.COFFER_TEST_APPROVER_PASSPHRASE = PASSPHRASE;
  // The in-process run() below reads the passphrase where the key file reader does: process.env.
  process.env.COFFER_APPROVER_PASSPHRASE = PASSPHRASE;
  await createApproverKeyFile({
    id: 'bob',
    out: keyFile,
    passphrase: { env: 'COFFER_TEST_APPROVER_PASSPHRASE' },
    argon2id: { opsLimit: 1, memLimitBytes: 8 * 1024 * 1024 },
  });
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => {
      text += d.toString();
    });
    req.on('end', () => {
      if (req.method === 'POST') {
        const body = JSON.parse(text) as Record<string, unknown>;
        posts.push({ path: req.url ?? '', body });
        const approvals = [{ approverId: body.approverId, approvedAtMs: 1, expiresAtMs: 2 }];
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ...view, approvals }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(view));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function approve(extra: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        TSX,
        MAIN,
        'approve',
        ID,
        '--key',
        keyFile,
        '--yes',
        '--url',
        url,
        '--api-key',
        'k',
        '--json',
        ...extra,
      ],
      { env: { ...process.env, COFFER_APPROVER_PASSPHRASE: PASSPHRASE }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('coffer approve against a lying node', () => {
  it('refuses an intent that is not what the transaction does, and posts nothing', async () => {
    view = { ...honestView(), intent: { ...(honestView().intent as object), to: ATTACKER } };
    const r = await approve();
    expect(r.code, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'intent-mismatch', field: 'intent.to' });
    expect(posts).toHaveLength(0);
  });

  it('refuses a digest that is not the digest of the request shown, and posts nothing', async () => {
    view = { ...honestView(), requestDigest: honestView(ATTACKER).requestDigest };
    const r = await approve();
    expect(r.code, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'digest-mismatch', field: 'requestDigest' });
    expect(posts).toHaveLength(0);
  });

  it('refuses a request that is past approval (signed) before signing anything, and posts nothing', async () => {
    view = { ...honestView(), status: 'signed' };
    const r = await approve();
    expect(r.code, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'not-waiting' });
    expect(posts).toHaveLength(0);
  });

  it('approves an honest view: the posted approval signs the digest computed here, for --ttl', async () => {
    view = honestView();
    const r = await approve(['--ttl', '30m']);
    expect(r.code, r.stderr).toBe(0);
    expect(posts).toHaveLength(1);
    const [post] = posts.splice(0);
    expect(post!.path).toBe(`/v1/requests/${ID}/approvals`);
    const approval = post!.body as {
      approverId: string;
      requestDigest: string;
      approvedAtMs: number;
      expiresAtMs: number;
      signature: string;
    };
    expect(approval.approverId).toBe('bob');
    expect(approval.requestDigest).toBe(view.requestDigest);
    expect(approval.expiresAtMs - approval.approvedAtMs).toBe(30 * 60_000);
    // Ed25519 is deterministic: the same fields under bob's key give the same signature.
    const bob = await openApproverKeyFile(keyFile, { env: 'COFFER_TEST_APPROVER_PASSPHRASE' });
    const { signature: _, ...unsigned } = approval;
    expect(signApproval(unsigned, bob.key).signature).toBe(approval.signature);
    expect(JSON.parse(r.stdout)).toMatchObject({ request: ID, approverId: 'bob', approvals: ['bob'] });
  });

  it('shows the decoded intent at the prompt; a declined prompt posts nothing (exit 1 not-confirmed)', async () => {
    view = honestView();
    const shown: string[] = [];
    const out: string[] = [];
    const code = await run(['approve', ID, '--key', keyFile, '--url', url, '--api-key', 'k', '--json'], {
      out: (t) => out.push(t),
      err: () => undefined,
      env: { COFFER_APPROVER_PASSPHRASE: PASSPHRASE },
      confirm: async (summary) => {
        shown.push(...summary);
        return false;
      },
    });
    expect(code).toBe(1);
    expect(JSON.parse(out.join('')).error.code).toBe('not-confirmed');
    expect(shown.join('\n')).toContain('1 ETH');
    expect(shown.join('\n').toLowerCase()).toContain(TO);
    expect(posts).toHaveLength(0);
  });
});

describe('coffer policy sign', () => {
  it('refuses a document that does not validate, naming the field, and writes nothing', async () => {
    const doc = join(dir, 'bad-policy.json');
    writeFileSync(doc, JSON.stringify({ format: 'coffer-policy/1', version: 0 }));
    const out: string[] = [];
    const signed = join(dir, 'never.json');
    const code = await run(['policy', 'sign', '--key', keyFile, doc, '--out', signed, '--json'], {
      out: (t) => out.push(t),
      err: () => undefined,
      env: { COFFER_APPROVER_PASSPHRASE: PASSPHRASE },
    });
    expect(code).toBe(1);
    expect(JSON.parse(out.join('')).error).toMatchObject({ code: 'invalid-policy' });
    expect(JSON.parse(out.join('')).error.field).toMatch(/^policy\./);
    expect(() => readFileSync(signed)).toThrow();
  });
});
