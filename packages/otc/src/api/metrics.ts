// A tiny Prometheus registry (text exposition format 0.0.4), hand-written so the service needs no metrics
// dependency: counters and histograms with labels, gauges read at scrape time. Label values are escaped;
// callers keep the set of series bounded (route patterns, never raw URLs or ids).
import { OtcError } from '../errors.ts';

type Labels = Record<string, string>;

type Counter = { kind: 'counter'; help: string; series: Map<string, number> };
type Histogram = {
  kind: 'histogram';
  help: string;
  buckets: readonly number[];
  series: Map<string, { counts: number[]; sum: number; count: number }>;
};
type Gauge = { kind: 'gauge'; help: string; read: () => number };

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Request-duration buckets in seconds (Prometheus client defaults). */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  private readonly metrics = new Map<string, Counter | Histogram | Gauge>();

  counter(name: string, help: string): void {
    this.define(name, () => ({ kind: 'counter', help, series: new Map() }));
  }

  histogram(name: string, help: string, buckets: readonly number[] = DEFAULT_BUCKETS): void {
    const sorted = [...buckets].sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.some((b, i) => !Number.isFinite(b) || b === sorted[i - 1]))
      throw new OtcError('internal', `histogram ${name}: buckets must be distinct finite numbers`, 'metrics');
    this.define(name, () => ({ kind: 'histogram', help, buckets: sorted, series: new Map() }));
  }

  gauge(name: string, help: string, read: () => number): void {
    this.define(name, () => ({ kind: 'gauge', help, read }));
  }

  inc(name: string, labels: Labels = {}, by = 1): void {
    const c = this.get(name, 'counter');
    if (!(by >= 0))
      throw new OtcError('internal', `counter ${name}: increment must be non-negative`, 'metrics');
    const key = labelText(labels);
    c.series.set(key, (c.series.get(key) ?? 0) + by);
  }

  observe(name: string, labels: Labels, value: number): void {
    const h = this.get(name, 'histogram');
    const key = labelText(labels);
    let s = h.series.get(key);
    if (!s) {
      s = { counts: h.buckets.map(() => 0), sum: 0, count: 0 };
      h.series.set(key, s);
    }
    h.buckets.forEach((bound, i) => {
      if (value <= bound) s.counts[i]! += 1;
    });
    s.sum += value;
    s.count += 1;
  }

  /** A counter's current value (tests and the bench read it). */
  value(name: string, labels: Labels = {}): number {
    return this.get(name, 'counter').series.get(labelText(labels)) ?? 0;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, m] of this.metrics) {
      lines.push(`# HELP ${name} ${m.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
      lines.push(`# TYPE ${name} ${m.kind}`);
      if (m.kind === 'gauge') lines.push(`${name} ${formatValue(m.read())}`);
      else if (m.kind === 'counter')
        for (const [l, v] of m.series) lines.push(`${name}${l} ${formatValue(v)}`);
      else for (const [l, s] of m.series) lines.push(...histogramLines(name, m.buckets, l, s));
    }
    return `${lines.join('\n')}\n`;
  }

  private define(name: string, make: () => Counter | Histogram | Gauge): void {
    if (!NAME.test(name))
      throw new OtcError(
        'internal',
        `metric name ${JSON.stringify(name)} is not a Prometheus name`,
        'metrics',
      );
    const existing = this.metrics.get(name);
    const fresh = make();
    if (existing && existing.kind !== fresh.kind)
      throw new OtcError('internal', `metric ${name} is already a ${existing.kind}`, 'metrics');
    if (!existing || fresh.kind === 'gauge') this.metrics.set(name, fresh);
  }

  private get<K extends 'counter' | 'histogram'>(
    name: string,
    kind: K,
  ): Extract<Counter | Histogram, { kind: K }> {
    const m = this.metrics.get(name);
    if (!m || m.kind !== kind) throw new OtcError('internal', `${kind} ${name} is not registered`, 'metrics');
    return m as Extract<Counter | Histogram, { kind: K }>;
  }
}

function histogramLines(
  name: string,
  buckets: readonly number[],
  labels: string,
  s: { counts: number[]; sum: number; count: number },
): string[] {
  // Prometheus buckets are cumulative (observe() adds to every bucket whose bound is ≥ the value).
  const withLe = (le: string) => (labels === '' ? `{le="${le}"}` : `${labels.slice(0, -1)},le="${le}"}`);
  return [
    ...buckets.map((b, i) => `${name}_bucket${withLe(formatValue(b))} ${s.counts[i]}`),
    `${name}_bucket${withLe('+Inf')} ${s.count}`,
    `${name}_sum${labels} ${formatValue(s.sum)}`,
    `${name}_count${labels} ${s.count}`,
  ];
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  for (const k of keys)
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k) || k === 'le')
      throw new OtcError('internal', `bad label name ${k}`, 'metrics');
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return `{${keys.map((k) => `${k}="${esc(labels[k]!)}"`).join(',')}}`;
}
