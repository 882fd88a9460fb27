// Canonical JSON: object keys sorted, no whitespace, only JSON values (bigint is written as a
// decimal string). Two equal values always serialise to the same bytes, so they can be hashed and
// signed. Anything that is not plain data is refused rather than silently dropped.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function canonicalJson(value: unknown): string {
  return JSON.stringify(normalise(value, '$'));
}

function normalise(value: unknown, path: string): JsonValue {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${path}: ${value} is not representable in JSON`);
    return value;
  }
  if (typeof value === 'bigint') return value.toString(10);
  if (Array.isArray(value)) return value.map((v, i) => normalise(v, `${path}[${i}]`));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: { [key: string]: JsonValue } = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v === undefined) continue;
      out[key] = normalise(v, `${path}.${key}`);
    }
    return out;
  }
  throw new TypeError(`${path}: only plain JSON data can be logged or signed (got ${describe(value)})`);
}

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return 'bytes — encode them explicitly';
  return typeof value === 'object' ? (value?.constructor?.name ?? 'object') : typeof value;
}
