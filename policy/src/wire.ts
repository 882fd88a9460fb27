// Strict decoders for what reaches a node as JSON from outside: approvals, vetoes, price snapshots and
// signed policy versions. Exact keys, typed fields, bounded sizes; errors name the field. Decoding is
// only the shape: signatures and meaning are checked by verifyApproval, verifyPriceSnapshot, etc.
import type { Approval, Veto } from './approvals.ts';
import { PolicyError, type PolicyErrorCode } from './errors.ts';
import type { AdminSignature, SignedPolicyVersion } from './governance.ts';
import { type PriceSnapshot, parseUnitPrice } from './price.ts';

type Json = Record<string, unknown>;

function decoder(code: PolicyErrorCode) {
  const fail = (field: string, reason: string): never => {
    throw new PolicyError(code, field, reason);
  };
  const object = (value: unknown, field: string, keys: readonly string[]): Json => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'must be an object');
    const record = value as Json;
    for (const key of Object.keys(record))
      if (!keys.includes(key)) fail(`${field}.${key}`, 'is not a known field');
    for (const key of keys) if (!(key in record)) fail(`${field}.${key}`, 'is missing');
    return record;
  };
  const text = (value: unknown, field: string, pattern = /^[a-z0-9][a-z0-9._-]{0,63}$/): string => {
    if (typeof value !== 'string' || !pattern.test(value)) fail(field, `must match ${pattern.source}`);
    return value as string;
  };
  const time = (value: unknown, field: string): number => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      fail(field, 'must be a non-negative integer (ms since epoch)');
    }
    return value as number;
  };
  const list = (value: unknown, field: string, max: number): unknown[] => {
    if (!Array.isArray(value) || value.length > max) fail(field, `must be an array of at most ${max} items`);
    return value as unknown[];
  };
  return { fail, object, text, time, list };
}

const DIGEST = /^[0-9a-f]{64}$/;
const SIGNATURE = /^[0-9a-f]{128}$/;

export function approvalFromWire(value: unknown, field = 'approval'): Approval {
  const d = decoder('invalid-approval');
  const o = d.object(value, field, [
    'approverId',
    'requestDigest',
    'approvedAtMs',
    'expiresAtMs',
    'signature',
  ]);
  return {
    approverId: d.text(o.approverId, `${field}.approverId`),
    requestDigest: d.text(o.requestDigest, `${field}.requestDigest`, DIGEST),
    approvedAtMs: d.time(o.approvedAtMs, `${field}.approvedAtMs`),
    expiresAtMs: d.time(o.expiresAtMs, `${field}.expiresAtMs`),
    signature: d.text(o.signature, `${field}.signature`, SIGNATURE),
  };
}

export function vetoFromWire(value: unknown, field = 'veto'): Veto {
  const d = decoder('invalid-approval');
  const o = d.object(value, field, ['approverId', 'requestDigest', 'vetoedAtMs', 'signature']);
  return {
    approverId: d.text(o.approverId, `${field}.approverId`),
    requestDigest: d.text(o.requestDigest, `${field}.requestDigest`, DIGEST),
    vetoedAtMs: d.time(o.vetoedAtMs, `${field}.vetoedAtMs`),
    signature: d.text(o.signature, `${field}.signature`, SIGNATURE),
  };
}

export function priceSnapshotFromWire(value: unknown, field = 'priceSnapshot'): PriceSnapshot {
  const d = decoder('invalid-price-snapshot');
  const o = d.object(value, field, ['currency', 'asOfMs', 'signer', 'prices', 'signature']);
  const prices = d.list(o.prices, `${field}.prices`, 10_000).map((entry, i) => {
    const at = `${field}.prices[${i}]`;
    const p = d.object(entry, at, ['asset', 'unitPrice']);
    const asset = d.text(p.asset, `${at}.asset`, /^(bitcoin|evm|tron):.+:[^:]+$/);
    parseUnitPrice(p.unitPrice, `${at}.unitPrice`);
    return { asset, unitPrice: p.unitPrice as string };
  });
  return {
    currency: d.text(o.currency, `${field}.currency`, /^[A-Z]{3,8}$/),
    asOfMs: d.time(o.asOfMs, `${field}.asOfMs`),
    signer: d.text(o.signer, `${field}.signer`),
    prices,
    signature: d.text(o.signature, `${field}.signature`, SIGNATURE),
  };
}

/** The document itself stays untyped JSON here: verifyPolicyVersion parses it with parsePolicy. */
export function signedPolicyVersionFromWire(value: unknown, field = 'signedPolicy'): SignedPolicyVersion {
  const d = decoder('invalid-signed-version');
  const o = d.object(value, field, ['document', 'signatures', 'receivedAtMs']);
  const signatures: AdminSignature[] = d.list(o.signatures, `${field}.signatures`, 64).map((entry, i) => {
    const s = d.object(entry, `${field}.signatures[${i}]`, ['adminId', 'signature']);
    return {
      adminId: d.text(s.adminId, `${field}.signatures[${i}].adminId`),
      signature: d.text(s.signature, `${field}.signatures[${i}].signature`, SIGNATURE),
    };
  });
  return { document: o.document, signatures, receivedAtMs: d.time(o.receivedAtMs, `${field}.receivedAtMs`) };
}
