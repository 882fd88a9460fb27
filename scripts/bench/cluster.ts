// Signer-node cluster benchmark (issue 5): three signer-node processes on 127.0.0.1 (initCluster /
// NodeProcess, the same harness the process-level tests use), one 2-of-3 key per scheme, then for each
// scheme: end-to-end signing latency (HTTP request to signature, one request in flight) and sustained
// throughput (a fixed number of requests in flight for a fixed time, spread over the three nodes).
// Every returned signature is checked with noble after the timed request; a wrong or missing
// signature counts as a failure, never as a measurement.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { allowRawDigests, type ClusterSpec, initCluster, NodeProcess } from '@coffer/signer-node/dev-cluster';
import { ed25519 } from '@noble/curves/ed25519.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes, randomBytes } from '@noble/hashes/utils.js';
import {
  type LatencySummary,
  latencySummary,
  positiveSeconds,
  ratePerSecond,
  type TargetRecord,
  targetRecord,
} from './latency.ts';
import { errorMessage, positiveInt } from './stats.ts';
import { log } from './timing.ts';

export const CLUSTER_SCHEMES = ['ecdsa-secp256k1', 'schnorr-secp256k1-tr', 'eddsa-ed25519'] as const;
type Scheme = (typeof CLUSTER_SCHEMES)[number];

export type ClusterSettings = {
  /** Sequential signings per scheme for the latency figures and the failure count (BENCH_CLUSTER_SIGNINGS). */
  signings: number;
  /** Length of each sustained-throughput run in seconds (BENCH_CLUSTER_SECONDS). */
  seconds: number;
  /** Requests in flight during the throughput run (BENCH_CLUSTER_CONCURRENCY). */
  concurrency: number;
  /** Untimed signings per scheme before the latency run (BENCH_CLUSTER_WARMUP). */
  warmup: number;
  /** Schemes to measure (BENCH_CLUSTER_SCHEMES, comma-separated; default all three). */
  schemes: Scheme[];
  /**
   * Presignatures each node keeps ready for the ECDSA key in the presigned case (BENCH_CLUSTER_POOL);
   * 0 leaves the presigned case out (it is reported as skipped).
   */
  pool: number;
  /** The nodes' `durability` setting (BENCH_CLUSTER_DURABILITY: critical, the default, or full). */
  durability: 'critical' | 'full';
};

export function clusterSettings(env: NodeJS.ProcessEnv): ClusterSettings {
  return {
    signings: positiveInt(env.BENCH_CLUSTER_SIGNINGS, 1000, 'BENCH_CLUSTER_SIGNINGS'),
    seconds: positiveSeconds(env.BENCH_CLUSTER_SECONDS, 60, 'BENCH_CLUSTER_SECONDS'),
    concurrency: positiveInt(env.BENCH_CLUSTER_CONCURRENCY, 4, 'BENCH_CLUSTER_CONCURRENCY'),
    warmup: positiveInt(env.BENCH_CLUSTER_WARMUP, 10, 'BENCH_CLUSTER_WARMUP'),
    schemes: schemeList(env.BENCH_CLUSTER_SCHEMES),
    pool:
      env.BENCH_CLUSTER_POOL?.trim() === '0'
        ? 0
        : positiveInt(env.BENCH_CLUSTER_POOL, 4, 'BENCH_CLUSTER_POOL'),
    durability: durabilityOf(env.BENCH_CLUSTER_DURABILITY),
  };
}

function durabilityOf(raw: string | undefined): 'critical' | 'full' {
  const v = raw?.trim() ?? '';
  if (v === '' || v === 'critical') return 'critical';
  if (v === 'full') return 'full';
  throw new RangeError(`BENCH_CLUSTER_DURABILITY: "${v}" is neither critical nor full`);
}

function schemeList(raw: string | undefined): Scheme[] {
  if (raw === undefined || raw.trim() === '') return [...CLUSTER_SCHEMES];
  const out: Scheme[] = [];
  for (const part of raw.split(',').map((p) => p.trim())) {
    if (!(CLUSTER_SCHEMES as readonly string[]).includes(part))
      throw new RangeError(
        `BENCH_CLUSTER_SCHEMES: unknown scheme "${part}" (known: ${CLUSTER_SCHEMES.join(', ')})`,
      );
    if (!out.includes(part as Scheme)) out.push(part as Scheme);
  }
  return out;
}

const DURABILITY = {
  critical:
    'durability "critical" (the default): every commit is in the SQLite WAL before the node goes on (survives kill -9); shares, bans, locks, policy versions, approvals and vetoes are fsynced; the signing path is not (signer-node README, Durability)',
  full: 'durability "full": every commit fsynced (PRAGMA synchronous=FULL)',
} as const;

/** Issue 5 targets. */
export const CLUSTER_TARGETS = {
  ecdsaP50NoPresignMs: 50,
  ecdsaP50PresignMs: 10,
  signaturesPerSecond: 30,
  sustainedSeconds: 60,
  failureFreeSignings: 1000,
} as const;

export const CLUSTER_BACKEND =
  'software KEK on every node (libsodium argon2id passphrase, opsLimit 1, memLimit 8 MiB: the dev-cluster setting of initCluster); no SoftHSM2';

export const CLUSTER_INCLUDES = {
  topology:
    'Three signer-node processes (signer-node/src/main.ts start, one SQLite file and one software KEK each, log level warn) on 127.0.0.1, started by initCluster / NodeProcess from signer-node/src/dev/cluster.ts; peers pinned by identity key; every peer message signed and point-to-point payloads encrypted as in production. The bench process (the HTTP client) runs on the same machine and shares its cores with the three nodes.',
  keys: 'One 2-of-3 key per scheme, generated by all three nodes through POST /v1/keys (keygenMs, for information).',
  latency:
    'Latency: `signings` POST /v1/sign requests one after another (one in flight), sent in turn to node-a, node-b, node-c (each coordinates with the first reachable peer), each with a fresh random 32-byte digest; time from sending the request to having the response body with the signature (Node fetch, keep-alive). The API call returns after the signing session finished, the signature was verified by the node and the request was stored and audited. Preceded by `warmup` untimed signings.',
  cpuMsPerSigning:
    'cpuMsPerSigning: CPU time (user + system) each node process spent during the latency run, divided by its signings (process_cpu_seconds_total on /metrics before and after), and their total: what a signature costs the cluster, background presigning included in the presigned case; the bench client is not counted. envelopesPerSigning: peer envelopes the three nodes sent during the same run (coffer_peer_envelopes_sent_total), per signing.',
  sessionLatency:
    "sessionLatency: for the same latency run, each coordinator's signing session from creation to done as the node records it (GET /v1/sessions, createdAt → updatedAt, ms resolution): the threshold protocol's share of the end-to-end time; the rest is the HTTP API, the request bookkeeping and the policy gate.",
  throughput:
    'Throughput: `concurrency` clients each send one request at a time, in turn to the three nodes, for `seconds` seconds; signaturesPerSecond = successful signatures / time from the first request to the last response (requests already in flight at the end are waited for and counted). latency under load is the per-request time in that run.',
  presignatures:
    'ecdsa-secp256k1+presignatures: after the other schemes, every node is restarted with `presign: { poolSize: pool, paths: ["m"] }` in its configuration and waits until it holds a ready presignature. Latency: each timed request is sent once its coordinator reports a presignature ready and no node is refilling its pool (coffer_presignatures_ready, coffer_presignature_refill_running on /metrics; the wait is not timed), so it measures a signing with a presignature available (one online round) without a background presigning run on the same cores. Throughput: no waiting; the pool and its background refill (one presigning run at a time per node) against sustained load, falling back to the three-round signing when the pool is empty. presignedSigningsIn… = presignatures consumed (coffer_presignatures_total{event="consumed"}, summed over the nodes) / 2 members. If the node refuses the configuration the case is `skipped`.',
  verification:
    'Every signature is verified after its request with noble (secp256k1.verify with low-s and public-key recovery from the recovery byte; schnorr.verify; ed25519.verify), outside the timed region. failures = requests that returned an error or a signature that does not verify, in both runs.',
};

type SignOutcome = { ok: true; signature: string } | { ok: false; error: string };

type Node = { id: string; url: string };

type CaseResult = {
  latency?: LatencySummary;
  throughput?: {
    seconds: number;
    concurrency: number;
    completed: number;
    signaturesPerSecond: number;
    latency?: LatencySummary;
  };
  /** Coordinators' signing sessions of the latency run, creation to done (GET /v1/sessions). */
  sessionLatency?: LatencySummary;
  /** CPU time per signing of the latency run, per node process and in total (process_cpu_seconds_total). */
  cpuMsPerSigning?: Record<string, number>;
  /** Peer envelopes all nodes sent during the latency run, per signing (coffer_peer_envelopes_sent_total). */
  envelopesPerSigning?: number;
  signings: number;
  failures: number;
  presignatures?: {
    poolSize: number;
    paths: string[];
    presignedSigningsInLatencyRun: number;
    presignedSigningsInThroughputRun: number;
  };
  errors?: string[];
};

export type ClusterSection = {
  includes: typeof CLUSTER_INCLUDES;
  setup: Record<string, unknown>;
  keygenMs: Partial<Record<Scheme, number>>;
  cases: Record<string, CaseResult | { skipped: string } | { error: string }>;
  targets: Record<string, TargetRecord>;
};

/** Reported instead of the presigned case when the node does not accept a presign configuration. */
export const PRESIGN_UNSUPPORTED =
  'the signer node does not accept a presign configuration (no presignature pool)';

async function call(
  node: Node,
  token: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  timeoutMs = 120_000,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    signal: AbortSignal.timeout(timeoutMs),
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON; reported below by status
  }
  if (!res.ok) {
    const code = typeof parsed.code === 'string' ? parsed.code : `http-${res.status}`;
    const message = typeof parsed.message === 'string' ? parsed.message : text.slice(0, 200);
    throw new Error(`${method} ${path} on ${node.id}: ${res.status} ${code}: ${message}`);
  }
  return parsed;
}

/** Checks a signature with noble alone (independent of Coffer's code). */
export function verifySignature(
  scheme: Scheme,
  publicKeyHex: string,
  message: Uint8Array,
  signatureHex: string,
): boolean {
  try {
    const pub = hexToBytes(publicKeyHex);
    const sig = hexToBytes(signatureHex);
    if (scheme === 'schnorr-secp256k1-tr') return schnorr.verify(sig, message, pub);
    if (scheme === 'eddsa-ed25519') return ed25519.verify(sig, message, pub);
    if (sig.length !== 65) return false;
    const compact = sig.subarray(0, 64);
    if (!secp256k1.verify(compact, message, pub, { prehash: false, lowS: true })) return false;
    const recovered = secp256k1.Signature.fromBytes(compact, 'compact')
      .addRecoveryBit(sig[64]!)
      .recoverPublicKey(message)
      .toBytes(true);
    return bytesToHex(recovered) === bytesToHex(pub);
  } catch {
    return false;
  }
}

type Wallet = { id: string; scheme: Scheme; publicKey: string };

/**
 * The body of POST /v1/sign: a raw-digest request for the threshold key `keyId`, whose policy wallet
 * is the key id itself (the dev cluster's `allowRawDigests` names it so in the policy).
 */
const rawDigestBody = (wallet: Wallet, digest: Uint8Array) => ({
  keyId: wallet.id,
  digest: bytesToHex(digest),
});

/** One signing through the API: POST /v1/sign for a raw digest, answered once signed (or refused). */
async function signOnce(node: Node, token: string, wallet: Wallet, digest: Uint8Array): Promise<SignOutcome> {
  try {
    const r = await call(node, token, 'POST', '/v1/sign', rawDigestBody(wallet, digest));
    if (typeof r.signature !== 'string' || r.status !== 'signed')
      return { ok: false, error: `request ${String(r.id)} ended ${String(r.status)}: ${String(r.error)}` };
    return { ok: true, signature: r.signature };
  } catch (e) {
    return { ok: false, error: errorMessage(e) };
  }
}

class Tally {
  signings = 0;
  failures = 0;
  private readonly errors = new Map<string, number>();

  record(outcome: SignOutcome, wallet: Wallet, digest: Uint8Array): boolean {
    this.signings++;
    const error = outcome.ok
      ? verifySignature(wallet.scheme, wallet.publicKey, digest, outcome.signature)
        ? undefined
        : 'signature does not verify under the wallet key (noble)'
      : outcome.error;
    if (error === undefined) return true;
    this.failures++;
    // Distinct messages only, bounded: a systematic failure must not flood the JSON.
    if (this.errors.size < 5 || this.errors.has(error))
      this.errors.set(error, (this.errors.get(error) ?? 0) + 1);
    return false;
  }

  report(): string[] | undefined {
    if (this.errors.size === 0) return undefined;
    return [...this.errors].map(([m, n]) => `${n}× ${m}`);
  }
}

async function latencyRun(
  nodes: Node[],
  token: string,
  wallet: Wallet,
  count: number,
  tally: Tally | undefined,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const digest = randomBytes(32);
    const node = nodes[i % nodes.length]!;
    const t0 = performance.now();
    const outcome = await signOnce(node, token, wallet, digest);
    const ms = performance.now() - t0;
    if (tally === undefined) continue;
    if (tally.record(outcome, wallet, digest)) samples.push(ms);
  }
  return samples;
}

async function throughputRun(
  nodes: Node[],
  token: string,
  wallet: Wallet,
  settings: ClusterSettings,
  tally: Tally,
): Promise<NonNullable<CaseResult['throughput']>> {
  const done: Array<{ ms: number; digest: Uint8Array; outcome: SignOutcome }> = [];
  const started = performance.now();
  const stopAt = started + settings.seconds * 1000;
  let next = 0;
  const worker = async () => {
    while (performance.now() < stopAt) {
      const node = nodes[next++ % nodes.length]!;
      const digest = randomBytes(32);
      const t0 = performance.now();
      const outcome = await signOnce(node, token, wallet, digest);
      done.push({ ms: performance.now() - t0, digest, outcome });
    }
  };
  await Promise.all(Array.from({ length: settings.concurrency }, worker));
  const elapsedMs = performance.now() - started;
  // Verification after the run, so the bench process does not take CPU from the nodes while timed.
  const samples: number[] = [];
  let completed = 0;
  for (const d of done) {
    if (tally.record(d.outcome, wallet, d.digest)) {
      completed++;
      samples.push(d.ms);
    }
  }
  return {
    seconds: Math.round(elapsedMs) / 1000,
    concurrency: settings.concurrency,
    completed,
    signaturesPerSecond: ratePerSecond(completed, elapsedMs),
    ...(samples.length > 0 ? { latency: latencySummary(samples) } : {}),
  };
}

/**
 * Durations of the signing sessions each node coordinated for `wallet` since `sinceMs`, from the
 * nodes' own records (GET /v1/sessions: createdAt → updatedAt of sessions that are done, ms
 * resolution): the protocol's share of the end-to-end latency.
 */
async function sessionDurations(
  nodes: Node[],
  token: string,
  wallet: Wallet,
  sinceMs: number,
): Promise<number[]> {
  const out: number[] = [];
  for (const node of nodes) {
    const body = await call(node, token, 'GET', '/v1/sessions?limit=1000&status=done');
    const sessions = Array.isArray(body.sessions) ? (body.sessions as Record<string, unknown>[]) : [];
    for (const s of sessions) {
      if (s.kind !== 'sign' || s.coordinator !== node.id || s.walletId !== wallet.id) continue;
      const created = Date.parse(String(s.createdAt));
      const updated = Date.parse(String(s.updatedAt));
      if (Number.isFinite(created) && Number.isFinite(updated) && created >= sinceMs)
        out.push(updated - created);
    }
  }
  return out;
}

async function sessionLatency(
  nodes: Node[],
  token: string,
  wallet: Wallet,
  sinceMs: number,
): Promise<{ sessionLatency?: LatencySummary }> {
  try {
    const d = await sessionDurations(nodes, token, wallet, sinceMs);
    return d.length > 0 ? { sessionLatency: latencySummary(d) } : {};
  } catch (e) {
    log(`cluster ${wallet.scheme}: session durations not read: ${errorMessage(e)}`);
    return {};
  }
}

async function benchScheme(
  nodes: Node[],
  token: string,
  wallet: Wallet,
  settings: ClusterSettings,
): Promise<CaseResult> {
  await latencyRun(nodes, token, wallet, settings.warmup, undefined);
  const tally = new Tally();
  const since = Date.now();
  const countersBefore = await counters(nodes);
  const samples = await latencyRun(nodes, token, wallet, settings.signings, tally);
  const costs = perSigning(nodes, countersBefore, await counters(nodes), settings.signings);
  const latency = samples.length > 0 ? latencySummary(samples) : undefined;
  const sessions = await sessionLatency(nodes, token, wallet, since);
  log(
    `cluster ${wallet.scheme}: ${samples.length}/${settings.signings} sequential signings, p50 ${latency?.p50Ms} ms, p99 ${latency?.p99Ms} ms`,
  );
  const throughput = await throughputRun(nodes, token, wallet, settings, tally);
  log(
    `cluster ${wallet.scheme}: ${throughput.signaturesPerSecond} signatures/s over ${throughput.seconds} s with ${settings.concurrency} in flight`,
  );
  const errors = tally.report();
  return {
    ...(latency ? { latency } : {}),
    ...sessions,
    ...costs,
    throughput,
    signings: tally.signings,
    failures: tally.failures,
    ...(errors ? { errors } : {}),
  };
}

function measured(c: ClusterSection['cases'][string] | undefined): CaseResult | undefined {
  return c !== undefined && 'signings' in c ? c : undefined;
}

export function clusterTargets(
  cases: ClusterSection['cases'],
  settings: ClusterSettings,
): Record<string, TargetRecord> {
  const t = CLUSTER_TARGETS;
  const plain = measured(cases['ecdsa-secp256k1']);
  const presign = cases['ecdsa-secp256k1+presignatures'];
  const presignMeasured = measured(presign);
  const why = (c: ClusterSection['cases'][string] | undefined) =>
    c === undefined
      ? 'not run'
      : 'skipped' in c
        ? `skipped: ${c.skipped}`
        : 'error' in c
          ? c.error
          : undefined;
  const sustained = (tp: CaseResult['throughput']) => ({
    holds: (tp?.seconds ?? 0) >= t.sustainedSeconds,
    otherwise: `ran ${tp?.seconds ?? 0} s; the target asks for ${t.sustainedSeconds} s sustained (BENCH_CLUSTER_SECONDS)`,
  });
  const out: Record<string, TargetRecord> = {
    ecdsaP50WithoutPresignatures: targetRecord({
      what: 'ecdsa-secp256k1 end-to-end signing latency p50 without presignatures (cases["ecdsa-secp256k1"].latency.p50Ms)',
      value: plain?.latency?.p50Ms,
      target: t.ecdsaP50NoPresignMs,
      comparison: '<=',
      unit: 'ms',
      missing: why(cases['ecdsa-secp256k1']) ?? 'not measured',
    }),
    ecdsaP50WithPresignatures: targetRecord({
      what: 'ecdsa-secp256k1 end-to-end signing latency p50 with a presignature available (cases["ecdsa-secp256k1+presignatures"].latency.p50Ms)',
      value: presignMeasured?.latency?.p50Ms,
      target: t.ecdsaP50PresignMs,
      comparison: '<=',
      unit: 'ms',
      missing: why(presign) ?? 'not measured',
    }),
    ecdsaThroughput: targetRecord({
      what: `ecdsa-secp256k1 signatures per second sustained for ${t.sustainedSeconds} s (cases["ecdsa-secp256k1"].throughput)`,
      value: plain?.throughput?.signaturesPerSecond,
      target: t.signaturesPerSecond,
      comparison: '>=',
      unit: 'signatures/s',
      requires: [sustained(plain?.throughput)],
      missing: why(cases['ecdsa-secp256k1']) ?? 'not measured',
    }),
  };
  for (const scheme of Object.keys(cases)) {
    const c = measured(cases[scheme]);
    if (c === undefined) continue;
    out[`zeroFailures ${scheme}`] = targetRecord({
      what: `failed signings of ${scheme} (latency and throughput runs together); the target is zero across ${t.failureFreeSignings} signings`,
      value: c.failures,
      target: 0,
      comparison: '<=',
      unit: 'failures',
      requires: [
        {
          holds: c.signings >= t.failureFreeSignings,
          otherwise: `only ${c.signings} signings (BENCH_CLUSTER_SIGNINGS=${settings.signings}); the target counts ${t.failureFreeSignings}`,
        },
      ],
    });
  }
  return out;
}

/** Sets (or removes) one top-level section of the node's configuration file; read at the next start. */
function setConfig(p: NodeProcess, section: 'presign' | 'durability', value: unknown): void {
  const cfg = JSON.parse(readFileSync(p.spec.config, 'utf8')) as Record<string, unknown>;
  if (value !== undefined) cfg[section] = value;
  else delete cfg[section];
  writeFileSync(p.spec.config, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
}

type Counters = { cpuSeconds: number[]; envelopesSent: number[] };

/** Each node's process_cpu_seconds_total and coffer_peer_envelopes_sent_total. */
async function counters(nodes: Node[]): Promise<Counters> {
  const [cpuSeconds, envelopesSent] = await Promise.all([
    Promise.all(nodes.map((n) => metric(n, 'process_cpu_seconds_total'))),
    Promise.all(nodes.map((n) => metric(n, 'coffer_peer_envelopes_sent_total'))),
  ]);
  return { cpuSeconds, envelopesSent };
}

/** CPU ms per signing of each node and in total; peer envelopes sent per signing by all nodes. */
function perSigning(
  nodes: Node[],
  before: Counters,
  after: Counters,
  signings: number,
): { cpuMsPerSigning: Record<string, number>; envelopesPerSigning: number } {
  const cpuMsPerSigning: Record<string, number> = {};
  let total = 0;
  let envelopes = 0;
  nodes.forEach((n, i) => {
    const ms = ((after.cpuSeconds[i]! - before.cpuSeconds[i]!) * 1000) / signings;
    cpuMsPerSigning[n.id] = Math.round(ms * 10) / 10;
    total += ms;
    envelopes += after.envelopesSent[i]! - before.envelopesSent[i]!;
  });
  cpuMsPerSigning.total = Math.round(total * 10) / 10;
  return { cpuMsPerSigning, envelopesPerSigning: Math.round((envelopes / signings) * 10) / 10 };
}

/** One Prometheus sample from a node's /metrics (0 when absent). */

async function metric(node: Node, line: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const m = text.split('\n').find((l) => l.startsWith(`${line} `));
  return m ? Number(m.slice(line.length + 1)) : 0;
}

const READY = 'coffer_presignatures_ready';
const CONSUMED = 'coffer_presignatures_total{event="consumed"}';

async function waitForPresignature(node: Node, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await metric(node, READY)) < 1) {
    if (Date.now() > deadline) throw new Error(`${node.id}: no presignature ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const REFILLING = 'coffer_presignature_refill_running';

/**
 * Waits until `coordinator` holds a ready presignature and no node is refilling its pool, so the
 * timed signing does not share the cores with a background presigning run (the refill that taking a
 * presignature starts, on the coordinator and a peer).
 */
async function waitForQuietPool(nodes: Node[], coordinator: Node, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const refilling = await Promise.all(nodes.map((n) => metric(n, REFILLING)));
    if (refilling.every((r) => r === 0) && (await metric(coordinator, READY)) >= 1) return;
    if (Date.now() > deadline)
      throw new Error(`${coordinator.id}: pool not ready and quiet within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function consumed(nodes: Node[]): Promise<number> {
  let sum = 0;
  for (const n of nodes) sum += await metric(n, CONSUMED);
  return sum;
}

/**
 * The presigned ECDSA case: every node restarted with a presignature pool for path m; each timed
 * request is sent once its coordinator has a presignature ready and no pool refill is running (the
 * wait is not timed), so the latency is that of a signing with a presignature available. The throughput run does not wait: it
 * shows what the pool and its background refill sustain. Presignatures consumed are read from the
 * nodes' metrics (each presigned signing consumes one at each of its two members).
 */
async function benchPresigned(
  processes: NodeProcess[],
  nodes: Node[],
  token: string,
  wallet: Wallet,
  settings: ClusterSettings,
): Promise<CaseResult | { skipped: string }> {
  const presign = { poolSize: settings.pool, paths: ['m'] };
  await Promise.all(processes.map((p) => p.stop()));
  for (const p of processes) setConfig(p, 'presign', presign);
  try {
    await Promise.all(processes.map((p) => p.start()));
  } catch (e) {
    await Promise.all(processes.map((p) => p.stop()));
    for (const p of processes) setConfig(p, 'presign', undefined);
    await Promise.all(processes.map((p) => p.start()));
    return { skipped: `${PRESIGN_UNSUPPORTED}: ${errorMessage(e)}` };
  }
  for (const n of nodes) await waitForPresignature(n, 300_000);
  const signOne = async (i: number, tally: Tally | undefined, samples: number[]) => {
    const node = nodes[i % nodes.length]!;
    await waitForQuietPool(nodes, node, 300_000);
    const digest = randomBytes(32);
    const t0 = performance.now();
    const outcome = await signOnce(node, token, wallet, digest);
    const ms = performance.now() - t0;
    if (tally?.record(outcome, wallet, digest)) samples.push(ms);
  };
  for (let i = 0; i < settings.warmup; i++) await signOne(i, undefined, []);
  const tally = new Tally();
  const samples: number[] = [];
  const before = await consumed(nodes);
  const since = Date.now();
  const countersBefore = await counters(nodes);
  for (let i = 0; i < settings.signings; i++) await signOne(i, tally, samples);
  const costs = perSigning(nodes, countersBefore, await counters(nodes), settings.signings);
  const presignedInLatencyRun = (await consumed(nodes)) - before;
  const latency = samples.length > 0 ? latencySummary(samples) : undefined;
  const sessions = await sessionLatency(nodes, token, wallet, since);
  log(
    `cluster ecdsa-secp256k1 presigned: ${samples.length}/${settings.signings} sequential signings, p50 ${latency?.p50Ms} ms, p99 ${latency?.p99Ms} ms`,
  );
  const beforeThroughput = await consumed(nodes);
  const throughput = await throughputRun(nodes, token, wallet, settings, tally);
  const presignedInThroughputRun = (await consumed(nodes)) - beforeThroughput;
  log(
    `cluster ecdsa-secp256k1 presigned: ${throughput.signaturesPerSecond} signatures/s over ${throughput.seconds} s with ${settings.concurrency} in flight`,
  );
  const errors = tally.report();
  return {
    ...(latency ? { latency } : {}),
    ...sessions,
    ...costs,
    throughput,
    signings: tally.signings,
    failures: tally.failures,
    presignatures: {
      poolSize: settings.pool,
      paths: presign.paths,
      // Two members consume one presignature each per presigned signing (2-of-3).
      presignedSigningsInLatencyRun: presignedInLatencyRun / 2,
      presignedSigningsInThroughputRun: presignedInThroughputRun / 2,
    },
    ...(errors ? { errors } : {}),
  };
}

async function keygen(node: Node, token: string, scheme: Scheme): Promise<[Wallet, number]> {
  const t0 = performance.now();
  const w = await call(
    node,
    token,
    'POST',
    '/v1/keys',
    {
      scheme,
      threshold: 2,
      parties: 3,
      label: `bench ${scheme}`,
    },
    600_000,
  );
  const ms = Math.round(performance.now() - t0);
  if (typeof w.id !== 'string' || typeof w.publicKey !== 'string')
    throw new Error(`POST /v1/keys (${scheme}) answered without id / publicKey`);
  return [{ id: w.id, scheme, publicKey: w.publicKey }, ms];
}

export async function runCluster(settings: ClusterSettings): Promise<ClusterSection> {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-bench-cluster-'));
  let processes: NodeProcess[] = [];
  const killAll = () => {
    for (const p of processes) p.child?.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const setup: Record<string, unknown> = {
    nodes: 3,
    threshold: '2-of-3',
    transport: 'HTTP on 127.0.0.1',
    backend: CLUSTER_BACKEND,
    durability: DURABILITY[settings.durability],
    settings,
  };
  const cases: ClusterSection['cases'] = {};
  const keygenMs: ClusterSection['keygenMs'] = {};
  try {
    log(`cluster: initialising three signer nodes under ${dir}`);
    const spec: ClusterSpec = await initCluster({
      dir,
      backends: ['software', 'software', 'software'],
      logLevel: 'warn',
    });
    processes = spec.nodes.map((n) => new NodeProcess(n, spec.env));
    for (const p of processes) setConfig(p, 'durability', settings.durability);
    await Promise.all(processes.map((p) => p.start()));
    const nodes: Node[] = processes.map((p) => ({ id: p.spec.id, url: p.url }));
    setup.nodeIds = nodes.map((n) => n.id);
    setup.policy =
      'policy gate on: every node evaluates each raw-digest request under a dev policy version (allowRawDigests from signer-node/src/dev/cluster.ts, published right after each key generation) whose rule `rawDigest: true` names the key; requests come from the admin API key (operator admin)';
    const token = spec.adminToken;
    let ecdsaWallet: Wallet | undefined;
    for (const scheme of settings.schemes) {
      let wallet: Wallet;
      try {
        const [w, ms] = await keygen(nodes[0]!, token, scheme);
        wallet = w;
        keygenMs[scheme] = ms;
        // The policy gate signs raw digests only under a rule with `rawDigest: true` for the wallet:
        // publish such a version (signed by the dev policy admins) for the new key.
        await allowRawDigests(spec, [{ id: w.id, publicKey: w.publicKey }]);
        log(`cluster ${scheme}: 2-of-3 key generated in ${ms} ms`);
      } catch (e) {
        cases[scheme] = { error: `key generation: ${errorMessage(e)}` };
        log(`cluster ${scheme}: not measured: ${errorMessage(e)}`);
        continue;
      }
      try {
        cases[scheme] = await benchScheme(nodes, token, wallet, settings);
      } catch (e) {
        cases[scheme] = { error: errorMessage(e) };
        log(`cluster ${scheme}: not measured: ${errorMessage(e)}`);
      }
      if (scheme === 'ecdsa-secp256k1') ecdsaWallet = wallet;
    }
    // Last, because it restarts the nodes with a pool whose background refill would load the others.
    if (ecdsaWallet && settings.pool === 0) {
      cases['ecdsa-secp256k1+presignatures'] = {
        skipped: 'BENCH_CLUSTER_POOL=0 leaves the presigned case out',
      };
    } else if (ecdsaWallet) {
      const w = ecdsaWallet;
      cases['ecdsa-secp256k1+presignatures'] = await benchPresigned(
        processes,
        nodes,
        token,
        w,
        settings,
      ).catch((e: unknown) => {
        log(`cluster ecdsa-secp256k1 presigned: not measured: ${errorMessage(e)}`);
        return { error: errorMessage(e) };
      });
      const presigned = cases['ecdsa-secp256k1+presignatures'];
      if (presigned && 'skipped' in presigned)
        log(`cluster ecdsa-secp256k1 presigned: skipped: ${presigned.skipped}`);
    }
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    process.removeListener('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
  }
  return { includes: CLUSTER_INCLUDES, setup, keygenMs, cases, targets: clusterTargets(cases, settings) };
}
