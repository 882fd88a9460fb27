// The OTC service's configuration file (JSON) → OtcConfig. Every field is checked for type and range and
// every cross-reference resolved (spread tiers and assets, tier and desk-approval currencies, auto-confirm
// tiers, restricted assets); an error is OtcError('invalid-request') naming the field's path
// (`assets[1].decimals: …`), and unknown fields are refused, so a typo stops the start instead of running
// with a default. Money is a decimal string of an integer (minor or base units) parsed to bigint.
// Secrets (custody.apiKey, quotes.signingKey, webhook secrets) are given inline, as {file} (read relative
// to the file's directory) or as {env}; the parsed config prints with every secret redacted.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { inspect } from 'node:util';
import { invalid } from '../errors.ts';
import {
  type AssetConfig,
  type Chain,
  type FiatConfig,
  type OtcConfig,
  type PricingConfig,
  ROLES,
  type Role,
  type Service,
  type SpreadRule,
  type TierConfig,
  type TierLimits,
} from './types.ts';

export type ParseOptions = { baseDir: string; env?: Record<string, string | undefined> };

type Obj = Record<string, unknown>;

const CHAINS: readonly Chain[] = ['evm', 'bitcoin', 'tron'];
const SERVICES: readonly Service[] = ['buy', 'sell', 'send', 'swap', 'gas-sponsored-send', 'batched-send'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const ASSET_ID = /^[A-Z0-9][A-Z0-9-]{0,15}$/;
const FIAT_CODE = /^[A-Z]{3}$/;
const COUNTRY = /^[A-Z]{2}$/;
const SLUG = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const MONEY = /^(0|[1-9][0-9]{0,77})$/;
const DAY_MS = 86_400_000;

// ---- field readers: each checks one value and names its path ----

function obj(v: unknown, field: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw invalid(field === '' ? 'config' : field, 'must be an object');
  return v as Obj;
}

/** An object with only `allowed` keys (an unknown one is named). */
function fields(v: unknown, field: string, allowed: readonly string[]): Obj {
  const o = obj(v, field);
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw invalid(join(field, k), 'unknown field');
  return o;
}

function join(field: string, key: string): string {
  return field === '' ? key : `${field}.${key}`;
}

function arr(v: unknown, field: string, min: number, max: number): unknown[] {
  if (!Array.isArray(v) || v.length < min || v.length > max)
    throw invalid(field, `must be an array of ${min}..${max} items`);
  return v;
}

function str(v: unknown, field: string, pattern?: RegExp, hint?: string, maxLength = 512): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength)
    throw invalid(field, `must be a non-empty string of at most ${maxLength} characters`);
  if (pattern && !pattern.test(v)) throw invalid(field, hint ?? `must match ${pattern}`);
  return v;
}

function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw invalid(field, `must be an integer in ${min}..${max}`);
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw invalid(field, 'must be true or false');
  return v;
}

function oneOf<T extends string>(v: unknown, field: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !values.includes(v as T))
    throw invalid(field, `must be one of ${values.join(', ')}`);
  return v as T;
}

/** Money: a decimal string of an integer (never a JSON number, which may have lost digits). */
function money(v: unknown, field: string, opts: { positive: boolean }): bigint {
  const hint = 'must be a decimal string of an integer, e.g. "100000" (a JSON number may lose digits)';
  if (typeof v !== 'string' || !MONEY.test(v)) throw invalid(field, hint);
  const n = BigInt(v);
  if (opts.positive && n === 0n) throw invalid(field, 'must be greater than zero');
  return n;
}

function httpUrl(v: unknown, field: string): string {
  const s = str(v, field, undefined, undefined, 2048);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw invalid(field, 'must be an absolute http(s) URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw invalid(field, 'must be an http(s) URL');
  return s.replace(/\/+$/, '');
}

function filePath(v: unknown, field: string, baseDir: string): string {
  const s = str(v, field, undefined, undefined, 4096);
  return isAbsolute(s) ? s : resolve(baseDir, s);
}

function unique<T>(items: T[], key: (t: T) => string, field: (i: number) => string): void {
  const seen = new Set<string>();
  items.forEach((t, i) => {
    const k = key(t);
    if (seen.has(k)) throw invalid(field(i), `"${k}" appears twice`);
    seen.add(k);
  });
}

/** A secret given inline, as {file: path} (relative to baseDir, trailing newline dropped) or {env: NAME}. */
function secret(v: unknown, field: string, o: ParseOptions): string {
  if (typeof v === 'string') return str(v, field, undefined, undefined, 4096);
  const ref = fields(v, field, ['file', 'env']);
  if ((ref.file === undefined) === (ref.env === undefined))
    throw invalid(field, 'must be a string, {file: path} or {env: NAME}');
  if (ref.env !== undefined) {
    const name = str(ref.env, `${field}.env`, /^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name');
    const value = o.env?.[name];
    if (value === undefined || value === '') throw invalid(`${field}.env`, `variable ${name} is not set`);
    return value;
  }
  const path = filePath(ref.file, `${field}.file`, o.baseDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw invalid(`${field}.file`, `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw invalid(`${field}.file`, `${path} is empty`);
  return value;
}

/** A Standard Webhooks secret: whsec_ and the base64 of 24..64 random bytes. */
function webhookSecret(v: unknown, field: string, o: ParseOptions): string {
  const s = secret(v, field, o);
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(s);
  const bytes = m ? Buffer.from(m[1]!, 'base64').length : 0;
  if (!m || bytes < 24 || bytes > 64)
    throw invalid(field, 'must be whsec_ followed by the base64 of 24..64 random bytes');
  return s;
}

// ---- sections ----

const TOP_LEVEL = [
  'listen',
  'database',
  'custody',
  'assets',
  'fiat',
  'tiers',
  'spreads',
  'pricing',
  'quotes',
  'payments',
  'deskApproval',
  'autoConfirm',
  'compliance',
  'webhooks',
  'apiKeys',
  'logLevel',
] as const;

/** Validates a parsed configuration file; relative paths resolve against `baseDir`. */
export function parseConfig(json: unknown, o: ParseOptions): OtcConfig {
  const c = fields(json, '', TOP_LEVEL);
  const assets = arr(c.assets, 'assets', 1, 256).map((a, i) => parseAsset(a, `assets[${i}]`));
  unique(
    assets,
    (a) => a.id,
    (i) => `assets[${i}].id`,
  );
  const fiat = arr(c.fiat, 'fiat', 1, 64).map((f, i) => parseFiat(f, `fiat[${i}]`));
  unique(
    fiat,
    (f) => f.code,
    (i) => `fiat[${i}].code`,
  );
  const refs = { assets: new Set(assets.map((a) => a.id)), fiat: new Set(fiat.map((f) => f.code)) };
  const tiers = arr(c.tiers, 'tiers', 1, 64).map((t, i) => parseTier(t, `tiers[${i}]`, refs.fiat));
  unique(
    tiers,
    (t) => t.id,
    (i) => `tiers[${i}].id`,
  );
  const tierIds = new Set(tiers.map((t) => t.id));
  const spreads = arr(c.spreads, 'spreads', 1, 4096).map((s, i) =>
    parseSpread(s, `spreads[${i}]`, { ...refs, tiers: tierIds }),
  );
  unique(
    spreads,
    (s) => `${s.service}/${s.tier}/${s.asset}`,
    (i) => `spreads[${i}]`,
  );
  const config: OtcConfig = {
    listen: parseListen(c.listen),
    database: parseDatabase(c.database, o),
    custody: parseCustody(c.custody, o),
    assets,
    fiat,
    tiers,
    spreads,
    pricing: parsePricing(c.pricing, o),
    quotes: parseQuotes(c.quotes, o),
    payments: parsePayments(c.payments),
    deskApproval: amountsByCurrency(c.deskApproval ?? {}, 'deskApproval', refs.fiat),
    autoConfirm: parseAutoConfirm(c.autoConfirm, refs.fiat, tierIds),
    compliance: parseCompliance(c.compliance, o, refs.assets),
    webhooks: parseWebhooks(c.webhooks, o),
    apiKeys: parseApiKeys(c.apiKeys),
    logLevel: c.logLevel === undefined ? 'info' : oneOf(c.logLevel, 'logLevel', LOG_LEVELS),
  };
  return withRedactedPrinting(config);
}

/** Reads and parses a configuration file; its directory is the base of relative paths. */
export function loadConfigFile(
  path: string,
  env: Record<string, string | undefined> = process.env,
): OtcConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw invalid('config', `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes the text around the error, which may be a secret.
    throw invalid('config', `${path} is not valid JSON`);
  }
  return parseConfig(json, { baseDir: dirname(resolve(path)), env });
}

function parseListen(v: unknown): OtcConfig['listen'] {
  if (v === undefined) return { host: '127.0.0.1', port: 8090 };
  const l = fields(v, 'listen', ['host', 'port']);
  return {
    host: str(l.host, 'listen.host', undefined, undefined, 255),
    port: int(l.port, 'listen.port', 0, 65535),
  };
}

function parseDatabase(v: unknown, o: ParseOptions): OtcConfig['database'] {
  const d = v === undefined ? {} : fields(v, 'database', ['url', 'dataDir']);
  const fromEnv = o.env?.DATABASE_URL;
  const url = fromEnv !== undefined && fromEnv !== '' ? fromEnv : d.url;
  const field = fromEnv !== undefined && fromEnv !== '' ? 'DATABASE_URL' : 'database.url';
  return {
    ...(url !== undefined
      ? { url: str(url, field, /^postgres(ql)?:\/\/./, 'must be a postgres:// or postgresql:// URL', 2048) }
      : {}),
    ...(d.dataDir !== undefined ? { dataDir: filePath(d.dataDir, 'database.dataDir', o.baseDir) } : {}),
  };
}

function parseCustody(v: unknown, o: ParseOptions): OtcConfig['custody'] {
  const c = fields(v, 'custody', ['nodes', 'apiKey', 'requestTimeoutMs', 'pollMs', 'evmRpcUrl']);
  const nodes = arr(c.nodes, 'custody.nodes', 1, 16).map((n, i) => httpUrl(n, `custody.nodes[${i}]`));
  unique(
    nodes,
    (n) => n,
    (i) => `custody.nodes[${i}]`,
  );
  return {
    nodes,
    apiKey: secret(c.apiKey, 'custody.apiKey', o),
    requestTimeoutMs:
      c.requestTimeoutMs === undefined
        ? 10_000
        : int(c.requestTimeoutMs, 'custody.requestTimeoutMs', 100, 120_000),
    pollMs: c.pollMs === undefined ? 1_000 : int(c.pollMs, 'custody.pollMs', 50, 60_000),
    ...(c.evmRpcUrl !== undefined ? { evmRpcUrl: httpUrl(c.evmRpcUrl, 'custody.evmRpcUrl') } : {}),
  };
}

const ADDRESS: Record<Chain, { pattern: RegExp; hint: string }> = {
  evm: { pattern: /^0x[0-9a-fA-F]{40}$/, hint: 'must be a 0x-prefixed 20-byte hex address' },
  tron: { pattern: /^T[1-9A-HJ-NP-Za-km-z]{33}$/, hint: 'must be a base58 TRON address (T…)' },
  bitcoin: {
    pattern: /^(bc1|tb1|bcrt1)[02-9ac-hj-np-z]{8,87}$|^[123mn][1-9A-HJ-NP-Za-km-z]{25,34}$/,
    hint: 'must be a Bitcoin address',
  },
};

function parseAsset(v: unknown, f: string): AssetConfig {
  const a = fields(v, f, [
    'id',
    'chain',
    'network',
    'kind',
    'contract',
    'decimals',
    'wallet',
    'keyId',
    'path',
    'hotAddress',
    'confirmations',
  ]);
  const chain = oneOf(a.chain, `${f}.chain`, CHAINS);
  const kind = oneOf(a.kind, `${f}.kind`, ['native', 'token'] as const);
  const address = ADDRESS[chain];
  if (kind === 'token' && chain === 'bitcoin') throw invalid(`${f}.kind`, 'bitcoin has no tokens');
  if (kind === 'native' && a.contract !== undefined)
    throw invalid(`${f}.contract`, 'only a token has a contract');
  return {
    id: str(a.id, `${f}.id`, ASSET_ID, 'must be 1–16 of A-Z, 0-9, "-" (starting with a letter or digit)'),
    chain,
    network: str(
      a.network,
      `${f}.network`,
      /^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/,
      'must be a CAIP-2 id such as eip155:1',
    ),
    kind,
    ...(kind === 'token'
      ? { contract: str(a.contract, `${f}.contract`, address.pattern, address.hint) }
      : {}),
    decimals: int(a.decimals, `${f}.decimals`, 0, 36),
    wallet: str(a.wallet, `${f}.wallet`, /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be a wallet id'),
    keyId: str(a.keyId, `${f}.keyId`, HEX64, 'must be 64 lowercase hex digits'),
    ...(a.path !== undefined
      ? {
          path: str(
            a.path,
            `${f}.path`,
            /^m(\/[0-9]{1,10})*$/,
            'must be a non-hardened path like m/0/1',
            200,
          ),
        }
      : {}),
    hotAddress: str(a.hotAddress, `${f}.hotAddress`, address.pattern, address.hint),
    confirmations: int(a.confirmations, `${f}.confirmations`, 1, 10_000),
  };
}

function parseFiat(v: unknown, f: string): FiatConfig {
  const x = fields(v, f, ['code', 'decimals', 'account']);
  const a = fields(x.account, `${f}.account`, ['bankName', 'accountName', 'accountNumber', 'bic']);
  return {
    code: str(x.code, `${f}.code`, FIAT_CODE, 'must be an ISO 4217 code such as USD'),
    decimals: int(x.decimals, `${f}.decimals`, 0, 4),
    account: {
      bankName: str(a.bankName, `${f}.account.bankName`, undefined, undefined, 200),
      accountName: str(a.accountName, `${f}.account.accountName`, undefined, undefined, 200),
      accountNumber: str(
        a.accountNumber,
        `${f}.account.accountNumber`,
        /^[A-Za-z0-9 -]{1,64}$/,
        'must be 1–64 letters, digits, spaces or "-"',
      ),
      ...(a.bic !== undefined
        ? {
            bic: str(
              a.bic,
              `${f}.account.bic`,
              /^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$/,
              'must be an 8 or 11 character BIC',
            ),
          }
        : {}),
    },
  };
}

function parseTier(v: unknown, f: string, currencies: Set<string>): TierConfig {
  const t = fields(v, f, ['id', 'limits', 'quotesPerMinute']);
  const limitsObj = obj(t.limits, `${f}.limits`);
  const limits: Record<string, TierLimits> = {};
  for (const [code, l] of Object.entries(limitsObj)) {
    const lf = `${f}.limits.${code}`;
    if (!currencies.has(code)) throw invalid(lf, `currency ${code} is not in fiat`);
    limits[code] = parseLimits(l, lf);
  }
  return {
    id: str(t.id, `${f}.id`, SLUG, 'must be 1–32 of a-z, 0-9, "_", "-"'),
    limits,
    quotesPerMinute: int(t.quotesPerMinute, `${f}.quotesPerMinute`, 1, 100_000),
  };
}

function parseLimits(v: unknown, f: string): TierLimits {
  const l = fields(v, f, ['perOrder', 'daily', 'monthly']);
  const perOrder = money(l.perOrder, `${f}.perOrder`, { positive: true });
  const daily = money(l.daily, `${f}.daily`, { positive: true });
  const monthly = money(l.monthly, `${f}.monthly`, { positive: true });
  if (daily < perOrder) throw invalid(`${f}.daily`, 'must be at least perOrder');
  if (monthly < daily) throw invalid(`${f}.monthly`, 'must be at least daily');
  return { perOrder, daily, monthly };
}

function parseSpread(v: unknown, f: string, refs: { assets: Set<string>; tiers: Set<string> }): SpreadRule {
  const s = fields(v, f, ['service', 'tier', 'asset', 'bps']);
  const tier = str(s.tier, `${f}.tier`);
  if (tier !== '*' && !refs.tiers.has(tier)) throw invalid(`${f}.tier`, `tier ${tier} is not in tiers`);
  const asset = str(s.asset, `${f}.asset`);
  if (asset !== '*' && !refs.assets.has(asset))
    throw invalid(`${f}.asset`, `asset ${asset} is not in assets`);
  return {
    service: oneOf(s.service, `${f}.service`, SERVICES),
    tier,
    asset,
    bps: int(s.bps, `${f}.bps`, 0, 5000),
  };
}

function parsePricing(v: unknown, o: ParseOptions): PricingConfig {
  const p = fields(v, 'pricing', ['source', 'maxAgeMs']);
  const s = obj(p.source, 'pricing.source');
  const kind = oneOf(s.kind, 'pricing.source.kind', ['static', 'http'] as const);
  const publicKey = (x: unknown) =>
    str(x, 'pricing.source.publicKey', HEX64, 'must be an Ed25519 public key as 64 lowercase hex digits');
  let source: PricingConfig['source'];
  if (kind === 'static') {
    fields(s, 'pricing.source', ['kind', 'file', 'publicKey']);
    source = {
      kind,
      file: filePath(s.file, 'pricing.source.file', o.baseDir),
      publicKey: publicKey(s.publicKey),
    };
  } else {
    fields(s, 'pricing.source', ['kind', 'url', 'timeoutMs', 'publicKey']);
    source = {
      kind,
      url: httpUrl(s.url, 'pricing.source.url'),
      timeoutMs: int(s.timeoutMs, 'pricing.source.timeoutMs', 50, 30_000),
      ...(s.publicKey !== undefined ? { publicKey: publicKey(s.publicKey) } : {}),
    };
  }
  return {
    source,
    maxAgeMs: p.maxAgeMs === undefined ? 60_000 : int(p.maxAgeMs, 'pricing.maxAgeMs', 1_000, DAY_MS),
  };
}

function parseQuotes(v: unknown, o: ParseOptions): OtcConfig['quotes'] {
  const q = fields(v, 'quotes', ['firmTtlMs', 'indicativeTtlMs', 'signingKey']);
  const hex = secret(q.signingKey, 'quotes.signingKey', o);
  if (!/^([0-9a-fA-F]{2}){32,256}$/.test(hex))
    throw invalid('quotes.signingKey', 'must be hex of 32..256 bytes (64+ hex digits)');
  return {
    firmTtlMs: q.firmTtlMs === undefined ? 30_000 : int(q.firmTtlMs, 'quotes.firmTtlMs', 1_000, 3_600_000),
    indicativeTtlMs:
      q.indicativeTtlMs === undefined
        ? 60_000
        : int(q.indicativeTtlMs, 'quotes.indicativeTtlMs', 1_000, DAY_MS),
    signingKey: Uint8Array.from(Buffer.from(hex, 'hex')),
  };
}

function parsePayments(v: unknown): OtcConfig['payments'] {
  if (v === undefined) return { windowMs: DAY_MS };
  const p = fields(v, 'payments', ['windowMs']);
  return { windowMs: int(p.windowMs, 'payments.windowMs', 60_000, 30 * DAY_MS) };
}

function amountsByCurrency(v: unknown, f: string, currencies: Set<string>): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const [code, amount] of Object.entries(obj(v, f))) {
    if (!currencies.has(code)) throw invalid(`${f}.${code}`, `currency ${code} is not in fiat`);
    out[code] = money(amount, `${f}.${code}`, { positive: false });
  }
  return out;
}

function parseAutoConfirm(v: unknown, currencies: Set<string>, tiers: Set<string>): OtcConfig['autoConfirm'] {
  // Absent: no fiat-rail webhook auto-confirms anything; an ops maker confirms every payment.
  if (v === undefined) return { maxAmount: {}, tiers: [], allowFirstOrder: false };
  const a = fields(v, 'autoConfirm', ['maxAmount', 'tiers', 'allowFirstOrder']);
  const list = arr(a.tiers, 'autoConfirm.tiers', 0, 64).map((t, i) => {
    const id = str(t, `autoConfirm.tiers[${i}]`);
    if (!tiers.has(id)) throw invalid(`autoConfirm.tiers[${i}]`, `tier ${id} is not in tiers`);
    return id;
  });
  return {
    maxAmount: amountsByCurrency(a.maxAmount, 'autoConfirm.maxAmount', currencies),
    tiers: list,
    allowFirstOrder: bool(a.allowFirstOrder, 'autoConfirm.allowFirstOrder'),
  };
}

function parseCompliance(v: unknown, o: ParseOptions, assets: Set<string>): OtcConfig['compliance'] {
  const c =
    v === undefined
      ? {}
      : fields(v, 'compliance', ['denylistFile', 'screeningHook', 'blockedCountries', 'assetRestrictions']);
  const countries = (x: unknown, f: string) =>
    arr(x, f, 0, 300).map((y, i) =>
      str(y, `${f}[${i}]`, COUNTRY, 'must be an ISO 3166-1 alpha-2 code such as DE'),
    );
  const hook =
    c.screeningHook === undefined
      ? undefined
      : fields(c.screeningHook, 'compliance.screeningHook', ['url', 'timeoutMs']);
  return {
    ...(c.denylistFile !== undefined
      ? { denylistFile: filePath(c.denylistFile, 'compliance.denylistFile', o.baseDir) }
      : {}),
    ...(hook
      ? {
          screeningHook: {
            url: httpUrl(hook.url, 'compliance.screeningHook.url'),
            timeoutMs: int(hook.timeoutMs, 'compliance.screeningHook.timeoutMs', 50, 30_000),
          },
        }
      : {}),
    blockedCountries:
      c.blockedCountries === undefined ? [] : countries(c.blockedCountries, 'compliance.blockedCountries'),
    assetRestrictions:
      c.assetRestrictions === undefined
        ? []
        : arr(c.assetRestrictions, 'compliance.assetRestrictions', 0, 1024).map((r, i) => {
            const f = `compliance.assetRestrictions[${i}]`;
            const x = fields(r, f, ['asset', 'countries']);
            const asset = str(x.asset, `${f}.asset`);
            if (!assets.has(asset)) throw invalid(`${f}.asset`, `asset ${asset} is not in assets`);
            return { asset, countries: countries(x.countries, `${f}.countries`) };
          }),
  };
}

function parseWebhooks(v: unknown, o: ParseOptions): OtcConfig['webhooks'] {
  if (v === undefined) return {};
  const w = fields(v, 'webhooks', ['outbound', 'inbound']);
  const out: OtcConfig['webhooks'] = {};
  if (w.outbound !== undefined) {
    const x = fields(w.outbound, 'webhooks.outbound', ['url', 'secret', 'timeoutMs']);
    out.outbound = {
      url: httpUrl(x.url, 'webhooks.outbound.url'),
      secret: webhookSecret(x.secret, 'webhooks.outbound.secret', o),
      timeoutMs:
        x.timeoutMs === undefined ? 10_000 : int(x.timeoutMs, 'webhooks.outbound.timeoutMs', 100, 60_000),
    };
  }
  if (w.inbound !== undefined) {
    const x = fields(w.inbound, 'webhooks.inbound', ['secret', 'toleranceSeconds']);
    out.inbound = {
      secret: webhookSecret(x.secret, 'webhooks.inbound.secret', o),
      toleranceSeconds:
        x.toleranceSeconds === undefined
          ? 300
          : int(x.toleranceSeconds, 'webhooks.inbound.toleranceSeconds', 1, 3_600),
    };
  }
  return out;
}

function parseApiKeys(v: unknown): OtcConfig['apiKeys'] {
  const keys = arr(v, 'apiKeys', 1, 1024).map((k, i) => {
    const f = `apiKeys[${i}]`;
    const x = fields(k, f, ['id', 'role', 'sha256']);
    return {
      id: str(x.id, `${f}.id`, KEY_ID, 'must be 1–64 of letters, digits, ".", "_", "-"'),
      role: oneOf<Role>(x.role, `${f}.role`, ROLES),
      sha256: str(
        x.sha256,
        `${f}.sha256`,
        HEX64,
        'must be the SHA-256 of the key as 64 lowercase hex digits',
      ),
    };
  });
  unique(
    keys,
    (k) => k.id,
    (i) => `apiKeys[${i}].id`,
  );
  unique(
    keys,
    (k) => k.sha256,
    (i) => `apiKeys[${i}].sha256`,
  );
  return keys;
}

const REDACTED = '<redacted>';

/** JSON.stringify and util.inspect of the config show every secret as <redacted>. */
function withRedactedPrinting(config: OtcConfig): OtcConfig {
  const redacted = () => ({
    ...config,
    custody: { ...config.custody, apiKey: REDACTED },
    quotes: { ...config.quotes, signingKey: REDACTED },
    webhooks: {
      ...(config.webhooks.outbound ? { outbound: { ...config.webhooks.outbound, secret: REDACTED } } : {}),
      ...(config.webhooks.inbound ? { inbound: { ...config.webhooks.inbound, secret: REDACTED } } : {}),
    },
  });
  Object.defineProperty(config, 'toJSON', {
    value: () =>
      JSON.parse(JSON.stringify(redacted(), (_k, x) => (typeof x === 'bigint' ? x.toString() : x))),
    enumerable: false,
  });
  Object.defineProperty(config, inspect.custom, {
    value: (_depth: number, options: object) => `OtcConfig ${inspect(redacted(), { ...options, depth: 4 })}`,
    enumerable: false,
  });
  return config;
}
