// Signed price snapshots: the only source of reference-currency values (quorum bands, rules, limits,
// large-transfer delays). A snapshot counts only when signed by a price signer the policy names, in the
// policy's reference currency, and not older than `pricing.maxAgeMs`.
import { bytesToHex } from '@noble/hashes/utils.js';
import { taggedMessage } from './canonical.ts';
import type { AssetKey, PolicyDocument } from './document.ts';
import { PolicyError } from './errors.ts';
import { type SigningKey, VerifiedMemo, verifyEd25519 } from './keys.ts';

export const PRICE_DOMAIN = 'coffer/price-snapshot/1';
const PRICE_SCALE_DIGITS = 18;
const PRICE_SCALE = 10n ** BigInt(PRICE_SCALE_DIGITS);

export interface PriceEntry {
  asset: AssetKey;
  /** Reference currency per whole unit of the asset, decimal with up to 18 fractional digits. */
  unitPrice: string;
}

export interface UnsignedPriceSnapshot {
  currency: string;
  asOfMs: number;
  signer: string;
  prices: PriceEntry[];
}

export interface PriceSnapshot extends UnsignedPriceSnapshot {
  /** Ed25519 signature (hex) over the domain-tagged canonical JSON of the other fields. */
  signature: string;
}

function payload(snapshot: UnsignedPriceSnapshot): Uint8Array {
  return taggedMessage(PRICE_DOMAIN, {
    currency: snapshot.currency,
    asOfMs: snapshot.asOfMs,
    signer: snapshot.signer,
    prices: snapshot.prices.map((p) => ({ asset: p.asset, unitPrice: p.unitPrice })),
  });
}

export function signPriceSnapshot(snapshot: UnsignedPriceSnapshot, key: SigningKey): PriceSnapshot {
  for (const [i, p] of snapshot.prices.entries()) parseUnitPrice(p.unitPrice, `prices[${i}].unitPrice`);
  return { ...snapshot, signature: bytesToHex(key.sign(payload(snapshot))) };
}

/** Decimal price → integer scaled by 10^18. */
export function parseUnitPrice(value: unknown, field: string): bigint {
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,30})(\.[0-9]{1,18})?$/.test(value)) {
    throw new PolicyError(
      'invalid-price-snapshot',
      field,
      'must be a decimal with at most 18 fractional digits',
    );
  }
  const [whole, fraction = ''] = value.split('.');
  return BigInt(whole!) * PRICE_SCALE + BigInt(fraction.padEnd(PRICE_SCALE_DIGITS, '0'));
}

export type PriceCheck = { ok: true; prices: ReadonlyMap<AssetKey, bigint> } | { ok: false; reason: string };

interface SignedSnapshot {
  snapshot: UnsignedPriceSnapshot;
  publicKey: string;
  /** The parsed prices of a snapshot that verified. */
  prices?: ReadonlyMap<AssetKey, bigint>;
}

/** Every field the snapshot signature covers, compared one by one; the incoming side is untrusted. */
function sameSnapshot(known: SignedSnapshot, incoming: SignedSnapshot): boolean {
  const a = known.snapshot;
  const b = incoming.snapshot;
  return (
    known.publicKey === incoming.publicKey &&
    a.currency === b.currency &&
    a.asOfMs === b.asOfMs &&
    a.signer === b.signer &&
    Array.isArray(b.prices) &&
    a.prices.length === b.prices.length &&
    a.prices.every((p, i) => {
      const q: unknown = b.prices[i];
      return (
        typeof q === 'object' &&
        q !== null &&
        (q as PriceEntry).asset === p.asset &&
        (q as PriceEntry).unitPrice === p.unitPrice
      );
    })
  );
}

/** Snapshots whose signature verified (with their parsed prices): one snapshot serves many requests. */
const verifiedSnapshots = new VerifiedMemo<SignedSnapshot>(sameSnapshot, 256);

export function verifyPriceSnapshot(
  policy: PolicyDocument,
  snapshot: PriceSnapshot,
  nowMs: number,
): PriceCheck {
  const signer = policy.pricing.signers.find((s) => s.id === snapshot.signer);
  if (signer === undefined) return { ok: false, reason: `unknown price signer ${String(snapshot.signer)}` };
  if (snapshot.currency !== policy.reference.currency) {
    return {
      ok: false,
      reason: `snapshot currency ${snapshot.currency} is not ${policy.reference.currency}`,
    };
  }
  if (!Number.isSafeInteger(snapshot.asOfMs) || snapshot.asOfMs > nowMs) {
    return { ok: false, reason: 'snapshot is dated in the future' };
  }
  if (nowMs - snapshot.asOfMs > policy.pricing.maxAgeMs) return { ok: false, reason: 'snapshot is too old' };
  const known = verifiedSnapshots.find(snapshot.signature, { snapshot, publicKey: signer.publicKey });
  if (known?.prices !== undefined) return { ok: true, prices: known.prices };
  let message: Uint8Array;
  const prices = new Map<AssetKey, bigint>();
  try {
    message = payload(snapshot);
    for (const [i, p] of snapshot.prices.entries()) {
      if (prices.has(p.asset)) return { ok: false, reason: `duplicate price for ${p.asset}` };
      prices.set(p.asset, parseUnitPrice(p.unitPrice, `prices[${i}].unitPrice`));
    }
  } catch (error) {
    return { ok: false, reason: error instanceof PolicyError ? error.message : 'malformed snapshot' };
  }
  if (!verifyEd25519(snapshot.signature, message, signer.publicKey)) {
    return { ok: false, reason: 'signature does not verify under the price signer key' };
  }
  verifiedSnapshots.add(snapshot.signature, {
    snapshot: {
      currency: snapshot.currency,
      asOfMs: snapshot.asOfMs,
      signer: snapshot.signer,
      prices: snapshot.prices.map((p) => ({ asset: p.asset, unitPrice: p.unitPrice })),
    },
    publicKey: signer.publicKey,
    prices,
  });
  return { ok: true, prices };
}

/**
 * Value of `amount` base units in reference minor units, rounded up (a limit or band never
 * under-counts a transfer).
 */
export function referenceValue(
  amount: bigint,
  assetDecimals: number,
  unitPrice: bigint,
  referenceDecimals: number,
): bigint {
  const numerator = amount * unitPrice * 10n ** BigInt(referenceDecimals);
  const denominator = 10n ** BigInt(assetDecimals) * PRICE_SCALE;
  return (numerator + denominator - 1n) / denominator;
}
