// Pure helpers for the benchmark harness: summaries of timing samples, ratio records with a target,
// error records, and byte counts of peer messages. No timing and no I/O here, so it is unit-tested.

/** Summary of one timed figure. All times are milliseconds. */
export type Timing = { medianMs: number; minMs: number; maxMs: number; iterations: number };

/** A figure that could not be measured (for example, a scheme that is not implemented yet). */
export type Failure = { error: string };

export type Measured<T> = T | Failure;

export function isFailure(value: unknown): value is Failure {
  return typeof value === 'object' && value !== null && 'error' in value && typeof value.error === 'string';
}

/** Median of a non-empty sample; the mean of the two middle values for an even count. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new RangeError('median of an empty sample');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Rounds to 3 decimals (microsecond resolution for ms figures, 0.001 for ratios). */
export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function summarize(samples: readonly number[]): Timing {
  if (samples.length === 0) throw new RangeError('summary of an empty sample');
  return {
    medianMs: round3(median(samples)),
    minMs: round3(Math.min(...samples)),
    maxMs: round3(Math.max(...samples)),
    iterations: samples.length,
  };
}

/** A ratio numerator / denominator compared with an upper-bound target (lower is better). */
export type RatioRecord = {
  value: number | null;
  target: number;
  met: boolean;
  numerator: number | null;
  denominator: number | null;
  unit: string;
  /** Why the ratio could not be computed, when it could not. */
  error?: string;
};

/**
 * Builds a ratio record. Either side may be a Failure or missing, in which case the record carries
 * the error, `value: null` and `met: false`: an unmeasured figure never counts as a target met.
 */
export function ratioRecord(
  numerator: number | Failure | undefined,
  denominator: number | Failure | undefined,
  target: number,
  unit: string,
): RatioRecord {
  const base = { target, unit };
  const problem =
    numerator === undefined
      ? 'numerator not measured'
      : isFailure(numerator)
        ? `numerator: ${numerator.error}`
        : denominator === undefined
          ? 'denominator not measured'
          : isFailure(denominator)
            ? `denominator: ${denominator.error}`
            : !(denominator > 0)
              ? 'denominator is not positive'
              : undefined;
  if (problem !== undefined || typeof numerator !== 'number' || typeof denominator !== 'number') {
    return {
      ...base,
      value: null,
      met: false,
      numerator: typeof numerator === 'number' ? numerator : null,
      denominator: typeof denominator === 'number' ? denominator : null,
      error: problem ?? 'not measured',
    };
  }
  const value = round3(numerator / denominator);
  return { ...base, value, met: numerator / denominator <= target, numerator, denominator };
}

/** Reads a numeric field of a measured record, passing failures through. */
export function field<T extends object, K extends keyof T>(
  record: Measured<T> | undefined,
  key: K,
): T[K] | Failure | undefined {
  if (record === undefined) return undefined;
  if (isFailure(record)) return record;
  return record[key];
}

/** Picks the median of a measured timing, passing failures through. */
export function medianOf(timing: Measured<Timing> | undefined): number | Failure | undefined {
  return field(timing, 'medianMs');
}

/** Message text of anything thrown, on one line, bounded. */
export function errorMessage(e: unknown): string {
  const text = e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(e);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** Parses a positive integer setting such as BENCH_ITERATIONS; undefined or empty gives the default. */
export function positiveInt(raw: string | undefined, fallback: number, name: string): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

/**
 * Bytes of the data in a serde-style JS value, as a compact binary encoding would carry them: a
 * Uint8Array or an array of byte values counts its length, a hex string half its length, any other
 * string its UTF-8 length, a number or boolean one byte (the peers' numbers here are u8 party
 * indices and flags), null/undefined nothing; arrays, objects and Maps add their members (keys of
 * objects and Maps are not counted: field names are not sent by a binary codec). A lower bound of
 * a real encoding (no length prefixes or tags), used for peers that expose no binary codec.
 */
export function compactBytes(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (value instanceof Uint8Array) return value.length;
  if (typeof value === 'string')
    return isHex(value) ? value.length / 2 : new TextEncoder().encode(value).length;
  if (typeof value === 'number' || typeof value === 'boolean') return 1;
  if (typeof value === 'bigint') return Math.ceil(value.toString(16).length / 2);
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every(isByte)) return value.length;
    return value.reduce<number>((sum, v) => sum + compactBytes(v), 0);
  }
  if (value instanceof Map) {
    let sum = 0;
    for (const v of value.values()) sum += compactBytes(v);
    return sum;
  }
  if (typeof value === 'object') {
    let sum = 0;
    for (const v of Object.values(value)) sum += compactBytes(v);
    return sum;
  }
  return 0;
}

/** UTF-8 length of the JSON text of a value, with Maps written as objects (how the peer's SDK sends it). */
export function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value, (_key, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v));
  return text === undefined ? 0 : new TextEncoder().encode(text).length;
}

function isByte(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255;
}

function isHex(s: string): boolean {
  return s.length > 0 && s.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(s);
}
