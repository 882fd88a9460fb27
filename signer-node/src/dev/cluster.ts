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
import { parsePolicy } from '@coffer/policy/document';
import { signPolicy } from '@coffer/policy/governance';
import { SigningKey } from '@coffer/policy/keys';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';

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
  /** Dev policy governance: key files live in `dir/policy-keys` (0600), never in logs or this spec. */
  policy: DevPolicySpec;
};

/** Dev governance and the tokens of the policy roles (signer-node/docs/policy-api.md). */
export type DevPolicySpec = {
  /** Admin ids; their Ed25519 seeds are in `dir/policy-keys/<id>.key`. */
  admins: { id: string; publicKey: string }[];
  threshold: number;
  timelockMs: number;
  /** Approver ids (group `officers`); seeds in `dir/policy-keys/<id>.key`. */
  approvers: { id: string; publicKey: string }[];
  /** The latest document the dev helpers published (wire JSON), extended by `allowRawDigests`. */
  currentFile: string;
  /** Bearer token with the maker scope, operator `otc-desk`. */
  makerToken: string;
  /** Bearer token with the policy-admin scope. */
  policyAdminToken: string;
  /** Bearer tokens with the approver scope, by approver id. */
  approverTokens: Record<string, string>;
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
  /** Policy timelock of the dev governance (default 0; the first version never waits). */
  policyTimelockMs?: number;
  /** `chains` section of every node's configuration (e.g. an anvil endpoint). */
  chains?: Record<string, unknown>;
};

const DEV_ADMINS = ['admin-1', 'admin-2', 'admin-3'];
const DEV_APPROVERS = ['alice', 'bob'];

/** The dev cluster's first policy: no wallets yet, so it allows nothing until a version adds some. */
export function devPolicyDocument(approvers: { id: string; publicKey: string }[]): Record<string, unknown> {
  return {
    format: 'coffer-policy/1',
    version: 1,
    activatesAtMs: 0,
    reference: { currency: 'USD', decimals: 2 },
    pricing: { signers: [], maxAgeMs: 3_600_000 },
    approvals: { maxTtlMs: 86_400_000 },
    wallets: [],
    addressBook: [],
    approverGroups: [{ id: 'officers', approvers }],
    operators: [
      { id: 'admin', roles: ['maker'] },
      { id: 'otc-desk', roles: ['maker'] },
      ...approvers.map((a) => ({ id: a.id, roles: ['approver'] })),
    ],
    rules: [],
    quorum: [],
    limits: [],
    delays: { largeDelayMs: 0, firstTimeDestinationDelayMs: 0 },
    screening: { denylist: [] },
  };
}

function keyFile(dir: string, id: string): string {
  return join(dir, 'policy-keys', `${id}.key`);
}

function requirePolicy(spec: ClusterSpec): DevPolicySpec {
  if (spec.policy === undefined)
    throw new Error(
      `the cluster in ${spec.dir} was initialised without dev policy governance; initialise it again (--fresh)`,
    );
  return spec.policy;
}

/** A dev policy admin's or approver's signing key, read from the cluster directory. */
export function loadDevKey(spec: ClusterSpec, id: string): SigningKey {
  return SigningKey.fromSecretKey(hexToBytes(readFileSync(keyFile(spec.dir, id), 'utf8').trim()));
}

/** Signs `document` (wire JSON) with `threshold` dev admins: the body of POST /v1/policy/versions. */
export function signDevPolicy(
  spec: ClusterSpec,
  document: Record<string, unknown>,
  admins = requirePolicy(spec)
    .admins.slice(0, requirePolicy(spec).threshold)
    .map((a) => a.id),
): { document: Record<string, unknown>; signatures: { adminId: string; signature: string }[] } {
  const parsed = parsePolicy(document);
  return { document, signatures: admins.map((id) => signPolicy(parsed, id, loadDevKey(spec, id))) };
}

/**
 * Signs `document` with the dev admins and submits it to every node in `urls` (default: every node of
 * the cluster; nodes that are down are skipped). Returns the version as the first node that accepted
 * it reports it. The document becomes the cluster's current dev document.
 */
export async function publishPolicy(
  spec: ClusterSpec,
  document: Record<string, unknown>,
  urls: string[] = spec.nodes.map((n) => `http://127.0.0.1:${n.port}`),
): Promise<{ version: number; digest: string; activeFromMs: number }> {
  const policy = requirePolicy(spec);
  const body = JSON.stringify(signDevPolicy(spec, document));
  let result: { version: number; digest: string; activeFromMs: number } | undefined;
  const refusals: string[] = [];
  for (const url of urls) {
    let res: Response;
    try {
      res = await fetch(`${url}/v1/policy/versions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${policy.policyAdminToken}`,
          'content-type': 'application/json',
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
    } catch {
      continue;
    }
    const answer = (await res.json()) as Record<string, unknown>;
    if (res.status !== 201) refusals.push(`${url}: ${String(answer.message)}`);
    else result ??= answer as { version: number; digest: string; activeFromMs: number };
  }
  if (!result) throw new Error(`no node accepted the policy version: ${refusals.join('; ') || 'all down'}`);
  writeFileSync(policy.currentFile, `${JSON.stringify(document, null, 2)}\n`, { mode: 0o600 });
  return result;
}

/** The latest dev document (wire JSON) published through these helpers. */
export function currentDevPolicy(spec: ClusterSpec): Record<string, unknown> {
  return JSON.parse(readFileSync(requirePolicy(spec).currentFile, 'utf8')) as Record<string, unknown>;
}

/**
 * Publishes a new version that lets raw digests be signed with the given threshold keys (each becomes a
 * hot policy wallet whose id is the key id and whose address is its public key), on top of the current
 * dev document. Used by tests, the demo and the benchmarks right after key generation.
 */
export async function allowRawDigests(
  spec: ClusterSpec,
  keys: { id: string; publicKey: string }[],
  urls?: string[],
): Promise<{ version: number; digest: string; activeFromMs: number }> {
  const doc = structuredClone(currentDevPolicy(spec)) as Record<string, unknown> & {
    version: number;
    wallets: Record<string, unknown>[];
    rules: Record<string, unknown>[];
  };
  for (const k of keys)
    if (!doc.wallets.some((w) => w.id === k.id))
      doc.wallets.push({ id: k.id, tier: 'hot', chain: 'evm', network: 'raw', address: k.publicKey });
  const raw = doc.wallets.filter((w) => w.network === 'raw').map((w) => w.id);
  doc.rules = [
    ...doc.rules.filter((r) => r.id !== 'dev-raw-digests'),
    { id: 'dev-raw-digests', rawDigest: true, when: { wallets: raw }, effect: { type: 'allow' } },
  ];
  doc.version += 1;
  return publishPolicy(spec, doc, urls);
}

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
  const makerToken = randomBytes(24).toString('hex');
  const policyAdminToken = randomBytes(24).toString('hex');
  const approverTokens = Object.fromEntries(DEV_APPROVERS.map((id) => [id, randomBytes(24).toString('hex')]));
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  // Dev governance: 2-of-3 policy admins and two approvers, seeds in files (0600) in the cluster dir.
  mkdirSync(join(dir, 'policy-keys'), { recursive: true, mode: 0o700 });
  const newKey = (id: string) => {
    const key = SigningKey.generate();
    writeFileSync(keyFile(dir, id), `${bytesToHex(key.exportSecretKey())}\n`, { mode: 0o600 });
    return { id, publicKey: key.publicKey, key };
  };
  const adminKeys = DEV_ADMINS.map(newKey);
  const approverKeys = DEV_APPROVERS.map(newKey);
  const timelockMs = opts.policyTimelockMs ?? 0;
  const governance = {
    admins: adminKeys.map(({ id, publicKey }) => ({ id, publicKey })),
    threshold: 2,
    timelockMs,
  };
  const approvers = approverKeys.map(({ id, publicKey }) => ({ id, publicKey }));
  const firstDocument = devPolicyDocument(approvers);
  const firstParsed = parsePolicy(firstDocument);
  const initialVersionFile = join(dir, 'policy-v1.json');
  writeFileSync(
    initialVersionFile,
    `${JSON.stringify(
      {
        document: firstDocument,
        signatures: adminKeys.slice(0, 2).map((a) => signPolicy(firstParsed, a.id, a.key)),
      },
      null,
      2,
    )}\n`,
    { mode: 0o600 },
  );
  const currentFile = join(dir, 'policy-current.json');
  writeFileSync(currentFile, `${JSON.stringify(firstDocument, null, 2)}\n`, { mode: 0o600 });
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
    writeFileSync(join(nodeDir, 'denylist.txt'), '# one address per line\n', { mode: 0o600 });
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
        { id: 'admin', scopes: ['admin', 'auditor'], operator: 'admin', sha256: sha(adminToken) },
        { id: 'auditor', scopes: ['auditor'], sha256: sha(auditorToken) },
        { id: 'otc', scopes: ['maker'], operator: 'otc-desk', sha256: sha(makerToken) },
        { id: 'policy-admin', scopes: ['policy-admin'], sha256: sha(policyAdminToken) },
        ...DEV_APPROVERS.map((id) => ({
          id,
          scopes: ['approver'],
          operator: id,
          sha256: sha(approverTokens[id]!),
        })),
      ],
      // Each node screens destinations against its own denylist file (one address per line).
      policy: { governance, initialVersionFile, denylistFile: join(nodeDir, 'denylist.txt') },
      ...(opts.chains ? { chains: opts.chains } : {}),
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
  const spec: ClusterSpec = {
    dir,
    nodes,
    adminToken,
    auditorToken,
    env,
    policy: {
      admins: governance.admins,
      threshold: governance.threshold,
      timelockMs,
      approvers,
      currentFile,
      makerToken,
      policyAdminToken,
      approverTokens,
    },
  };
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
    // COFFER_NODE_EXEC_ARGS: extra Node options for every node process (e.g. `--cpu-prof --cpu-prof-dir=DIR`
    // to profile the dev cluster; Node does not accept --cpu-prof in NODE_OPTIONS).
    const execArgs = (process.env.COFFER_NODE_EXEC_ARGS ?? '').split(' ').filter((a) => a !== '');
    const child = spawn(
      process.execPath,
      [...execArgs, '--import', TSX, MAIN, 'start', '--config', this.spec.config],
      {
        env: { ...process.env, ...this.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
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
