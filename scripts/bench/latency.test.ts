import { describe, expect, it } from 'vitest';
import { latencySummary, percentile, positiveSeconds, ratePerSecond, targetRecord } from './latency.ts';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted on purpose

  it('p50 and p99 of 1..100 are the 50th and 99th smallest values', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
  });

  it('p99 of a small sample is its maximum (rank rounds up), never an interpolated value', () => {
    expect(percentile([5, 1, 3], 99)).toBe(5);
    expect(percentile([10, 20], 50)).toBe(10);
    expect(percentile([7], 1)).toBe(7);
  });

  it('one slow outlier in 1000 moves p99 only when it is in the top 1 %', () => {
    const samples = Array.from({ length: 1000 }, () => 10);
    samples[123] = 500;
    expect(percentile(samples, 99)).toBe(10);
    for (let i = 0; i < 11; i++) samples[i] = 500;
    expect(percentile(samples, 99)).toBe(500);
  });

  it('does not reorder the caller array', () => {
    const samples = [3, 1, 2];
    percentile(samples, 50);
    expect(samples).toEqual([3, 1, 2]);
  });

  it('refuses an empty sample and q outside (0, 100]', () => {
    expect(() => percentile([], 50)).toThrow(/empty/);
    expect(() => percentile([1], 0)).toThrow(/q must be/);
    expect(() => percentile([1], 101)).toThrow(/q must be/);
    expect(() => percentile([1], Number.NaN)).toThrow(/q must be/);
  });
});

describe('latencySummary', () => {
  it('reports count, p50, p99, mean, min and max rounded to microseconds', () => {
    expect(latencySummary([4, 1, 3, 2])).toEqual({
      count: 4,
      p50Ms: 2,
      p99Ms: 4,
      meanMs: 2.5,
      minMs: 1,
      maxMs: 4,
    });
    expect(latencySummary([1.23456]).p50Ms).toBe(1.235);
  });

  it('refuses an empty sample', () => {
    expect(() => latencySummary([])).toThrow(/empty/);
  });
});

describe('ratePerSecond', () => {
  it('divides events by seconds', () => {
    expect(ratePerSecond(300, 10_000)).toBe(30);
    expect(ratePerSecond(0, 5_000)).toBe(0);
    expect(ratePerSecond(1, 3_000)).toBe(0.333);
  });

  it('refuses a non-positive time and a negative count', () => {
    expect(() => ratePerSecond(1, 0)).toThrow(/positive/);
    expect(() => ratePerSecond(-1, 10)).toThrow(/events/);
  });
});

describe('targetRecord', () => {
  it('upper bound: met when the value is at or below the target', () => {
    const at = targetRecord({ what: 'p50', value: 50, target: 50, comparison: '<=', unit: 'ms' });
    expect(at).toMatchObject({ value: 50, met: true });
    expect(at.note).toBeUndefined();
    expect(targetRecord({ what: 'p50', value: 50.1, target: 50, comparison: '<=', unit: 'ms' }).met).toBe(
      false,
    );
  });

  it('lower bound: met when the value is at or above the target', () => {
    expect(targetRecord({ what: 'rate', value: 30, target: 30, comparison: '>=', unit: '/s' }).met).toBe(
      true,
    );
    expect(targetRecord({ what: 'rate', value: 29.9, target: 30, comparison: '>=', unit: '/s' }).met).toBe(
      false,
    );
  });

  it('an unmet side condition (a run shorter than the target asks) keeps met false and says why', () => {
    const r = targetRecord({
      what: 'rate',
      value: 45,
      target: 30,
      comparison: '>=',
      unit: '/s',
      requires: [
        { holds: false, otherwise: 'ran 10 s, the target asks for 60 s' },
        { holds: true, otherwise: 'never shown' },
      ],
    });
    expect(r).toMatchObject({ value: 45, met: false, note: 'ran 10 s, the target asks for 60 s' });
  });

  it('an unmeasured figure is never a target met', () => {
    expect(
      targetRecord({
        what: 'p50',
        value: undefined,
        target: 10,
        comparison: '<=',
        unit: 'ms',
        missing: 'skipped',
      }),
    ).toMatchObject({ value: null, met: false, note: 'skipped' });
    expect(
      targetRecord({ what: 'p50', value: Number.NaN, target: 10, comparison: '<=', unit: 'ms' }),
    ).toMatchObject({ value: null, met: false });
  });
});

describe('positiveSeconds', () => {
  it('parses seconds, with the default for unset or empty', () => {
    expect(positiveSeconds(undefined, 60, 'X')).toBe(60);
    expect(positiveSeconds(' ', 60, 'X')).toBe(60);
    expect(positiveSeconds('2.5', 60, 'X')).toBe(2.5);
  });

  it('refuses zero, negatives and text, naming the setting', () => {
    expect(() => positiveSeconds('0', 60, 'BENCH_CLUSTER_SECONDS')).toThrow(/BENCH_CLUSTER_SECONDS/);
    expect(() => positiveSeconds('-3', 60, 'X')).toThrow(/seconds/);
    expect(() => positiveSeconds('ten', 60, 'X')).toThrow(/seconds/);
  });
});
