// `pnpm bench`: Coffer's benchmarks against the peer libraries, measured in the same run.
// Prints exactly one JSON document on stdout; progress goes to stderr. Settings (environment):
//   BENCH_ITERATIONS   timed runs per case (default 9)
//   BENCH_MAX_CASE_MS  time budget per case in ms (default 15000): no further run starts if it would
//                      end past the budget, so multi-second DKG cases report fewer iterations
//   BENCH_ONLY         comma-separated sections to run: frost, ecdsa, policy, cluster, otc (default: all)
//   BENCH_CLUSTER_SIGNINGS / _SECONDS / _CONCURRENCY / _WARMUP / _POOL / _DURABILITY  cluster section (see bench/cluster.ts)
//   BENCH_POLICY_REQUESTS / BENCH_POLICY_SECONDS                policy section (see bench/policy.ts)
//   BENCH_OTC_QUOTE_SECONDS / _CONCURRENCY / _TRANSITIONS / _TRANSITION_BATCH / _ORDERS / _SIGNINGS /
//   _POOL / _DATABASES                                          otc section (see bench/otc.ts)
//   BENCH_OUT          also write the JSON document to this file (pnpm itself prints its script
//                      banner on stdout unless run as `pnpm -s bench`)
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { clusterSettings, runCluster } from './cluster.ts';
import { runEcdsa } from './ecdsa.ts';
import { runFrost } from './frost.ts';
import { otcSettings, runOtc } from './otc.ts';
import { policySettings, runPolicy } from './policy.ts';
import { errorMessage, positiveInt } from './stats.ts';
import { type BenchSettings, log } from './timing.ts';
import { packageVersions } from './versions.ts';

// The WASM peers log through console.*; keep stdout for the JSON document alone.
const out = process.stdout.write.bind(process.stdout);
for (const level of ['log', 'info', 'debug', 'warn'] as const) console[level] = console.error;

async function main(): Promise<void> {
  const settings: BenchSettings = {
    iterations: positiveInt(process.env.BENCH_ITERATIONS, 9, 'BENCH_ITERATIONS'),
    maxCaseMs: positiveInt(process.env.BENCH_MAX_CASE_MS, 15_000, 'BENCH_MAX_CASE_MS'),
  };
  const sections = parseSections(process.env.BENCH_ONLY);
  const cluster = sections.has('cluster') ? clusterSettings(process.env) : undefined;
  const policy = sections.has('policy') ? policySettings(process.env) : undefined;
  const otc = sections.has('otc') ? otcSettings(process.env) : undefined;
  const started = Date.now();
  const cpus = os.cpus();
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    // The machine may be shared: load averages (1, 5, 15 min) at the start and end say how busy it was.
    loadAverageStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    command: 'pnpm bench (scripts/bench/index.ts)',
    iterations: settings.iterations,
    maxCaseMs: settings.maxCaseMs,
    sections: [...sections].join(', '),
    versions: packageVersions(),
    units:
      'Times in ms (medianMs, minMs, maxMs over `iterations` timed runs; policy, cluster and otc: count, p50Ms, p99Ms (nearest-rank percentiles), meanMs, minMs, maxMs); sizes in bytes; rates per second.',
    ratios:
      'Each ratio is coffer / peer of the named figures; `met` is value <= target (lower is better); an unmeasured side gives value null, met false and an error.',
    targets:
      'Each entry of `targets` compares one measured figure (policy, cluster, otc) with the bound an issue sets (`comparison` <= or >=); `met` is false when the figure is missing or skipped, or when a condition of the target (run length, number of signings) was not met in this run (`note` says which).',
    licence:
      '@silencelaboratories/dkls-wasm-ll-node is under a non-commercial licence and is used here for benchmarking only.',
  };
  log(`iterations ${settings.iterations}, case budget ${settings.maxCaseMs} ms, ${meta.cpu} × ${meta.cores}`);

  const frost = sections.has('frost') ? await runFrost(settings) : undefined;
  const ecdsa = sections.has('ecdsa') ? await runEcdsa(settings) : undefined;
  const policySection = policy ? await section('policy', async () => runPolicy(policy)) : undefined;
  const clusterSection = cluster ? await section('cluster', () => runCluster(cluster)) : undefined;
  const otcSection = otc ? await section('otc', () => runOtc(otc)) : undefined;
  const ratios = { ...frost?.ratios, ...ecdsa?.ratios };
  const targets = {
    ...(policySection && 'targets' in policySection ? policySection.targets : {}),
    ...(clusterSection && 'targets' in clusterSection ? clusterSection.targets : {}),
    ...(otcSection && 'targets' in otcSection ? otcSection.targets : {}),
  };
  const document = {
    meta: {
      ...meta,
      loadAverageEnd: os.loadavg().map((l) => Math.round(l * 100) / 100),
      durationMs: Date.now() - started,
    },
    frost: frost && { includes: frost.includes, schemes: frost.schemes, cmdcode: frost.cmdcode },
    ecdsa: ecdsa && { includes: ecdsa.includes, sizes: ecdsa.sizes },
    policy: policySection,
    cluster: clusterSection,
    otc: otcSection,
    ratios,
    targets,
  };
  const text = `${JSON.stringify(document, null, 2)}\n`;
  out(text);
  const target = process.env.BENCH_OUT?.trim();
  if (target) {
    // pnpm runs the script in scripts/; a relative path is taken from where `pnpm bench` was typed.
    const file = resolve(process.env.INIT_CWD ?? process.cwd(), target);
    writeFileSync(file, text);
    log(`written to ${file}`);
  }
  const met = Object.values(ratios).filter((r) => r.met).length;
  const targetsMet = Object.values(targets).filter((r) => r.met).length;
  log(
    `done in ${((Date.now() - started) / 1000).toFixed(1)} s; ${met}/${Object.keys(ratios).length} ratio targets met; ${targetsMet}/${Object.keys(targets).length} absolute targets met`,
  );
}

const SECTIONS = ['frost', 'ecdsa', 'policy', 'cluster', 'otc'] as const;
type Section = (typeof SECTIONS)[number];

function parseSections(raw: string | undefined): Set<Section> {
  if (raw === undefined || raw.trim() === '') return new Set(SECTIONS);
  const out = new Set<Section>();
  for (const part of raw.split(',').map((p) => p.trim())) {
    if (!(SECTIONS as readonly string[]).includes(part))
      throw new RangeError(`BENCH_ONLY: unknown section "${part}" (known: ${SECTIONS.join(', ')})`);
    out.add(part as Section);
  }
  return out;
}

/** Runs a whole section; anything it throws becomes `{ error }` for that section, not a crashed bench. */
async function section<T>(name: string, run: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await run();
  } catch (e) {
    log(`${name}: not measured: ${errorMessage(e)}`);
    return { error: errorMessage(e) };
  }
}

main().catch((e: unknown) => {
  log(`failed: ${errorMessage(e)}`);
  process.exitCode = 1;
});
