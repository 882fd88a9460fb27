// A strict reader for the few protobuf messages a TRON transfer uses. Unknown fields, repeated
// singular fields, wrong wire types, over-long varints and trailing bytes are refused, so what is
// decoded is everything the bytes say.
import { ChainError } from '../errors.ts';

export type FieldSpec = Record<number, { name: string; wire: 'varint' | 'bytes'; repeated?: boolean }>;
export type Decoded = Record<string, bigint | Uint8Array | Uint8Array[]>;

function readVarint(bytes: Uint8Array, offset: number, field: string): [bigint, number] {
  let value = 0n;
  for (let i = 0; i < 10; i++) {
    const byte = bytes[offset + i];
    if (byte === undefined) throw new ChainError('malformed-transaction', field, 'truncated varint');
    value |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) {
      if (i > 0 && byte === 0) throw new ChainError('malformed-transaction', field, 'over-long varint');
      return [value, offset + i + 1];
    }
  }
  throw new ChainError('malformed-transaction', field, 'varint longer than 10 bytes');
}

/** Decodes one message against `spec`; `path` names it in errors. */
export function decodeMessage(bytes: Uint8Array, spec: FieldSpec, path: string): Decoded {
  const out: Decoded = {};
  let offset = 0;
  while (offset < bytes.length) {
    const [key, afterKey] = readVarint(bytes, offset, path);
    const number = Number(key >> 3n);
    const wireType = Number(key & 7n);
    const field = spec[number];
    if (field === undefined)
      throw new ChainError('unexpected-field', `${path}#${number}`, 'unknown protobuf field');
    const name = `${path}.${field.name}`;
    if (field.name in out && field.repeated !== true) {
      throw new ChainError('malformed-transaction', name, 'appears more than once');
    }
    if (field.wire === 'varint') {
      if (wireType !== 0)
        throw new ChainError('malformed-transaction', name, `wire type ${wireType}, expected varint`);
      const [value, next] = readVarint(bytes, afterKey, name);
      out[field.name] = value;
      offset = next;
    } else {
      if (wireType !== 2)
        throw new ChainError('malformed-transaction', name, `wire type ${wireType}, expected bytes`);
      const [length, start] = readVarint(bytes, afterKey, name);
      const end = start + Number(length);
      if (length > BigInt(bytes.length) || end > bytes.length) {
        throw new ChainError('malformed-transaction', name, 'length runs past the end');
      }
      const value = bytes.subarray(start, end);
      if (field.repeated === true) {
        const list = (out[field.name] as Uint8Array[] | undefined) ?? [];
        list.push(value);
        out[field.name] = list;
      } else out[field.name] = value;
      offset = end;
    }
  }
  return out;
}

/** Field numbers from TRON's protocol/core/Tron.proto and contract/*.proto. */
export const RAW_SPEC: FieldSpec = {
  1: { name: 'ref_block_bytes', wire: 'bytes' },
  3: { name: 'ref_block_num', wire: 'varint' },
  4: { name: 'ref_block_hash', wire: 'bytes' },
  8: { name: 'expiration', wire: 'varint' },
  9: { name: 'auths', wire: 'bytes', repeated: true },
  10: { name: 'data', wire: 'bytes' },
  11: { name: 'contract', wire: 'bytes', repeated: true },
  12: { name: 'scripts', wire: 'bytes' },
  14: { name: 'timestamp', wire: 'varint' },
  18: { name: 'fee_limit', wire: 'varint' },
};
export const CONTRACT_SPEC: FieldSpec = {
  1: { name: 'type', wire: 'varint' },
  2: { name: 'parameter', wire: 'bytes' },
  3: { name: 'provider', wire: 'bytes' },
  4: { name: 'ContractName', wire: 'bytes' },
  5: { name: 'Permission_id', wire: 'varint' },
};
export const ANY_SPEC: FieldSpec = {
  1: { name: 'type_url', wire: 'bytes' },
  2: { name: 'value', wire: 'bytes' },
};
export const TRANSFER_SPEC: FieldSpec = {
  1: { name: 'owner_address', wire: 'bytes' },
  2: { name: 'to_address', wire: 'bytes' },
  3: { name: 'amount', wire: 'varint' },
};
export const TRIGGER_SPEC: FieldSpec = {
  1: { name: 'owner_address', wire: 'bytes' },
  2: { name: 'contract_address', wire: 'bytes' },
  3: { name: 'call_value', wire: 'varint' },
  4: { name: 'data', wire: 'bytes' },
  5: { name: 'call_token_value', wire: 'varint' },
  6: { name: 'token_id', wire: 'varint' },
};
