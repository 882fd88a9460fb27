// The request bundle (signer-node/docs/policy-api.md, "The bundle"): what travels between nodes with a
// transfer or raw-digest request, its strict parser (untrusted JSON from a peer or a start control,
// never cast), and the checks every node runs on it by itself before policy: decode the unsigned
// transaction with @coffer/chains, compare with the client's description and the claimed intent, derive
// the wallet address from the threshold key, recompute the chain signing digest and the request digest.
import { type Chain, intentFromWire, intentToWire, type TransferIntent } from '@coffer/chains/intent';
import type { Approval, Veto } from '@coffer/policy/approvals';
import type { PriceSnapshot } from '@coffer/policy/price';
import { type PolicyRequest, requestDigest, requestToWire } from '@coffer/policy/request';
import { approvalFromWire, priceSnapshotFromWire, vetoFromWire } from '@coffer/policy/wire';
import { deriveSecp256k1 } from '@coffer/tss';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import type { ChainsConfig } from '../config/config.ts';
import { canonicalJson } from '../util/canonical-json.ts';

export const BUNDLE_FORMAT = 'coffer-request/1';
/** Bundles larger than this are refused (the start control carries at most 192 KiB). */
export const MAX_BUNDLE_CHARS = 160 * 1024;

export type AssetDescription = { kind: 'native' } | { kind: 'token'; contract: string };

/** What the client asked for; every node checks it against the transaction it decoded itself. */
export interface TransferDescription {
  chain: Chain;
  network: string;
  asset: AssetDescription;
  to: string;
  amount: bigint;
}

export interface RequestBundle {
  format: typeof BUNDLE_FORMAT;
  id: string;
  /** Threshold key (wallet id in the node's key store) and derivation path. */
  keyId: string;
  path: string;
  /** Present for transfers, absent for raw digests. */
  description?: TransferDescription;
  request: PolicyRequest;
  requestDigest: string;
  approvals: Approval[];
  vetoes: Veto[];
  priceSnapshot?: PriceSnapshot;
}

/** A bundle field that is missing, malformed or inconsistent; `field` is the dotted path. */
export class BundleError extends Error {
  override readonly name = 'BundleError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field} ${reason}`);
  }
}

type Json = Record<string, unknown>;
const CHAINS: readonly Chain[] = ['bitcoin', 'evm', 'tron'];
const REQUEST_ID = /^req-[0-9a-f]{24}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const PATH = /^m(\/[0-9]{1,10}){0,32}$/;
const IDENT = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const AMOUNT = /^[1-9][0-9]{0,77}$/;

function fail(field: string, reason: string): never {
  throw new BundleError(field, reason);
}

function object(
  value: unknown,
  field: string,
  required: readonly string[],
  optional: readonly string[] = [],
) {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'must be an object');
  const o = value as Json;
  for (const key of Object.keys(o))
    if (!required.includes(key) && !optional.includes(key)) fail(`${field}.${key}`, 'is not a known field');
  for (const key of required) if (!(key in o)) fail(`${field}.${key}`, 'is missing');
  return o;
}

function text(value: unknown, field: string, pattern: RegExp): string {
  if (typeof value !== 'string' || !pattern.test(value)) fail(field, `must match ${pattern.source}`);
  return value as string;
}

function hexBytes(value: unknown, field: string, maxBytes: number): Uint8Array {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2 * maxBytes)
    fail(field, `must be lowercase hex of 1..${maxBytes} bytes`);
  if (!/^([0-9a-f]{2})+$/.test(value as string)) fail(field, 'must be lowercase hex of whole bytes');
  return hexToBytes(value as string);
}

/** Re-throws decoder errors from @coffer/policy and @coffer/chains as BundleError with their field. */
function wrap<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BundleError) throw e;
    const err = e as { field?: string; reason?: string; message?: string };
    throw new BundleError(err.field ?? field, err.reason ?? err.message ?? 'is invalid');
  }
}

export function descriptionFromWire(value: unknown, field = 'description'): TransferDescription {
  const o = object(value, field, ['chain', 'network', 'asset', 'to', 'amount']);
  if (typeof o.chain !== 'string' || !CHAINS.includes(o.chain as Chain))
    fail(`${field}.chain`, `must be one of ${CHAINS.join(', ')}`);
  const a = object(o.asset, `${field}.asset`, ['kind'], ['contract']);
  let asset: AssetDescription;
  if (a.kind === 'native') {
    if ('contract' in a) fail(`${field}.asset.contract`, 'a native asset has no contract');
    asset = { kind: 'native' };
  } else if (a.kind === 'token') {
    asset = { kind: 'token', contract: text(a.contract, `${field}.asset.contract`, /^[0-9A-Za-z]{1,64}$/) };
  } else fail(`${field}.asset.kind`, 'must be native or token');
  return {
    chain: o.chain as Chain,
    network: text(o.network, `${field}.network`, /^[a-z0-9:]{1,40}$/),
    asset,
    to: text(o.to, `${field}.to`, /^[0-9A-Za-z]{1,100}$/),
    amount: BigInt(text(o.amount, `${field}.amount`, AMOUNT)),
  };
}

export function descriptionToWire(d: TransferDescription): Json {
  return {
    chain: d.chain,
    network: d.network,
    asset: d.asset.kind === 'native' ? { kind: 'native' } : { kind: 'token', contract: d.asset.contract },
    to: d.to,
    amount: d.amount.toString(),
  };
}

/** Inverse of `requestToWire` (@coffer/policy/request), strict. */
export function requestFromWire(value: unknown, field = 'request'): PolicyRequest {
  const kind = (value as Json | null)?.kind;
  const common = ['kind', 'wallet', 'operator', 'submittedAtMs', 'requestId'];
  const o =
    kind === 'raw-digest'
      ? object(value, field, [...common, 'digest'])
      : object(value, field, [...common, 'unsignedTransaction', 'intent']);
  if (kind !== 'transfer' && kind !== 'raw-digest') fail(`${field}.kind`, 'must be transfer or raw-digest');
  const submittedAtMs = o.submittedAtMs;
  if (typeof submittedAtMs !== 'number' || !Number.isSafeInteger(submittedAtMs) || submittedAtMs < 0)
    fail(`${field}.submittedAtMs`, 'must be a non-negative integer (ms since epoch)');
  const base = {
    wallet: text(o.wallet, `${field}.wallet`, IDENT),
    operator: text(o.operator, `${field}.operator`, IDENT),
    submittedAtMs: submittedAtMs as number,
    requestId: text(o.requestId, `${field}.requestId`, /^[\x21-\x7e]{1,128}$/),
  };
  if (kind === 'raw-digest') return { kind, ...base, digest: hexBytes(o.digest, `${field}.digest`, 64) };
  return {
    kind: 'transfer',
    ...base,
    unsignedTransaction: hexBytes(o.unsignedTransaction, `${field}.unsignedTransaction`, 64 * 1024),
    intent: wrap(`${field}.intent`, () => intentFromWire(o.intent, `${field}.intent`)),
  };
}

/** Strict parser: exact keys, typed fields, bounded sizes; the error names the field. */
export function parseBundle(value: unknown): RequestBundle {
  let raw = value;
  if (typeof value === 'string') {
    if (value.length > MAX_BUNDLE_CHARS) fail('bundle', `is longer than ${MAX_BUNDLE_CHARS} characters`);
    try {
      raw = JSON.parse(value);
    } catch {
      fail('bundle', 'is not valid JSON');
    }
  }
  const o = object(
    raw,
    'bundle',
    ['format', 'id', 'keyId', 'path', 'request', 'requestDigest', 'approvals', 'vetoes'],
    ['description', 'priceSnapshot'],
  );
  if (o.format !== BUNDLE_FORMAT) fail('bundle.format', `must be ${BUNDLE_FORMAT}`);
  const request = requestFromWire(o.request, 'bundle.request');
  const list = (v: unknown, field: string): unknown[] => {
    if (!Array.isArray(v) || v.length > 64) fail(field, 'must be an array of at most 64 items');
    return v as unknown[];
  };
  const bundle: RequestBundle = {
    format: BUNDLE_FORMAT,
    id: text(o.id, 'bundle.id', REQUEST_ID),
    keyId: text(o.keyId, 'bundle.keyId', HEX64),
    path: text(o.path, 'bundle.path', PATH),
    request,
    requestDigest: text(o.requestDigest, 'bundle.requestDigest', HEX64),
    approvals: list(o.approvals, 'bundle.approvals').map((a, i) =>
      wrap(`bundle.approvals[${i}]`, () => approvalFromWire(a, `bundle.approvals[${i}]`)),
    ),
    vetoes: list(o.vetoes, 'bundle.vetoes').map((v, i) =>
      wrap(`bundle.vetoes[${i}]`, () => vetoFromWire(v, `bundle.vetoes[${i}]`)),
    ),
  };
  if (request.kind === 'transfer') {
    if (o.description === undefined) fail('bundle.description', 'is required for a transfer');
    bundle.description = descriptionFromWire(o.description, 'bundle.description');
  } else if (o.description !== undefined) fail('bundle.description', 'a raw-digest request has none');
  if (o.priceSnapshot !== undefined)
    bundle.priceSnapshot = wrap('bundle.priceSnapshot', () =>
      priceSnapshotFromWire(o.priceSnapshot, 'bundle.priceSnapshot'),
    );
  return bundle;
}

export function bundleToWire(b: RequestBundle): Json {
  return {
    format: b.format,
    id: b.id,
    keyId: b.keyId,
    path: b.path,
    ...(b.description !== undefined ? { description: descriptionToWire(b.description) } : {}),
    request: requestToWire(b.request),
    requestDigest: b.requestDigest,
    approvals: b.approvals,
    vetoes: b.vetoes,
    ...(b.priceSnapshot !== undefined ? { priceSnapshot: b.priceSnapshot } : {}),
  };
}

/** The JSON string carried in `request.submitted` notices and the start control. */
export function bundleToJson(b: RequestBundle): string {
  return JSON.stringify(bundleToWire(b));
}

/** Builds a bundle (the request digest is computed here); approvals and vetoes start empty. */
export function makeBundle(input: {
  id: string;
  keyId: string;
  path: string;
  request: PolicyRequest;
  description?: TransferDescription;
  priceSnapshot?: PriceSnapshot;
}): RequestBundle {
  return {
    format: BUNDLE_FORMAT,
    id: input.id,
    keyId: input.keyId,
    path: input.path,
    ...(input.description !== undefined ? { description: input.description } : {}),
    request: input.request,
    requestDigest: requestDigest(input.request),
    approvals: [],
    vetoes: [],
    ...(input.priceSnapshot !== undefined ? { priceSnapshot: input.priceSnapshot } : {}),
  };
}

// ---- chains ----------------------------------------------------------------------------------------

/** The threshold key a bundle names, as the node's key store holds it. */
export interface KeyRecord {
  scheme: string;
  /** Hex: compressed point (ecdsa), x-only (schnorr) or Ed25519 key. */
  publicKey: string;
  chainCode: string;
}

/**
 * The child public key at `path` (BIP32 CKDpub on the group key, DESIGN §3 item 9), in the key's own
 * format. Ed25519 and Taproot keys are used at `m` only here.
 */
export function childPublicKey(key: KeyRecord, path: string): Uint8Array {
  const root = hexToBytes(key.publicKey);
  if (path === 'm') return root;
  if (key.scheme !== 'ecdsa-secp256k1')
    fail('bundle.path', `${key.scheme} keys are signed at m only by the policy gate`);
  const memo = `${key.publicKey}/${key.chainCode}/${path}`;
  const known = childKeys.get(memo);
  if (known) return known.slice();
  // The same derivation the signing parties apply to their shares (@coffer/tss, equal to @scure/bip32).
  const child = wrap('bundle.path', () => deriveSecp256k1(root, hexToBytes(key.chainCode), path).point);
  remember(childKeys, memo, child.slice());
  return child;
}

// Derived keys and addresses are public and a pure function of (key, path, chain, network); the gate
// asks for the same few on every evaluation. Bounded; the oldest entry goes first.
const MEMO_MAX = 4096;
const childKeys = new Map<string, Uint8Array>();
const addresses = new Map<string, string | undefined>();
function remember<T>(memo: Map<string, T>, k: string, v: T): void {
  if (memo.size >= MEMO_MAX) memo.delete(memo.keys().next().value as string);
  memo.set(k, v);
}

/** The key's address on `chain` (the form the decoders emit), or undefined when the key cannot hold one. */
export async function keyAddress(
  key: KeyRecord,
  path: string,
  chain: Chain,
  network: string,
): Promise<string | undefined> {
  const memo = `${key.scheme}/${key.publicKey}/${key.chainCode}/${path}/${chain}/${network}`;
  if (addresses.has(memo)) return addresses.get(memo);
  const address = await computeKeyAddress(key, path, chain, network);
  remember(addresses, memo, address);
  return address;
}

async function computeKeyAddress(
  key: KeyRecord,
  path: string,
  chain: Chain,
  network: string,
): Promise<string | undefined> {
  const pub = childPublicKey(key, path);
  if (key.scheme === 'ecdsa-secp256k1') {
    if (chain === 'evm') return (await import('@coffer/chains/evm')).evmAddressFromPublicKey(pub);
    if (chain === 'tron') return (await import('@coffer/chains/tron')).tronAddressFromPublicKey(pub);
    if (network === 'mainnet' || network === 'testnet' || network === 'regtest')
      return (await import('@coffer/chains/bitcoin')).p2wpkhAddress(pub, network);
    return undefined;
  }
  if (key.scheme === 'schnorr-secp256k1-tr' && chain === 'bitcoin') {
    if (network === 'mainnet' || network === 'testnet' || network === 'regtest')
      return (await import('@coffer/chains/bitcoin')).p2trAddress(pub, network);
  }
  return undefined;
}

/**
 * Addresses a policy wallet may give for a raw-digest request on this key: its chain address, or the
 * child public key in hex (the only name an Ed25519 key has here).
 */
export async function rawDigestAddresses(
  key: KeyRecord,
  path: string,
  chain: Chain,
  network: string,
): Promise<string[]> {
  const out = [bytesToHex(childPublicKey(key, path))];
  const address = await keyAddress(key, path, chain, network);
  if (address !== undefined) out.push(address);
  return out;
}

/** Hex of the unsigned transaction bytes as the chain adapters take them. */
export function unsignedTransactionText(chain: Chain, bytes: Uint8Array): string {
  if (chain === 'bitcoin') return Buffer.from(bytes).toString('base64');
  return chain === 'evm' ? `0x${bytesToHex(bytes)}` : bytesToHex(bytes);
}

export interface DecodedUnsigned {
  intent: TransferIntent;
  /** What the wallet key signs (Bitcoin: the first input's digest). */
  signingDigest: Uint8Array;
  /** Every digest the key signs for this transaction (Bitcoin: one per input; others: one). */
  signingDigests: Uint8Array[];
}

/**
 * Decodes unsigned transaction bytes with @coffer/chains under this node's chain configuration (never
 * the client's). Throws BundleError naming the field on anything the decoder cannot account for.
 */
export async function decodeUnsigned(
  chain: Chain,
  bytes: Uint8Array,
  options: { from: string; chains: ChainsConfig; key?: KeyRecord; path?: string },
): Promise<DecodedUnsigned> {
  const field = 'bundle.request.unsignedTransaction';
  if (chain === 'evm') {
    const evm = options.chains.evm;
    if (evm === undefined) fail(field, 'this node has no chains.evm configuration');
    const { decodeEvmTransfer, evmSigningDigest } = await import('@coffer/chains/evm');
    const serialized = unsignedTransactionText('evm', bytes) as `0x${string}`;
    const network = evmNetwork(evm);
    const decoded = wrap(field, () => decodeEvmTransfer(serialized, { network, from: options.from }));
    const digest = evmSigningDigest(serialized);
    return { intent: decoded.intent, signingDigest: digest, signingDigests: [digest] };
  }
  if (chain === 'tron') {
    const tron = options.chains.tron;
    if (tron === undefined) fail(field, 'this node has no chains.tron configuration');
    const { decodeTronTransfer, tronSigningDigest } = await import('@coffer/chains/tron');
    const hex = bytesToHex(bytes);
    const network = { name: tron.network, tokens: tron.tokens, maxFeeLimitSun: tron.maxFeeLimitSun };
    const decoded = wrap(field, () => decodeTronTransfer(hex, { network, from: options.from }));
    const digest = tronSigningDigest(hex);
    return { intent: decoded.intent, signingDigest: digest, signingDigests: [digest] };
  }
  const bitcoin = options.chains.bitcoin;
  if (bitcoin === undefined) return fail(field, 'this node has no chains.bitcoin configuration');
  const key = options.key;
  if (key === undefined) return fail(field, 'a Bitcoin PSBT is decoded for a key');
  const { bitcoinSigningDigests, decodeBitcoinTransfer } = await import('@coffer/chains/bitcoin');
  const publicKey = childPublicKey(key, options.path ?? 'm');
  let type: 'p2wpkh' | 'p2tr';
  if (key.scheme === 'ecdsa-secp256k1') type = 'p2wpkh';
  else if (key.scheme === 'schnorr-secp256k1-tr') type = 'p2tr';
  else return fail('bundle.keyId', `${key.scheme} keys hold no Bitcoin address`);
  const psbt = Buffer.from(bytes).toString('base64');
  const decodeOptions = {
    network: bitcoin.network,
    wallet: { type, publicKey },
    ...(bitcoin.maxFeeRateSatPerVb !== undefined ? { maxFeeRateSatPerVb: bitcoin.maxFeeRateSatPerVb } : {}),
    ...(bitcoin.maxFeeSat !== undefined ? { maxFeeSat: bitcoin.maxFeeSat } : {}),
  };
  const decoded = wrap(field, () => decodeBitcoinTransfer(psbt, decodeOptions));
  const digests = wrap(field, () => bitcoinSigningDigests(psbt, decodeOptions)).map((d) => d.digest);
  return { intent: decoded.intent, signingDigest: digests[0]!, signingDigests: digests };
}

/** The @coffer/chains EVM network this node's `chains.evm` configuration describes. */
export function evmNetwork(evm: NonNullable<ChainsConfig['evm']>) {
  return {
    chainId: evm.chainId,
    nativeSymbol: evm.nativeSymbol,
    tokens: evm.tokens,
    maxFeeWei: evm.maxFeeWei,
  };
}

/** EVM addresses compare case-insensitively (checksum casing), others exactly. */
export function sameAddress(chain: string, a: string, b: string): boolean {
  return chain === 'evm' ? a.toLowerCase() === b.toLowerCase() : a === b;
}

/** Why the decoded intent differs from the client's description, or undefined when they agree. */
export function descriptionMismatch(d: TransferDescription, intent: TransferIntent): string | undefined {
  if (d.chain !== intent.chain) return `chain: described ${d.chain}, transaction ${intent.chain}`;
  if (d.network !== intent.network) return `network: described ${d.network}, transaction ${intent.network}`;
  if (d.asset.kind !== intent.asset.kind)
    return `asset: described ${d.asset.kind}, transaction ${intent.asset.kind}`;
  if (
    d.asset.kind === 'token' &&
    (intent.asset.contract === undefined || !sameAddress(d.chain, d.asset.contract, intent.asset.contract))
  )
    return `asset: described token ${d.asset.contract}, transaction token ${intent.asset.contract}`;
  if (!sameAddress(d.chain, d.to, intent.to)) return `to: described ${d.to}, transaction pays ${intent.to}`;
  if (d.amount !== intent.amount) return `amount: described ${d.amount}, transaction moves ${intent.amount}`;
  return undefined;
}

/** True when two intents are the same in every field (wire form, canonical). */
export function sameIntent(a: TransferIntent, b: TransferIntent): boolean {
  // Canonical: a parsed token asset has its keys in another order than a decoded one.
  return canonicalJson(intentToWire(a)) === canonicalJson(intentToWire(b));
}

export type BundleCheck =
  | { ok: true; intent?: TransferIntent }
  | {
      ok: false;
      code: 'malformed-bundle' | 'description-mismatch' | 'wrong-key' | 'wrong-message';
      detail: string;
    };

/**
 * Contract steps 1–4 for one node: decode the unsigned transaction itself, compare with the claimed
 * intent and the description, derive the key's address and require it to be the sender, recompute the
 * chain signing digest (it must be `message`, the session's message, when given) and the request
 * digest.
 */
export async function checkBundle(
  bundle: RequestBundle,
  input: { key: KeyRecord; message?: Uint8Array; chains: ChainsConfig },
): Promise<BundleCheck> {
  try {
    const { request } = bundle;
    if (requestDigest(request) !== bundle.requestDigest)
      return {
        ok: false,
        code: 'malformed-bundle',
        detail: 'bundle.requestDigest does not match the request',
      };
    if (request.kind === 'raw-digest') {
      if (input.message !== undefined && bytesToHex(request.digest) !== bytesToHex(input.message))
        return {
          ok: false,
          code: 'wrong-message',
          detail: 'the session signs something other than the digest',
        };
      childPublicKey(input.key, bundle.path);
      return { ok: true };
    }
    const claimed = request.intent;
    const address = await keyAddress(input.key, bundle.path, claimed.chain, claimed.network);
    if (address === undefined)
      return { ok: false, code: 'wrong-key', detail: `key ${bundle.keyId} has no ${claimed.chain} address` };
    const decoded = await decodeUnsigned(claimed.chain, request.unsignedTransaction, {
      from: address,
      chains: input.chains,
      key: input.key,
      path: bundle.path,
    });
    if (!sameIntent(decoded.intent, claimed))
      return {
        ok: false,
        code: 'description-mismatch',
        detail: 'bundle.request.intent differs from the intent this node decoded',
      };
    const mismatch = descriptionMismatch(bundle.description!, decoded.intent);
    if (mismatch !== undefined) return { ok: false, code: 'description-mismatch', detail: mismatch };
    if (!sameAddress(claimed.chain, decoded.intent.from, address))
      return { ok: false, code: 'wrong-key', detail: `the transaction does not spend from ${address}` };
    const message = input.message === undefined ? undefined : bytesToHex(input.message);
    // Bitcoin: one session per input, each signing one of the transaction's digests.
    if (message !== undefined && !decoded.signingDigests.some((d) => bytesToHex(d) === message))
      return {
        ok: false,
        code: 'wrong-message',
        detail: "the session's message is not the transaction's signing digest",
      };
    return { ok: true, intent: decoded.intent };
  } catch (e) {
    if (e instanceof BundleError) return { ok: false, code: 'malformed-bundle', detail: e.message };
    throw e;
  }
}
