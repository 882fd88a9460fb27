// The policy document (DESIGN §5): its types, a strict validator that names the field and the reason,
// and its digest. Amounts are decimal strings on the wire and bigint after validation; times are
// integer milliseconds since the Unix epoch (UTC); durations are integer milliseconds.

import type { Chain } from '@coffer/chains/intent';
import { hexToBytes } from '@noble/hashes/utils.js';
import { canonicalJson, taggedDigestHex } from './canonical.ts';
import { PolicyError } from './errors.ts';

export const POLICY_FORMAT = 'coffer-policy/1';
export const TIERS = ['cold', 'warm', 'hot'] as const;
export type Tier = (typeof TIERS)[number];
export const ROLES = ['maker', 'approver', 'policy-admin', 'auditor'] as const;
export type Role = (typeof ROLES)[number];
const CHAINS: readonly Chain[] = ['bitcoin', 'evm', 'tron'];

export interface Wallet {
  id: string;
  tier: Tier;
  chain: Chain;
  network: string;
  address: string;
}

/** An external destination; usable only from wallets of `tier`, and only once its cool-off has passed. */
export interface AddressBookEntry {
  id: string;
  name: string;
  chain: Chain;
  network: string;
  tier: Tier;
  address: string;
  addedAtMs: number;
  coolOffMs: number;
}

export interface Approver {
  id: string;
  /** Ed25519 public key, 32 bytes hex. */
  publicKey: string;
}

export interface ApproverGroup {
  id: string;
  approvers: Approver[];
}

/** A quorum: `count` distinct approvers of `group`, or all / any of the nested requirements. */
export type Requirement = { group: string; count: number } | { all: Requirement[] } | { any: Requirement[] };

/** `chain:network:native` or `chain:network:<contract>` — see `assetKey`. */
export type AssetKey = string;

export interface TimeWindow {
  /** Days of the week (UTC), 0 = Sunday. */
  days: number[];
  /** Minutes since 00:00 UTC, start inclusive, end exclusive. */
  fromMinute: number;
  toMinute: number;
}

export type DestinationCondition =
  | { kind: 'any' }
  | { kind: 'address-book'; entries?: string[] }
  | { kind: 'wallet'; tiers?: Tier[] };

export interface RuleConditions {
  tiers?: Tier[];
  wallets?: string[];
  chains?: Chain[];
  assets?: AssetKey[];
  destination?: DestinationCondition;
  minBaseUnits?: bigint;
  maxBaseUnits?: bigint;
  /** Reference-currency bounds in minor units (e.g. cents), inclusive. */
  minReference?: bigint;
  maxReference?: bigint;
  operators?: string[];
  timeWindows?: TimeWindow[];
}

export type RuleEffect =
  | { type: 'allow' }
  | { type: 'deny' }
  | { type: 'require-approvals'; approvals: Requirement }
  | { type: 'require-delay'; delayMs: number };

export interface Rule {
  id: string;
  description?: string;
  /** Raw-digest requests match only allow rules with `rawDigest: true` and an explicit `wallets` list. */
  rawDigest?: boolean;
  when: RuleConditions;
  effect: RuleEffect;
}

export interface QuorumBand {
  id: string;
  /** Only for this asset; a band without `asset` applies to every asset. */
  asset?: AssetKey;
  /** Inclusive upper bounds; a band with neither is unbounded. */
  upToBaseUnits?: bigint;
  upToReference?: bigint;
  /** Absent: the band needs no approvals. */
  approvals?: Requirement;
  delayMs?: number;
}

export interface Limit {
  id: string;
  /** operator: each operator's own transfers; wallet: each wallet's; pooled: everything in scope together. */
  scope: 'operator' | 'wallet' | 'pooled';
  windowMs: number;
  operators?: string[];
  wallets?: string[];
  asset?: AssetKey;
  maxBaseUnits?: bigint;
  maxReference?: bigint;
  maxCount?: number;
}

export interface Delays {
  /** Transfers worth at least this (reference minor units) wait `largeDelayMs`. */
  largeReference?: bigint;
  largeDelayMs: number;
  /** Transfers to a destination that never received a completed transfer wait this long. */
  firstTimeDestinationDelayMs: number;
}

export interface Screening {
  /** Local denylist (addresses; compared case-insensitively on EVM). */
  denylist: string[];
  /** When set, a `clear` result from the hook is required; anything else (error, timeout, missing) denies. */
  hook?: { url: string; timeoutMs: number };
}

export interface Operator {
  id: string;
  roles: Role[];
  /** Scope of the operator's API key; absent means every wallet / tier. */
  wallets?: string[];
  tiers?: Tier[];
}

export interface PriceSigner {
  id: string;
  publicKey: string;
}

export interface PolicyDocument {
  format: typeof POLICY_FORMAT;
  version: number;
  /** The earliest time the version may take effect (governance adds the timelock on top). */
  activatesAtMs: number;
  reference: { currency: string; decimals: number };
  pricing: { signers: PriceSigner[]; maxAgeMs: number };
  approvals: { maxTtlMs: number };
  wallets: Wallet[];
  addressBook: AddressBookEntry[];
  approverGroups: ApproverGroup[];
  operators: Operator[];
  rules: Rule[];
  quorum: QuorumBand[];
  limits: Limit[];
  delays: Delays;
  screening: Screening;
}

export function assetKey(chain: Chain, network: string, contract: string | undefined): AssetKey {
  return `${chain}:${network}:${contract === undefined ? 'native' : chain === 'evm' ? contract.toLowerCase() : contract}`;
}

// ---- strict validation -------------------------------------------------------------------------

const fail = (field: string, reason: string): never => {
  throw new PolicyError('invalid-policy', field, reason);
};

type Json = Record<string, unknown>;

function object(
  value: unknown,
  field: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'must be an object');
  const record = value as Json;
  for (const key of Object.keys(record)) {
    if (!required.includes(key) && !optional.includes(key)) fail(`${field}.${key}`, 'is not a known field');
  }
  for (const key of required) if (!(key in record)) fail(`${field}.${key}`, 'is missing');
  return record;
}

function text(value: unknown, field: string, max = 128): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    fail(field, `must be a non-empty string of at most ${max} characters`);
  }
  return value as string;
}

function identifier(value: unknown, field: string): string {
  const id = text(value, field, 64);
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(id)) fail(field, 'must match [a-z0-9][a-z0-9._-]*');
  return id;
}

function integer(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(field, `must be an integer in [${min}, ${max}]`);
  }
  return value as number;
}

function array<T>(value: unknown, field: string, item: (v: unknown, f: string) => T, max = 10_000): T[] {
  if (!Array.isArray(value)) fail(field, 'must be an array');
  const list = value as unknown[];
  if (list.length > max) fail(field, `must have at most ${max} items`);
  return list.map((v, i) => item(v, `${field}[${i}]`));
}

function nonEmpty<T>(list: T[], field: string): T[] {
  if (list.length === 0) fail(field, 'must not be empty');
  return list;
}

function oneOf<T extends string>(value: unknown, field: string, options: readonly T[]): T {
  if (typeof value !== 'string' || !options.includes(value as T))
    fail(field, `must be one of ${options.join(', ')}`);
  return value as T;
}

/** Canonical non-negative decimal integer string (no sign, no leading zeros) → bigint. */
export function baseUnits(value: unknown, field: string, fieldError = fail): bigint {
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,77})$/.test(value)) {
    fieldError(field, 'must be a canonical decimal integer string');
  }
  return BigInt(value as string);
}

function publicKeyHex(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value))
    fail(field, 'must be 32 bytes of lowercase hex');
  hexToBytes(value as string);
  return value as string;
}

function unique(ids: string[], field: string): void {
  const seen = new Set<string>();
  for (const [index, id] of ids.entries()) {
    if (seen.has(id)) fail(`${field}[${index}]`, `duplicates id ${id}`);
    seen.add(id);
  }
}

function parseWallet(value: unknown, field: string): Wallet {
  const o = object(value, field, ['id', 'tier', 'chain', 'network', 'address']);
  return {
    id: identifier(o.id, `${field}.id`),
    tier: oneOf(o.tier, `${field}.tier`, TIERS),
    chain: oneOf(o.chain, `${field}.chain`, CHAINS),
    network: text(o.network, `${field}.network`),
    address: text(o.address, `${field}.address`),
  };
}

function parseEntry(value: unknown, field: string): AddressBookEntry {
  const o = object(value, field, [
    'id',
    'name',
    'chain',
    'network',
    'tier',
    'address',
    'addedAtMs',
    'coolOffMs',
  ]);
  return {
    id: identifier(o.id, `${field}.id`),
    name: text(o.name, `${field}.name`),
    chain: oneOf(o.chain, `${field}.chain`, CHAINS),
    network: text(o.network, `${field}.network`),
    tier: oneOf(o.tier, `${field}.tier`, TIERS),
    address: text(o.address, `${field}.address`),
    addedAtMs: integer(o.addedAtMs, `${field}.addedAtMs`, 0),
    coolOffMs: integer(o.coolOffMs, `${field}.coolOffMs`, 0),
  };
}

function parseRequirement(value: unknown, field: string, groups: Set<string>, depth = 0): Requirement {
  if (depth > 8) fail(field, 'nests deeper than 8 levels');
  if (typeof value === 'object' && value !== null && 'group' in value) {
    const o = object(value, field, ['group', 'count']);
    const group = identifier(o.group, `${field}.group`);
    if (!groups.has(group)) fail(`${field}.group`, `names unknown approver group ${group}`);
    return { group, count: integer(o.count, `${field}.count`, 1, 100) };
  }
  if (typeof value === 'object' && value !== null && 'all' in value) {
    const o = object(value, field, ['all']);
    return {
      all: nonEmpty(
        array(o.all, `${field}.all`, (v, f) => parseRequirement(v, f, groups, depth + 1), 16),
        `${field}.all`,
      ),
    };
  }
  const o = object(value, field, ['any']);
  return {
    any: nonEmpty(
      array(o.any, `${field}.any`, (v, f) => parseRequirement(v, f, groups, depth + 1), 16),
      `${field}.any`,
    ),
  };
}

function parseTimeWindow(value: unknown, field: string): TimeWindow {
  const o = object(value, field, ['days', 'fromMinute', 'toMinute']);
  const days = nonEmpty(
    array(o.days, `${field}.days`, (v, f) => integer(v, f, 0, 6), 7),
    `${field}.days`,
  );
  const fromMinute = integer(o.fromMinute, `${field}.fromMinute`, 0, 1439);
  const toMinute = integer(o.toMinute, `${field}.toMinute`, 1, 1440);
  if (toMinute <= fromMinute) fail(`${field}.toMinute`, 'must be after fromMinute');
  return { days, fromMinute, toMinute };
}

interface Known {
  wallets: Set<string>;
  entries: Set<string>;
  groups: Set<string>;
  operators: Set<string>;
}

function idList(value: unknown, field: string, known: Set<string>, what: string): string[] {
  return nonEmpty(
    array(value, field, (v, f) => {
      const id = identifier(v, f);
      if (!known.has(id)) fail(f, `names unknown ${what} ${id}`);
      return id;
    }),
    field,
  );
}

function assetKeyField(value: unknown, field: string): AssetKey {
  const key = text(value, field, 200);
  if (!/^(bitcoin|evm|tron):.+:[^:]+$/.test(key)) fail(field, 'must be chain:network:native|contract');
  return key;
}

function reference(value: unknown, field: string): bigint {
  return baseUnits(value, field);
}

function parseConditions(value: unknown, field: string, known: Known): RuleConditions {
  const keys = [
    'tiers',
    'wallets',
    'chains',
    'assets',
    'destination',
    'minBaseUnits',
    'maxBaseUnits',
    'minReference',
    'maxReference',
    'operators',
    'timeWindows',
  ];
  const o = object(value, field, [], keys);
  const c: RuleConditions = {};
  if (o.tiers !== undefined)
    c.tiers = nonEmpty(
      array(o.tiers, `${field}.tiers`, (v, f) => oneOf(v, f, TIERS)),
      `${field}.tiers`,
    );
  if (o.wallets !== undefined) c.wallets = idList(o.wallets, `${field}.wallets`, known.wallets, 'wallet');
  if (o.chains !== undefined)
    c.chains = nonEmpty(
      array(o.chains, `${field}.chains`, (v, f) => oneOf(v, f, CHAINS)),
      `${field}.chains`,
    );
  if (o.assets !== undefined)
    c.assets = nonEmpty(array(o.assets, `${field}.assets`, assetKeyField), `${field}.assets`);
  if (o.destination !== undefined) {
    const d = object(o.destination, `${field}.destination`, ['kind'], ['entries', 'tiers']);
    const kind = oneOf(d.kind, `${field}.destination.kind`, ['any', 'address-book', 'wallet'] as const);
    if (kind === 'any') {
      if (d.entries !== undefined || d.tiers !== undefined)
        fail(`${field}.destination`, 'kind any takes no filter');
      c.destination = { kind };
    } else if (kind === 'address-book') {
      if (d.tiers !== undefined) fail(`${field}.destination.tiers`, 'applies to kind wallet only');
      c.destination =
        d.entries === undefined
          ? { kind }
          : {
              kind,
              entries: idList(d.entries, `${field}.destination.entries`, known.entries, 'address-book entry'),
            };
    } else {
      if (d.entries !== undefined) fail(`${field}.destination.entries`, 'applies to kind address-book only');
      c.destination =
        d.tiers === undefined
          ? { kind }
          : {
              kind,
              tiers: nonEmpty(
                array(d.tiers, `${field}.destination.tiers`, (v, f) => oneOf(v, f, TIERS)),
                `${field}.destination.tiers`,
              ),
            };
    }
  }
  if (o.minBaseUnits !== undefined) c.minBaseUnits = baseUnits(o.minBaseUnits, `${field}.minBaseUnits`);
  if (o.maxBaseUnits !== undefined) c.maxBaseUnits = baseUnits(o.maxBaseUnits, `${field}.maxBaseUnits`);
  if (o.minReference !== undefined) c.minReference = reference(o.minReference, `${field}.minReference`);
  if (o.maxReference !== undefined) c.maxReference = reference(o.maxReference, `${field}.maxReference`);
  if (o.operators !== undefined)
    c.operators = idList(o.operators, `${field}.operators`, known.operators, 'operator');
  if (o.timeWindows !== undefined) {
    c.timeWindows = nonEmpty(
      array(o.timeWindows, `${field}.timeWindows`, parseTimeWindow, 32),
      `${field}.timeWindows`,
    );
  }
  return c;
}

function parseRule(value: unknown, field: string, known: Known): Rule {
  const o = object(value, field, ['id', 'when', 'effect'], ['description', 'rawDigest']);
  const when = parseConditions(o.when, `${field}.when`, known);
  const e = object(o.effect, `${field}.effect`, ['type'], ['approvals', 'delayMs']);
  const type = oneOf(e.type, `${field}.effect.type`, [
    'allow',
    'deny',
    'require-approvals',
    'require-delay',
  ] as const);
  let effect: RuleEffect;
  if (type === 'require-approvals') {
    if (e.delayMs !== undefined) fail(`${field}.effect.delayMs`, 'belongs to require-delay');
    effect = { type, approvals: parseRequirement(e.approvals, `${field}.effect.approvals`, known.groups) };
  } else if (type === 'require-delay') {
    if (e.approvals !== undefined) fail(`${field}.effect.approvals`, 'belongs to require-approvals');
    effect = { type, delayMs: integer(e.delayMs, `${field}.effect.delayMs`, 1) };
  } else {
    if (e.approvals !== undefined || e.delayMs !== undefined)
      fail(`${field}.effect`, `${type} takes no parameters`);
    effect = { type };
  }
  const rule: Rule = { id: identifier(o.id, `${field}.id`), when, effect };
  if (o.description !== undefined) rule.description = text(o.description, `${field}.description`, 500);
  if (o.rawDigest !== undefined) {
    if (o.rawDigest !== true) fail(`${field}.rawDigest`, 'must be true when present');
    if (type !== 'allow') fail(`${field}.rawDigest`, 'only an allow rule can permit raw digest signing');
    if (when.wallets === undefined) fail(`${field}.when.wallets`, 'a raw-digest rule must name its wallets');
    rule.rawDigest = true;
  }
  return rule;
}

function parseBand(value: unknown, field: string, groups: Set<string>): QuorumBand {
  const o = object(value, field, ['id'], ['approvals', 'asset', 'upToBaseUnits', 'upToReference', 'delayMs']);
  const band: QuorumBand = { id: identifier(o.id, `${field}.id`) };
  if (o.approvals !== undefined) band.approvals = parseRequirement(o.approvals, `${field}.approvals`, groups);
  if (o.asset !== undefined) band.asset = assetKeyField(o.asset, `${field}.asset`);
  if (o.upToBaseUnits !== undefined) {
    if (band.asset === undefined) fail(`${field}.upToBaseUnits`, 'needs asset: base units differ per asset');
    band.upToBaseUnits = baseUnits(o.upToBaseUnits, `${field}.upToBaseUnits`);
  }
  if (o.upToReference !== undefined)
    band.upToReference = reference(o.upToReference, `${field}.upToReference`);
  if (o.delayMs !== undefined) band.delayMs = integer(o.delayMs, `${field}.delayMs`, 1);
  return band;
}

function parseLimit(value: unknown, field: string, known: Known): Limit {
  const o = object(
    value,
    field,
    ['id', 'scope', 'windowMs'],
    ['operators', 'wallets', 'asset', 'maxBaseUnits', 'maxReference', 'maxCount'],
  );
  const limit: Limit = {
    id: identifier(o.id, `${field}.id`),
    scope: oneOf(o.scope, `${field}.scope`, ['operator', 'wallet', 'pooled'] as const),
    windowMs: integer(o.windowMs, `${field}.windowMs`, 1),
  };
  if (o.operators !== undefined)
    limit.operators = idList(o.operators, `${field}.operators`, known.operators, 'operator');
  if (o.wallets !== undefined) limit.wallets = idList(o.wallets, `${field}.wallets`, known.wallets, 'wallet');
  if (o.asset !== undefined) limit.asset = assetKeyField(o.asset, `${field}.asset`);
  if (o.maxBaseUnits !== undefined) {
    if (limit.asset === undefined) fail(`${field}.maxBaseUnits`, 'needs asset: base units differ per asset');
    limit.maxBaseUnits = baseUnits(o.maxBaseUnits, `${field}.maxBaseUnits`);
  }
  if (o.maxReference !== undefined) limit.maxReference = reference(o.maxReference, `${field}.maxReference`);
  if (o.maxCount !== undefined) limit.maxCount = integer(o.maxCount, `${field}.maxCount`, 0);
  if (limit.maxBaseUnits === undefined && limit.maxReference === undefined && limit.maxCount === undefined) {
    fail(field, 'must set at least one of maxBaseUnits, maxReference, maxCount');
  }
  return limit;
}

/** Validates an untrusted policy document (e.g. `JSON.parse` output) into typed form, or throws naming the field. */
export function parsePolicy(value: unknown, field = 'policy'): PolicyDocument {
  const o = object(value, field, [
    'format',
    'version',
    'activatesAtMs',
    'reference',
    'pricing',
    'approvals',
    'wallets',
    'addressBook',
    'approverGroups',
    'operators',
    'rules',
    'quorum',
    'limits',
    'delays',
    'screening',
  ]);
  if (o.format !== POLICY_FORMAT) fail(`${field}.format`, `must be ${POLICY_FORMAT}`);
  const ref = object(o.reference, `${field}.reference`, ['currency', 'decimals']);
  const currency = text(ref.currency, `${field}.reference.currency`, 8);
  if (!/^[A-Z]{3,8}$/.test(currency))
    fail(`${field}.reference.currency`, 'must be an upper-case currency code');
  const pricingObject = object(o.pricing, `${field}.pricing`, ['signers', 'maxAgeMs']);
  const signers = array(pricingObject.signers, `${field}.pricing.signers`, (v, f) => {
    const s = object(v, f, ['id', 'publicKey']);
    return { id: identifier(s.id, `${f}.id`), publicKey: publicKeyHex(s.publicKey, `${f}.publicKey`) };
  });
  unique(
    signers.map((s) => s.id),
    `${field}.pricing.signers`,
  );
  const approvalsObject = object(o.approvals, `${field}.approvals`, ['maxTtlMs']);

  const wallets = array(o.wallets, `${field}.wallets`, parseWallet);
  unique(
    wallets.map((w) => w.id),
    `${field}.wallets`,
  );
  const addressBook = array(o.addressBook, `${field}.addressBook`, parseEntry);
  unique(
    addressBook.map((e) => e.id),
    `${field}.addressBook`,
  );
  const approverGroups = array(o.approverGroups, `${field}.approverGroups`, (v, f) => {
    const g = object(v, f, ['id', 'approvers']);
    const approvers = nonEmpty(
      array(g.approvers, `${f}.approvers`, (a, af) => {
        const x = object(a, af, ['id', 'publicKey']);
        return { id: identifier(x.id, `${af}.id`), publicKey: publicKeyHex(x.publicKey, `${af}.publicKey`) };
      }),
      `${f}.approvers`,
    );
    unique(
      approvers.map((a) => a.id),
      `${f}.approvers`,
    );
    return { id: identifier(g.id, `${f}.id`), approvers };
  });
  unique(
    approverGroups.map((g) => g.id),
    `${field}.approverGroups`,
  );
  // One approver id is one person: the same id must carry the same key in every group.
  const keyOf = new Map<string, string>();
  const keyOwner = new Map<string, string>();
  for (const [gi, group] of approverGroups.entries()) {
    for (const [ai, approver] of group.approvers.entries()) {
      const at = `${field}.approverGroups[${gi}].approvers[${ai}].publicKey`;
      const known = keyOf.get(approver.id);
      if (known !== undefined && known !== approver.publicKey)
        fail(at, `differs from ${approver.id}'s key elsewhere`);
      const owner = keyOwner.get(approver.publicKey);
      if (owner !== undefined && owner !== approver.id) fail(at, `is already the key of approver ${owner}`);
      keyOf.set(approver.id, approver.publicKey);
      keyOwner.set(approver.publicKey, approver.id);
    }
  }
  const wallet = new Set(wallets.map((w) => w.id));
  const operators = array(o.operators, `${field}.operators`, (v, f) => {
    const x = object(v, f, ['id', 'roles'], ['wallets', 'tiers']);
    const op: Operator = {
      id: identifier(x.id, `${f}.id`),
      roles: nonEmpty(
        array(x.roles, `${f}.roles`, (r, rf) => oneOf(r, rf, ROLES)),
        `${f}.roles`,
      ),
    };
    if (x.wallets !== undefined) op.wallets = idList(x.wallets, `${f}.wallets`, wallet, 'wallet');
    if (x.tiers !== undefined) {
      op.tiers = nonEmpty(
        array(x.tiers, `${f}.tiers`, (t, tf) => oneOf(t, tf, TIERS)),
        `${f}.tiers`,
      );
    }
    return op;
  });
  unique(
    operators.map((x) => x.id),
    `${field}.operators`,
  );
  const known: Known = {
    wallets: wallet,
    entries: new Set(addressBook.map((e) => e.id)),
    groups: new Set(approverGroups.map((g) => g.id)),
    operators: new Set(operators.map((x) => x.id)),
  };
  const rules = array(o.rules, `${field}.rules`, (v, f) => parseRule(v, f, known));
  unique(
    rules.map((r) => r.id),
    `${field}.rules`,
  );
  const quorum = array(o.quorum, `${field}.quorum`, (v, f) => parseBand(v, f, known.groups));
  unique(
    quorum.map((b) => b.id),
    `${field}.quorum`,
  );
  const limits = array(o.limits, `${field}.limits`, (v, f) => parseLimit(v, f, known));
  unique(
    limits.map((l) => l.id),
    `${field}.limits`,
  );
  const d = object(
    o.delays,
    `${field}.delays`,
    ['largeDelayMs', 'firstTimeDestinationDelayMs'],
    ['largeReference'],
  );
  const delays: Delays = {
    largeDelayMs: integer(d.largeDelayMs, `${field}.delays.largeDelayMs`, 0),
    firstTimeDestinationDelayMs: integer(
      d.firstTimeDestinationDelayMs,
      `${field}.delays.firstTimeDestinationDelayMs`,
      0,
    ),
  };
  if (d.largeReference !== undefined)
    delays.largeReference = reference(d.largeReference, `${field}.delays.largeReference`);
  const s = object(o.screening, `${field}.screening`, ['denylist'], ['hook']);
  const screening: Screening = {
    denylist: array(s.denylist, `${field}.screening.denylist`, (v, f) => text(v, f), 1_000_000),
  };
  if (s.hook !== undefined) {
    const h = object(s.hook, `${field}.screening.hook`, ['url', 'timeoutMs']);
    const url = text(h.url, `${field}.screening.hook.url`, 2048);
    if (!/^https?:\/\//.test(url)) fail(`${field}.screening.hook.url`, 'must be an http(s) URL');
    screening.hook = { url, timeoutMs: integer(h.timeoutMs, `${field}.screening.hook.timeoutMs`, 1, 60_000) };
  }
  return deepFreeze({
    format: POLICY_FORMAT,
    version: integer(o.version, `${field}.version`, 1),
    activatesAtMs: integer(o.activatesAtMs, `${field}.activatesAtMs`, 0),
    reference: { currency, decimals: integer(ref.decimals, `${field}.reference.decimals`, 0, 18) },
    pricing: { signers, maxAgeMs: integer(pricingObject.maxAgeMs, `${field}.pricing.maxAgeMs`, 1) },
    approvals: { maxTtlMs: integer(approvalsObject.maxTtlMs, `${field}.approvals.maxTtlMs`, 1) },
    wallets,
    addressBook,
    approverGroups,
    operators,
    rules,
    quorum,
    limits,
    delays,
    screening,
  });
}

/** Parsed policies are immutable: a decision's cited digest must describe what was evaluated. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** The wire (JSON) form of a validated document: bigint amounts back to decimal strings. */
export function policyToWire(policy: PolicyDocument): unknown {
  return JSON.parse(
    JSON.stringify(policy, (_key, value) => (typeof value === 'bigint' ? value.toString() : value)),
  );
}

export const POLICY_DIGEST_DOMAIN = 'coffer/policy-document/1';

/** SHA-256 digest (hex) of a policy version's canonical JSON: what admins sign and decisions cite. */
export function policyDigest(policy: PolicyDocument): string {
  const cached = digests.get(policy);
  if (cached !== undefined) return cached;
  const digest = taggedDigestHex(POLICY_DIGEST_DOMAIN, policyToWire(policy));
  // Only a frozen (parsed) document can be cached: nothing can change under its digest.
  if (Object.isFrozen(policy)) digests.set(policy, digest);
  return digest;
}

const digests = new WeakMap<PolicyDocument, string>();

export function canonicalPolicyJson(policy: PolicyDocument): string {
  return canonicalJson(policyToWire(policy));
}
