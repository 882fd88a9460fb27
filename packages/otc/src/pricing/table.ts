// The signed price table (`coffer-prices/1`): the document both price sources read. A publisher signs
// the canonical JSON of every field except `signature` with Ed25519; the desk refuses a table whose
// signature does not verify under the configured public key, so whoever can write the file or answer
// the URL still cannot set the desk's prices.
//
//   {format: 'coffer-prices/1', issuedAtMs, prices: [{asset, fiat, mid}], signature}
//
// `mid` is a decimal string of fiat minor units per whole crypto unit (USD cents per 1 ETH).
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { canonicalJson } from '../canonical-json.ts';
import { OtcError } from '../errors.ts';
import { parseAmount } from '../money.ts';

export const PRICE_TABLE_FORMAT = 'coffer-prices/1';
const MAX_ENTRIES = 10_000;
const ASSET = /^[A-Z0-9][A-Z0-9-]{0,31}$/;
const FIAT = /^[A-Z]{3}$/;

export type PriceEntry = { asset: string; fiat: string; midPriceMinor: bigint };
/** A verified table: prices keyed `ASSET/FIAT`. */
export type PriceTable = { issuedAtMs: number; prices: ReadonlyMap<string, PriceEntry> };

/** The wire document (what the file holds and the URL answers). */
export type PriceTableDocument = {
  format: typeof PRICE_TABLE_FORMAT;
  issuedAtMs: number;
  prices: { asset: string; fiat: string; mid: string }[];
  signature: string;
};

export const priceKey = (asset: string, fiat: string): string => `${asset}/${fiat}`;

/** A new Ed25519 key pair for a price publisher (the demo and tests); the public key as hex for config. */
export function priceTableKeygen(): { secretKey: Uint8Array; publicKey: string } {
  const { secretKey, publicKey } = ed25519.keygen();
  return { secretKey, publicKey: bytesToHex(publicKey) };
}

/** Builds and signs a price table. */
export function createPriceTable(
  input: { issuedAtMs: number; prices: { asset: string; fiat: string; mid: bigint }[] },
  secretKey: Uint8Array,
): PriceTableDocument {
  const unsigned = {
    format: PRICE_TABLE_FORMAT,
    issuedAtMs: input.issuedAtMs,
    prices: input.prices.map((p) => ({ asset: p.asset, fiat: p.fiat, mid: p.mid.toString() })),
  } as const;
  const signature = bytesToHex(ed25519.sign(utf8ToBytes(canonicalJson(unsigned)), secretKey));
  const document: PriceTableDocument = { ...unsigned, prices: [...unsigned.prices], signature };
  verifyPriceTable(document, bytesToHex(ed25519.getPublicKey(secretKey)));
  return document;
}

function unavailable(reason: string): OtcError {
  return new OtcError('price-unavailable', `price table refused: ${reason}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function exactKeys(value: Record<string, unknown>, keys: string[], field: string): void {
  const extra = Object.keys(value).filter((k) => !keys.includes(k));
  if (extra.length > 0) throw unavailable(`${field} has unknown field ${extra[0]}`);
}

function parseEntry(raw: unknown, index: number): PriceEntry {
  const field = `prices[${index}]`;
  if (!isPlainObject(raw)) throw unavailable(`${field} is not an object`);
  exactKeys(raw, ['asset', 'fiat', 'mid'], field);
  if (typeof raw.asset !== 'string' || !ASSET.test(raw.asset))
    throw unavailable(`${field}.asset is not an asset id`);
  if (typeof raw.fiat !== 'string' || !FIAT.test(raw.fiat))
    throw unavailable(`${field}.fiat is not an ISO 4217 code`);
  try {
    return { asset: raw.asset, fiat: raw.fiat, midPriceMinor: parseAmount(raw.mid, `${field}.mid`) };
  } catch (e) {
    throw unavailable((e as Error).message);
  }
}

/**
 * Checks a parsed document field by field and its signature under `publicKeyHex` (or skips the signature
 * when `publicKeyHex` is null: an HTTP source configured without a key trusts its TLS endpoint).
 */
export function verifyPriceTable(raw: unknown, publicKeyHex: string | null): PriceTable {
  if (!isPlainObject(raw)) throw unavailable('not a JSON object');
  exactKeys(raw, ['format', 'issuedAtMs', 'prices', 'signature'], 'table');
  if (raw.format !== PRICE_TABLE_FORMAT) throw unavailable(`format is not ${PRICE_TABLE_FORMAT}`);
  if (typeof raw.issuedAtMs !== 'number' || !Number.isSafeInteger(raw.issuedAtMs) || raw.issuedAtMs < 0)
    throw unavailable('issuedAtMs is not a non-negative integer');
  if (!Array.isArray(raw.prices) || raw.prices.length > MAX_ENTRIES)
    throw unavailable(`prices is not an array of at most ${MAX_ENTRIES} entries`);
  const prices = new Map<string, PriceEntry>();
  raw.prices.forEach((item, index) => {
    const entry = parseEntry(item, index);
    const key = priceKey(entry.asset, entry.fiat);
    if (prices.has(key)) throw unavailable(`prices[${index}] repeats ${key}`);
    prices.set(key, entry);
  });
  if (publicKeyHex !== null) verifySignature(raw, publicKeyHex);
  return { issuedAtMs: raw.issuedAtMs, prices };
}

function verifySignature(raw: Record<string, unknown>, publicKeyHex: string): void {
  const { signature, ...unsigned } = raw;
  if (typeof signature !== 'string' || !/^[0-9a-f]{128}$/.test(signature))
    throw unavailable('signature is not 64 bytes of lower-case hex');
  if (!/^[0-9a-f]{64}$/.test(publicKeyHex))
    throw unavailable('the configured public key is not 32 bytes of hex');
  let ok = false;
  try {
    // zip215: false — strict RFC 8032 verification, no malleable encodings.
    ok = ed25519.verify(
      hexToBytes(signature),
      utf8ToBytes(canonicalJson(unsigned)),
      hexToBytes(publicKeyHex),
      {
        zip215: false,
      },
    );
  } catch {
    ok = false;
  }
  if (!ok) throw unavailable('signature does not verify under the configured public key');
}
