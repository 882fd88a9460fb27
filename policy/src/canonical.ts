// Canonical JSON: the one byte encoding that policy digests, approvals, price snapshots and admin
// signatures commit to. Object keys sorted by UTF-16 code units (as RFC 8785), no whitespace; only
// strings, booleans, null, safe integers, arrays and plain objects (amounts travel as decimal strings,
// so no float formatting question ever arises).

import { utf8ToBytes } from '@noble/hashes/utils.js';
import { backend } from '#crypto';
import { PolicyError } from './errors.ts';

export type CanonicalValue =
  | string
  | number
  | boolean
  | null
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue | undefined };

function encode(value: unknown, field: string, depth: number): string {
  if (depth > 64) throw new PolicyError('non-canonical', field, 'nests deeper than 64 levels');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new PolicyError('non-canonical', field, 'must be a safe integer (no floats in canonical JSON)');
      }
      return Object.is(value, -0) ? '0' : String(value);
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((item, index) => encode(item, `${field}[${index}]`, depth + 1)).join(',')}]`;
      }
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) {
        throw new PolicyError('non-canonical', field, 'must be a plain object');
      }
      const object = value as Record<string, unknown>;
      const keys = Object.keys(object)
        .filter((key) => object[key] !== undefined)
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${keys.map((key) => `${JSON.stringify(key)}:${encode(object[key], `${field}.${key}`, depth + 1)}`).join(',')}}`;
    }
    default:
      throw new PolicyError('non-canonical', field, `has unsupported type ${typeof value}`);
  }
}

/** Thrown by `fast` on anything it does not encode; `encode` then finds and names the field. */
const NOT_CANONICAL = Symbol('not canonical');

/**
 * JSON.stringify of a string, without calling it for the common case: a string with no character that
 * JSON escapes (control characters, quote, backslash) and no surrogate (a lone one is escaped) is the
 * same text between quotes.
 */
function quote(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(value);
  }
  return `"${value}"`;
}

/**
 * The same encoding as `encode`, without building a field path for every value (only an error needs
 * one). Keys sort with the default comparison, which orders strings by UTF-16 code units.
 */
function fast(value: unknown, depth: number): string {
  if (depth > 64) throw NOT_CANONICAL;
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw NOT_CANONICAL;
      return Object.is(value, -0) ? '0' : String(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + fast(value[i], depth + 1);
        return `${out}]`;
      }
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) throw NOT_CANONICAL;
      const object = value as Record<string, unknown>;
      const keys = Object.keys(object).sort();
      let out = '{';
      for (const key of keys) {
        const item = object[key];
        if (item === undefined) continue;
        out += `${out.length === 1 ? '' : ','}${quote(key)}:${fast(item, depth + 1)}`;
      }
      return `${out}}`;
    }
    default:
      throw NOT_CANONICAL;
  }
}

/** Canonical JSON text of a value; throws `non-canonical` naming the field that cannot be encoded. */
export function canonicalJson(value: unknown, field = '$'): string {
  try {
    return fast(value, 0);
  } catch (error) {
    if (error !== NOT_CANONICAL) throw error;
    return encode(value, field, 0);
  }
}

export function canonicalBytes(value: unknown): Uint8Array {
  return utf8ToBytes(canonicalJson(value));
}

/** Domain tag ‖ 0x00 ‖ canonical JSON, as text (UTF-8 of it is what gets signed or hashed). */
function tagged(domain: string, value: unknown): string {
  return `${domain}\u0000${canonicalJson(value)}`;
}

/**
 * UTF-8 of domain tag ‖ 0x00 ‖ canonical encoding: the message each kind of signature covers, so a
 * signature of one kind is never valid as another. Same bytes as `domainMessage(domain, canonicalBytes(value))`.
 */
export function taggedMessage(domain: string, value: unknown): Uint8Array {
  return utf8ToBytes(tagged(domain, value));
}

/** SHA-256 over a domain tag, a zero byte and the canonical encoding: digests of different kinds never collide. */
export function taggedDigest(domain: string, value: unknown): Uint8Array {
  return backend.sha256(tagged(domain, value));
}

export function taggedDigestHex(domain: string, value: unknown): string {
  return backend.sha256Hex(tagged(domain, value));
}
