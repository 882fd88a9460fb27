// Canonical JSON for what the desk signs or MACs (price tables, firm-quote tokens): object keys sorted by
// UTF-16 code units, no whitespace, only strings, booleans, null, safe integers, arrays and plain objects.
// Money travels as decimal strings, so no float ever has to be formatted the same way twice.

function encode(value: unknown, depth: number): string {
  if (depth > 32) throw new TypeError('canonical JSON nests deeper than 32 levels');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new TypeError('canonical JSON holds safe integers only');
      return Object.is(value, -0) ? '0' : String(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((item) => encode(item, depth + 1)).join(',')}]`;
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null)
        throw new TypeError('canonical JSON holds plain objects only');
      const object = value as Record<string, unknown>;
      const keys = Object.keys(object)
        .filter((key) => object[key] !== undefined)
        .sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${encode(object[key], depth + 1)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
  }
}

/** The canonical JSON text of `value` (throws TypeError on anything it cannot encode). */
export function canonicalJson(value: unknown): string {
  return encode(value, 0);
}
