// Canonical JSON: object keys sorted, no whitespace, only JSON values (a bigint is written as its decimal
// string). Equal values always serialise to the same bytes, so the audit chain can hash them, the price
// table and firm-quote tokens can be signed over them, and the webhook body is byte-identical on every retry. Anything that is not plain data is refused, never dropped.
import { invalid } from './errors.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Bound on nesting, so a hostile or accidental cycle-like structure cannot exhaust the stack. */
const MAX_DEPTH = 32;

export function canonicalJson(value: unknown, field = 'value'): string {
  return JSON.stringify(toJsonValue(value, field));
}

/** The plain-JSON form of `value` with keys sorted; names the offending path in the error. */
export function toJsonValue(value: unknown, path: string, depth = 0): JsonValue {
  if (depth > MAX_DEPTH) throw invalid(path, `nested deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') return checkedString(value, path);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(path, 'must be a finite number');
    return Object.is(value, -0) ? 0 : value;
  }
  if (typeof value === 'bigint') return value.toString(10);
  if (Array.isArray(value)) return value.map((v, i) => toJsonValue(v, `${path}[${i}]`, depth + 1));
  if (isPlainObject(value)) {
    const out: { [key: string]: JsonValue } = {};
    for (const key of Object.keys(value).sort()) {
      const v = value[key];
      if (v === undefined) continue;
      out[checkedString(key, path)] = toJsonValue(v, `${path}.${key}`, depth + 1);
    }
    return out;
  }
  throw invalid(path, `must be plain JSON data (got ${describe(value)})`);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// PostgreSQL's jsonb refuses U+0000 and unpaired surrogates; refuse them here with the field named
// instead of failing later inside the caller's transaction with a driver error.
function checkedString(s: string, path: string): string {
  if (s.includes('\u0000')) throw invalid(path, 'must not contain U+0000');
  if (LONE_SURROGATE.test(s)) throw invalid(path, 'must be well-formed Unicode (unpaired surrogate)');
  return s;
}

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return 'bytes — encode them explicitly';
  if (value instanceof Date) return 'a Date — pass toISOString()';
  return typeof value === 'object' ? (value?.constructor?.name ?? 'object') : typeof value;
}
