// `pnpm bench`: Coffer's benchmarks against the peer libraries, measured in the same run.
// Prints exactly one JSON document on stdout; progress goes to stderr. Settings (environment):
//   BENCH_ITERATIONS   timed runs per case (default 9)
//   BENCH_MAX_CASE_MS  time budget per case in ms (default 15000): no further run starts if it would
//                      end past the budget, so multi-second DKG cases report fewer iterations
//   BENCH_ONLY         "frost" or "ecdsa" to run one section
//   BENCH_OUT          also write the JSON document to this file (pnpm itself prints its script
//                      banner on stdout unless run as `pnpm -s bench`)
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { runEcdsa } from './ecdsa.ts';
import { runFrost } from './frost.ts';
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
  const only = process.env.BENCH_ONLY?.trim() || undefined;
  if (only !== undefined && only !== 'frost' && only !== 'ecdsa')
    throw new RangeError(`BENCH_ONLY must be "frost" or "ecdsa", got "${only}"`);
  const started = Date.now();
  const cpus = os.cpus();
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    command: 'pnpm bench (scripts/bench/index.ts)',
    iterations: settings.iterations,
    maxCaseMs: settings.maxCaseMs,
    sections: only ?? 'frost, ecdsa',
    versions: packageVersions(),
    units: 'Times in ms (medianMs, minMs, maxMs over `iterations` timed runs); sizes in bytes.',
    ratios:
      'Each ratio is coffer / peer of the named figures; `met` is value <= target (lower is better); an unmeasured side gives value null, met false and an error.',
    licence:
      '@silencelaboratories/dkls-wasm-ll-node is under a non-commercial licence and is used here for benchmarking only.',
  };
  log(`iterations ${settings.iterations}, case budget ${settings.maxCaseMs} ms, ${meta.cpu} × ${meta.cores}`);

  const frost = only === 'ecdsa' ? undefined : await runFrost(settings);
  const ecdsa = only === 'frost' ? undefined : await runEcdsa(settings);
  const ratios = { ...frost?.ratios, ...ecdsa?.ratios };
  const document = {
    meta: { ...meta, durationMs: Date.now() - started },
    frost: frost && { includes: frost.includes, schemes: frost.schemes, cmdcode: frost.cmdcode },
    ecdsa: ecdsa && { includes: ecdsa.includes, sizes: ecdsa.sizes },
    ratios,
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
  log(
    `done in ${((Date.now() - started) / 1000).toFixed(1)} s; ${met}/${Object.keys(ratios).length} ratio targets met`,
  );
}

main().catch((e: unknown) => {
  log(`failed: ${errorMessage(e)}`);
  process.exitCode = 1;
});
