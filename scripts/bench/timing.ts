// Measurement loop: one untimed warm-up run, then up to `iterations` timed runs, stopping early once
// a case has used its time budget (at least one timed run always happens). A run returns the
// duration of each of its phases in ms, so multi-phase protocols (presign / online) are timed once
// per run and summarised per phase. Anything thrown becomes `{ error }` instead of ending the bench.
import { performance } from 'node:perf_hooks';
import { errorMessage, type Failure, type Measured, summarize, type Timing } from './stats.ts';

export type BenchSettings = {
  /** Timed runs per case (BENCH_ITERATIONS). */
  iterations: number;
  /** Stop adding runs to a case after this many ms (BENCH_MAX_CASE_MS); reported iterations say how many ran. */
  maxCaseMs: number;
};

/** Phase durations of one run, in ms, plus any per-run facts (bytes, sizes) that do not vary. */
export type RunResult = { phases: Record<string, number>; facts?: Record<string, number> };

export type PhaseTimings = { phases: Record<string, Timing>; facts: Record<string, number> };

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export async function measurePhases(
  label: string,
  settings: BenchSettings,
  run: () => RunResult | Promise<RunResult>,
  opts: { warmup?: boolean } = {},
): Promise<Measured<PhaseTimings>> {
  try {
    // The warm-up compiles and JITs the code paths; multi-second cases (DKG) skip it.
    let facts: Record<string, number> = opts.warmup === false ? {} : ((await run()).facts ?? {});
    const samples: Record<string, number[]> = {};
    const started = performance.now();
    let count = 0;
    let last = 0;
    // Another run starts only if it is projected to end within the case's time budget.
    while (
      count < settings.iterations &&
      (count === 0 || performance.now() - started + last <= settings.maxCaseMs)
    ) {
      const t0 = performance.now();
      const result = await run();
      last = performance.now() - t0;
      for (const [name, ms] of Object.entries(result.phases)) {
        const series = samples[name] ?? [];
        series.push(ms);
        samples[name] = series;
      }
      facts = result.facts ?? facts;
      count++;
    }
    const phases: Record<string, Timing> = {};
    for (const [name, values] of Object.entries(samples))
      if (values.length > 0) phases[name] = summarize(values);
    const total = phases.total;
    log(
      `${label}: ${count} run(s)${total ? `, median ${total.medianMs} ms` : ''}${count < settings.iterations ? ' (time budget reached)' : ''}`,
    );
    return { phases, facts };
  } catch (e) {
    const failure: Failure = { error: errorMessage(e) };
    log(`${label}: not measured: ${failure.error}`);
    return failure;
  }
}

/** Times one synchronous or asynchronous call; returns its value and the elapsed ms. */
export async function timed<T>(fn: () => T | Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await fn();
  return [value, performance.now() - t0];
}

/** Picks one phase of a measured multi-phase result. */
export function phase(result: Measured<PhaseTimings>, name: string): Measured<Timing> {
  if ('error' in result) return result;
  return result.phases[name] ?? { error: `phase ${name} not reported` };
}

/** Picks one fact (bytes, sizes) of a measured result. */
export function fact(result: Measured<PhaseTimings>, name: string): number | Failure {
  if ('error' in result) return result;
  return result.facts[name] ?? { error: `${name} not reported` };
}
