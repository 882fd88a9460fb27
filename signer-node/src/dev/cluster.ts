// Development cluster: writes the configuration, secrets and (when softhsm2-util exists) SoftHSM2
// tokens for several signer nodes under one directory, initialises each node, and starts every node
// as its own child process. Used by scripts/cluster.ts, scripts/cluster-demo.ts and the process-level
// tests. Not part of a production deployment (secrets are written to files for convenience).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SOFTHSM_LIBRARY_PATH } from '@coffer/hsm';
import { createSoftHsmToken } from '@coffer/hsm/softhsm';

export const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

export type Backend = 'software' | 'pkcs11';

export type ClusterNodeSpec = { id: string; port: number; dir: string; config: string; backend: Backend };

export type ClusterSpec = {
  dir: string;
  nodes: ClusterNodeSpec[];
  /** Bearer token with admin + auditor scopes on every node. */
  adminToken: string;
  /** Bearer token with the auditor scope only. */
  auditorToken: string;
  /** Environment every node process needs (SOFTHSM2_CONF). */
  env: Record<string, string>;
};

export function softHsmAvailable(): boolean {
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
    return existsSync(SOFTHSM_LIBRARY_PATH);
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export type InitClusterOptions = {
  dir: string;
  ids?: string[];
  /** Backend per node; default pkcs11 when SoftHSM2 is installed, else software. */
  backends?: Backend[];
  roundMs?: number;
  logLevel?: string;
};

/** Creates and initialises every node; writes cluster.json describing the result. */
export async function initCluster(opts: InitClusterOptions): Promise<ClusterSpec> {
  const ids = opts.ids ?? ['node-a', 'node-b', 'node-c'];
  const dir = opts.dir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const hsm = softHsmAvailable();
  const env: Record<string, string> = {};
  let conf: string | undefined;
  if (hsm) {
    const tokens = join(dir, 'softhsm-tokens');
    mkdirSync(tokens, { recursive: true, mode: 0o700 });
    conf = join(dir, 'softhsm2.conf');
    writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`, {
      mode: 0o600,
    });
    env.SOFTHSM2_CONF = conf;
  }
  const adminToken = randomBytes(24).toString('hex');
  const auditorToken = randomBytes(24).toString('hex');
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  const nodes: ClusterNodeSpec[] = [];
  const pins: Record<string, { identityKey: string; encryptionKey: string }> = {};
  for (const [i, id] of ids.entries()) {
    const nodeDir = join(dir, id);
    mkdirSync(nodeDir, { recursive: true, mode: 0o700 });
    const backend: Backend = opts.backends?.[i] ?? (hsm ? 'pkcs11' : 'software');
    const secretFile = join(nodeDir, backend === 'pkcs11' ? 'pin' : 'passphrase');
    const secret = randomBytes(12).toString('hex');
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    let kek: Record<string, unknown>;
    if (backend === 'pkcs11') {
      if (!conf) throw new Error('pkcs11 backend requested but softhsm2-util is not installed');
      const label = `coffer-${id}-${randomBytes(3).toString('hex')}`.slice(0, 32);
      createSoftHsmToken({ conf, label, pin: secret, soPin: randomBytes(8).toString('hex') });
      kek = {
        backend: 'pkcs11',
        libraryPath: SOFTHSM_LIBRARY_PATH,
        tokenLabel: label,
        pin: { file: secretFile },
      };
    } else {
      kek = {
        backend: 'software',
        passphrase: { file: secretFile },
        argon2id: { opsLimit: 1, memLimitBytes: 8 * 1024 * 1024 },
      };
    }
    const port = await freePort();
    const config = join(nodeDir, 'config.json');
    nodes.push({ id, port, dir: nodeDir, config, backend });
    const base = {
      nodeId: id,
      listen: { host: '127.0.0.1', port },
      dataDir: join(nodeDir, 'data'),
      kek,
      peers: [],
      apiKeys: [
        { id: 'admin', scopes: ['admin', 'auditor'], sha256: sha(adminToken) },
        { id: 'auditor', scopes: ['auditor'], sha256: sha(auditorToken) },
      ],
      timeouts: { roundMs: opts.roundMs ?? 30_000, peerRequestMs: 15_000, probeMs: 1_000 },
      logLevel: opts.logLevel ?? 'warn',
    };
    writeFileSync(config, `${JSON.stringify(base, null, 2)}\n`, { mode: 0o600 });
    const out = execFileSync(process.execPath, ['--import', TSX, MAIN, 'init', '--config', config], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keys = JSON.parse(out.toString().trim()) as { identityKey: string; encryptionKey: string };
    pins[id] = { identityKey: keys.identityKey, encryptionKey: keys.encryptionKey };
  }
  for (const n of nodes) {
    const cfg = JSON.parse(readFileSync(n.config, 'utf8')) as Record<string, unknown>;
    cfg.peers = nodes
      .filter((p) => p.id !== n.id)
      .map((p) => ({ id: p.id, url: `http://127.0.0.1:${p.port}`, ...pins[p.id] }));
    writeFileSync(n.config, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
  }
  const spec: ClusterSpec = { dir, nodes, adminToken, auditorToken, env };
  writeFileSync(join(dir, 'cluster.json'), `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 });
  return spec;
}

export function loadCluster(dir: string): ClusterSpec {
  return JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterSpec;
}

/** One signer-node child process. */
export class NodeProcess {
  child: ChildProcess | undefined;
  stderr = '';
  stdout = '';
  constructor(
    readonly spec: ClusterNodeSpec,
    private readonly env: Record<string, string>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.spec.port}`;
  }

  /** Spawns the node and waits until /readyz answers (or the process exits). */
  async start(opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    this.stderr = '';
    this.stdout = '';
    const child = spawn(process.execPath, ['--import', TSX, MAIN, 'start', '--config', this.spec.config], {
      env: { ...process.env, ...this.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      if (this.stdout.length > 1_000_000) this.stdout = this.stdout.slice(-500_000);
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) =>
        reject(new Error(`${this.spec.id} exited with ${code}: ${this.stderr.trim()}`)),
      ),
    );
    exited.catch(() => undefined);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) await exited;
      try {
        const res = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(500) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await Promise.race([new Promise((r) => setTimeout(r, 100)), exited]);
    }
    throw new Error(`${this.spec.id} not ready after ${timeoutMs} ms: ${this.stderr.trim()}`);
  }

  /** Resolves with the first JSON line on stdout whose `event` is `event`. */
  async waitForEvent(event: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const line of this.stdout.split('\n')) {
        if (!line.startsWith('{"event"')) continue;
        const v = JSON.parse(line) as Record<string, unknown>;
        if (v.event === event) return v;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`${this.spec.id}: no "${event}" event within ${timeoutMs} ms`);
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL: no cleanup, as in a crash or power loss. */
  async kill9(): Promise<void> {
    await this.signal('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM', 5_000);
  }

  private async signal(sig: NodeJS.Signals, graceMs = 0): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(sig);
    if (graceMs > 0) {
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await done;
      clearTimeout(t);
    } else await done;
  }
}
