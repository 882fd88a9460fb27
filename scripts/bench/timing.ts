// Measurement loop. Cases that are compared with each other are measured as one group and
// interleaved: each round runs every case once (the order rotates each round), so a machine that
// slows down for a while (other processes, thermal limits) slows every side of a ratio alike.
// Signing groups get one untimed warm-up round (JIT, WASM compilation); multi-second DKG groups get
// none. A group stops after `iterations` rounds, or earlier once another round is projected to end
// past its time budget (maxCaseMs per case in the group); at least one round always runs. A run
// returns the duration of each of its phases in ms, so multi-phase protocols (presign / online) are
// timed once per run and summarised per phase. Anything thrown becomes `{ error }` for that case
// (the other cases of the group go on) instead of ending the bench. No garbage collection is forced
// between runs: a forced full collection (gc()) also throws away V8's warm state and slowed Coffer's
// JavaScript signing about 3× while leaving the WASM peers unchanged.
import { performance } from 'node:perf_hooks';
import { errorMessage, type Failure, type Measured, summarize, type Timing } from './stats.ts';

export type BenchSettings = {
  /** Timed runs per case (BENCH_ITERATIONS). */
  iterations: number;
  /** Time budget per case in ms (BENCH_MAX_CASE_MS); reported iterations say how many runs happened. */
  maxCaseMs: number;
};

/** Phase durations of one run, in ms, plus any per-run facts (bytes, sizes) that do not vary. */
export type RunResult = { phases: Record<string, number>; facts?: Record<string, number> };

export type PhaseTimings = { phases: Record<string, Timing>; facts: Record<string, number> };

export type BenchCase = { label: string; run: () => RunResult | Promise<RunResult> };

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

type CaseState = {
  label: string;
  run: BenchCase['run'];
  samples: Record<string, number[]>;
  facts: Record<string, number>;
  count: number;
  failure?: Failure;
};

async function attempt(state: CaseState, record: boolean): Promise<void> {
  try {
    const result = await state.run();
    state.facts = result.facts ?? state.facts;
    if (!record) return;
    for (const [name, ms] of Object.entries(result.phases)) {
      const series = state.samples[name] ?? [];
      series.push(ms);
      state.samples[name] = series;
    }
    state.count++;
  } catch (e) {
    state.failure = { error: errorMessage(e) };
    log(`${state.label}: not measured: ${state.failure.error}`);
  }
}

/** Measures the cases of one group, interleaved; results in the order of `cases`. */
export async function measureGroup(
  settings: BenchSettings,
  cases: readonly BenchCase[],
  opts: { warmup?: boolean } = {},
): Promise<Measured<PhaseTimings>[]> {
  const states: CaseState[] = cases.map((c) => ({ ...c, samples: {}, facts: {}, count: 0 }));
  const active = () => states.filter((s) => s.failure === undefined);
  if (opts.warmup !== false) for (const s of states) await attempt(s, false);
  const budget = settings.maxCaseMs * cases.length;
  const started = performance.now();
  let lastRound = 0;
  for (let round = 0; round < settings.iterations && active().length > 0; round++) {
    if (round > 0 && performance.now() - started + lastRound >= budget) break;
    const t0 = performance.now();
    const order = active();
    for (let k = 0; k < order.length; k++) await attempt(order[(k + round) % order.length]!, true);
    lastRound = performance.now() - t0;
  }
  return states.map((s) => {
    if (s.failure) return s.failure;
    const phases: Record<string, Timing> = {};
    for (const [name, values] of Object.entries(s.samples))
      if (values.length > 0) phases[name] = summarize(values);
    const total = phases.total;
    log(
      `${s.label}: ${s.count} run(s)${total ? `, median ${total.medianMs} ms` : ''}${s.count < settings.iterations ? ' (time budget reached)' : ''}`,
    );
    return { phases, facts: s.facts };
  });
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
