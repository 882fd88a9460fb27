// Prometheus text exposition (format 0.0.4), hand-written: counters with labels and gauges read at
// scrape time. Label values are escaped; the set of series is bounded by the callers (fixed reasons).
type Labels = Record<string, string>;

export class Metrics {
  private readonly counters = new Map<string, { help: string; series: Map<string, number> }>();
  private readonly gauges = new Map<string, { help: string; read: () => number }>();

  counter(name: string, help: string): void {
    if (!this.counters.has(name)) this.counters.set(name, { help, series: new Map() });
  }

  inc(name: string, labels: Labels = {}, by = 1): void {
    const c = this.counters.get(name);
    if (!c) throw new Error(`metric ${name} not registered`);
    const key = labelText(labels);
    c.series.set(key, (c.series.get(key) ?? 0) + by);
  }

  get(name: string, labels: Labels = {}): number {
    return this.counters.get(name)?.series.get(labelText(labels)) ?? 0;
  }

  gauge(name: string, help: string, read: () => number): void {
    this.gauges.set(name, { help, read });
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, c] of this.counters) {
      lines.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      if (c.series.size === 0) lines.push(`${name} 0`);
      for (const [labels, v] of c.series) lines.push(`${name}${labels} ${v}`);
    }
    for (const [name, g] of this.gauges) {
      lines.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.read()}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return `{${keys.map((k) => `${k}="${esc(labels[k]!)}"`).join(',')}}`;
}
