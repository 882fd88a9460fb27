// Pure helpers for the latency and throughput benchmarks (signer-node cluster, policy evaluation):
// nearest-rank percentiles, latency summaries, rates, and target records that compare a figure with
// an upper or lower bound. No timing and no I/O here, so it is unit-tested (latency.test.ts).
import { round3 } from './stats.ts';

/**
 * Nearest-rank percentile of a non-empty sample: the smallest value such that at least q % of the
 * sample is ≤ it (rank ⌈q/100 · n⌉). Always a value that was observed, never an interpolation.
 */
export function percentile(samples: readonly number[], q: number): number {
  if (samples.length === 0) throw new RangeError('percentile of an empty sample');
  if (!(q > 0 && q <= 100)) throw new RangeError(`percentile q must be in (0, 100], got ${q}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((q / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Latency distribution of one series of requests; all times in ms. */
export type LatencySummary = {
  count: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
};

export function latencySummary(samples: readonly number[]): LatencySummary {
  if (samples.length === 0) throw new RangeError('latency summary of an empty sample');
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const s of samples) {
    sum += s;
    if (s < min) min = s;
    if (s > max) max = s;
  }
  return {
    count: samples.length,
    p50Ms: round3(percentile(samples, 50)),
    p99Ms: round3(percentile(samples, 99)),
    meanMs: round3(sum / samples.length),
    minMs: round3(min),
    maxMs: round3(max),
  };
}

/** Events per second over an elapsed time in ms; 0 events is a rate of 0, a non-positive time throws. */
export function ratePerSecond(events: number, elapsedMs: number): number {
  if (!Number.isFinite(events) || events < 0) throw new RangeError(`events must be ≥ 0, got ${events}`);
  if (!(elapsedMs > 0)) throw new RangeError(`elapsed time must be positive, got ${elapsedMs} ms`);
  return round3((events * 1000) / elapsedMs);
}

/** A measured figure against an issue's target: `met` only when the figure exists and satisfies it. */
export type TargetRecord = {
  value: number | null;
  target: number;
  /** `<=`: lower is better (latency); `>=`: higher is better (throughput). */
  comparison: '<=' | '>=';
  unit: string;
  met: boolean;
  /** What the figure is, and any condition besides the bound (e.g. a minimum run length). */
  what: string;
  /** Why `met` is false although the bound holds, or why there is no value. */
  note?: string;
};

/**
 * Builds a target record. `value` undefined means not measured (met false). `requires` lists
 * extra conditions of the target (for example "sustained for 60 s"); any one false makes `met` false
 * and its text goes into `note`, so a short run never reports a long-run target as met.
 */
export function targetRecord(opts: {
  what: string;
  value: number | undefined;
  target: number;
  comparison: '<=' | '>=';
  unit: string;
  requires?: ReadonlyArray<{ holds: boolean; otherwise: string }>;
  missing?: string;
}): TargetRecord {
  const base = { target: opts.target, comparison: opts.comparison, unit: opts.unit, what: opts.what };
  if (opts.value === undefined || !Number.isFinite(opts.value))
    return { ...base, value: null, met: false, note: opts.missing ?? 'not measured' };
  const bound = opts.comparison === '<=' ? opts.value <= opts.target : opts.value >= opts.target;
  const unmet = (opts.requires ?? []).filter((r) => !r.holds).map((r) => r.otherwise);
  const record: TargetRecord = { ...base, value: opts.value, met: bound && unmet.length === 0 };
  if (unmet.length > 0) record.note = unmet.join('; ');
  return record;
}

/** Parses a positive number of seconds (BENCH_CLUSTER_SECONDS …); undefined or empty gives the default. */
export function positiveSeconds(raw: string | undefined, fallback: number, name: string): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || value > 86_400)
    throw new RangeError(`${name} must be a number of seconds in (0, 86400], got "${raw}"`);
  return value;
}
