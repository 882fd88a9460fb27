// Canonical JSON: the one byte encoding that policy digests, approvals, price snapshots and admin
// signatures commit to. Object keys sorted by UTF-16 code units (as RFC 8785), no whitespace; only
// strings, booleans, null, safe integers, arrays and plain objects (amounts travel as decimal strings,
// so no float formatting question ever arises).
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
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

/** Canonical JSON text of a value; throws `non-canonical` naming the field that cannot be encoded. */
export function canonicalJson(value: unknown, field = '$'): string {
  return encode(value, field, 0);
}

export function canonicalBytes(value: unknown): Uint8Array {
  return utf8ToBytes(canonicalJson(value));
}

/** SHA-256 over a domain tag, a zero byte and the canonical encoding: digests of different kinds never collide. */
export function taggedDigest(domain: string, value: unknown): Uint8Array {
  return sha256(concatBytes(utf8ToBytes(domain), new Uint8Array([0]), canonicalBytes(value)));
}

export function taggedDigestHex(domain: string, value: unknown): string {
  return bytesToHex(taggedDigest(domain, value));
}
