// The configuration parser: a full valid file parses (money to bigint, secrets inline, from files and from
// the environment, DATABASE_URL over database.url, defaults), the parsed config never prints a secret, and
// every kind of bad field — wrong type, range, pattern, enum, unknown field, duplicate, broken
// cross-reference — is refused with an OtcError naming its path.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig } from '../src/config/parse.ts';
import { OtcError } from '../src/errors.ts';

const WHSEC_OUT = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const WHSEC_IN = `whsec_${Buffer.alloc(24, 9).toString('base64')}`;
const SIGNING_KEY = 'a1'.repeat(32);
const KEY_ID = 'c0'.repeat(32);

// biome-ignore lint/suspicious/noExplicitAny: test fixtures are mutated freely, field by field
type Json = Record<string, any>;

function validConfig(): Json {
  return {
    listen: { host: '0.0.0.0', port: 8090 },
    database: { dataDir: 'data/otc' },
    custody: {
      nodes: ['http://127.0.0.1:7001/', 'http://127.0.0.1:7002'],
      apiKey: { file: 'secrets/custody.key' },
      requestTimeoutMs: 5_000,
      pollMs: 500,
    },
    assets: [
      {
        id: 'ETH',
        chain: 'evm',
        network: 'eip155:31337',
        kind: 'native',
        decimals: 18,
        wallet: 'hot-eth',
        keyId: KEY_ID,
        path: 'm/0/0',
        hotAddress: `0x${'1f'.repeat(20)}`,
        confirmations: 3,
      },
      {
        id: 'USDC',
        chain: 'evm',
        network: 'eip155:31337',
        kind: 'token',
        contract: `0x${'2e'.repeat(20)}`,
        decimals: 6,
        wallet: 'hot-eth',
        keyId: KEY_ID,
        hotAddress: `0x${'1f'.repeat(20)}`,
        confirmations: 3,
      },
    ],
    fiat: [
      {
        code: 'USD',
        decimals: 2,
        account: {
          bankName: 'First Bank',
          accountName: 'Desk Ltd',
          accountNumber: '000123456',
          bic: 'FRSTUS33',
        },
      },
      {
        code: 'JPY',
        decimals: 0,
        account: { bankName: 'Bank', accountName: 'Desk KK', accountNumber: '9876' },
      },
    ],
    tiers: [
      {
        id: 'basic',
        limits: { USD: { perOrder: '1000000', daily: '2000000', monthly: '10000000' } },
        quotesPerMinute: 10,
      },
      {
        id: 'pro',
        limits: {
          USD: {
            perOrder: '100000000000000000000000',
            daily: '100000000000000000000000',
            monthly: '900000000000000000000000',
          },
          JPY: { perOrder: '50000000', daily: '50000000', monthly: '500000000' },
        },
        quotesPerMinute: 120,
      },
    ],
    spreads: [
      { service: 'buy', tier: '*', asset: '*', bps: 150 },
      { service: 'buy', tier: 'pro', asset: 'USDC', bps: 20 },
      { service: 'sell', tier: 'pro', asset: '*', bps: 40 },
    ],
    pricing: {
      source: { kind: 'static', file: 'prices.json', publicKey: 'b2'.repeat(32) },
      maxAgeMs: 30_000,
    },
    quotes: { firmTtlMs: 20_000, indicativeTtlMs: 60_000, signingKey: { env: 'OTC_QUOTE_KEY' } },
    payments: { windowMs: 3_600_000 },
    deskApproval: { USD: '5000000', JPY: '0' },
    autoConfirm: { maxAmount: { USD: '100000' }, tiers: ['basic'], allowFirstOrder: false },
    compliance: {
      denylistFile: '/etc/coffer/denylist.txt',
      screeningHook: { url: 'https://screening.example/check', timeoutMs: 2_000 },
      blockedCountries: ['KP', 'IR'],
      assetRestrictions: [{ asset: 'USDC', countries: ['CU'] }],
    },
    webhooks: {
      outbound: { url: 'https://backend.example/hooks', secret: WHSEC_OUT, timeoutMs: 5_000 },
      inbound: { secret: { file: 'secrets/rail.whsec' }, toleranceSeconds: 300 },
    },
    apiKeys: [
      { id: 'backend-1', role: 'backend', sha256: 'd4'.repeat(32) },
      { id: 'alice', role: 'ops-maker', sha256: 'e5'.repeat(32) },
      { id: 'bob', role: 'ops-checker', sha256: 'f6'.repeat(32) },
    ],
    logLevel: 'debug',
  };
}

describe('parseConfig', () => {
  let dir: string;
  const env = { OTC_QUOTE_KEY: SIGNING_KEY };
  const parse = (json: unknown, e: Record<string, string | undefined> = env) =>
    parseConfig(json, { baseDir: dir, env: e });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'otc-config-'));
    mkdirSync(join(dir, 'secrets'));
    writeFileSync(join(dir, 'secrets/custody.key'), 'maker-scoped-node-key\n', { mode: 0o600 });
    writeFileSync(join(dir, 'secrets/rail.whsec'), `${WHSEC_IN}\n`, { mode: 0o600 });
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('parses a full valid configuration', () => {
    const c = parse(validConfig());
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 8090 });
    expect(c.database).toEqual({ dataDir: join(dir, 'data/otc') });
    expect(c.custody).toEqual({
      nodes: ['http://127.0.0.1:7001', 'http://127.0.0.1:7002'],
      apiKey: 'maker-scoped-node-key',
      requestTimeoutMs: 5_000,
      pollMs: 500,
    });
    expect(c.assets.map((a) => a.id)).toEqual(['ETH', 'USDC']);
    expect(c.assets[1]).toMatchObject({ kind: 'token', contract: `0x${'2e'.repeat(20)}`, decimals: 6 });
    expect(c.fiat[1]).toEqual({
      code: 'JPY',
      decimals: 0,
      account: { bankName: 'Bank', accountName: 'Desk KK', accountNumber: '9876' },
    });
    // Money is exact: a 24-digit limit is a bigint, not a rounded float.
    expect(c.tiers[1]!.limits.USD!.perOrder).toBe(100000000000000000000000n);
    expect(c.tiers[0]!.limits.USD).toEqual({ perOrder: 1000000n, daily: 2000000n, monthly: 10000000n });
    expect(c.spreads[1]).toEqual({ service: 'buy', tier: 'pro', asset: 'USDC', bps: 20 });
    expect(c.pricing).toEqual({
      source: { kind: 'static', file: join(dir, 'prices.json'), publicKey: 'b2'.repeat(32) },
      maxAgeMs: 30_000,
    });
    expect(c.quotes.signingKey).toEqual(Uint8Array.from(Buffer.from(SIGNING_KEY, 'hex')));
    expect(c.deskApproval).toEqual({ USD: 5000000n, JPY: 0n });
    expect(c.autoConfirm).toEqual({ maxAmount: { USD: 100000n }, tiers: ['basic'], allowFirstOrder: false });
    expect(c.compliance.assetRestrictions).toEqual([{ asset: 'USDC', countries: ['CU'] }]);
    expect(c.webhooks.inbound).toEqual({ secret: WHSEC_IN, toleranceSeconds: 300 });
    expect(c.webhooks.outbound?.secret).toBe(WHSEC_OUT);
    expect(c.apiKeys[1]).toEqual({ id: 'alice', role: 'ops-maker', sha256: 'e5'.repeat(32) });
    expect(c.logLevel).toBe('debug');
  });

  it('fills defaults for the optional sections, and nothing auto-confirms by default', () => {
    const j = validConfig();
    for (const k of [
      'listen',
      'database',
      'payments',
      'deskApproval',
      'autoConfirm',
      'compliance',
      'webhooks',
      'logLevel',
    ])
      delete j[k];
    delete j.custody.requestTimeoutMs;
    delete j.custody.pollMs;
    const c = parse(j);
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8090 });
    expect(c.database).toEqual({});
    expect(c.payments.windowMs).toBe(86_400_000);
    expect(c.deskApproval).toEqual({});
    expect(c.autoConfirm).toEqual({ maxAmount: {}, tiers: [], allowFirstOrder: false });
    expect(c.compliance).toEqual({ blockedCountries: [], assetRestrictions: [] });
    expect(c.webhooks).toEqual({});
    expect(c.logLevel).toBe('info');
    expect(c.custody).toMatchObject({ requestTimeoutMs: 10_000, pollMs: 1_000 });
  });

  it('lets DATABASE_URL override database.url', () => {
    const j = validConfig();
    j.database = { url: 'postgres://desk@db-a/otc' };
    expect(parse(j).database.url).toBe('postgres://desk@db-a/otc');
    const c = parse(j, { ...env, DATABASE_URL: 'postgresql://desk@db-b:5433/otc' });
    expect(c.database.url).toBe('postgresql://desk@db-b:5433/otc');
    expect(() => parse(j, { ...env, DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL: must be a postgres/);
  });

  it('never prints a secret: JSON.stringify and util.inspect redact them', () => {
    const c = parse(validConfig());
    const printed = [JSON.stringify(c), inspect(c, { depth: 10 })];
    for (const text of printed) {
      for (const secret of ['maker-scoped-node-key', WHSEC_OUT, WHSEC_IN, SIGNING_KEY, 'a1,a1'])
        expect(text).not.toContain(secret);
      expect(text).toContain('<redacted>');
      expect(text).toContain('backend-1');
    }
    expect(JSON.parse(printed[0]!).tiers[0].limits.USD.perOrder).toBe('1000000');
  });

  it('loads a file, resolving relative paths against its directory', () => {
    const path = join(dir, 'otc.json');
    writeFileSync(path, JSON.stringify({ ...validConfig(), quotes: { signingKey: SIGNING_KEY } }));
    const c = loadConfigFile(path, {});
    expect(c.custody.apiKey).toBe('maker-scoped-node-key');
    expect(c.quotes).toMatchObject({ firmTtlMs: 30_000, indicativeTtlMs: 60_000 });
    writeFileSync(path, '{"listen": ');
    expect(() => loadConfigFile(path, {})).toThrow(/config: .* is not valid JSON/);
    expect(() => loadConfigFile(join(dir, 'missing.json'), {})).toThrow(
      /cannot read .*missing\.json \(ENOENT\)/,
    );
  });

  type Case = [string, (j: Json) => void, string, RegExp];
  const cases: Case[] = [
    // unknown fields, at every level
    ['unknown top-level field', (j) => (j.listne = {}), 'listne', /unknown field/],
    ['unknown nested field', (j) => (j.assets[1].decimal = 6), 'assets[1].decimal', /unknown field/],
    [
      'unknown field in limits',
      (j) => (j.tiers[0].limits.USD.weekly = '1'),
      'tiers[0].limits.USD.weekly',
      /unknown/,
    ],
    // types and ranges
    ['not an object', (j) => (j.listen = 'localhost:8090'), 'listen', /must be an object/],
    ['port range', (j) => (j.listen.port = 70000), 'listen.port', /0\.\.65535/],
    ['decimals range', (j) => (j.assets[1].decimals = 37), 'assets[1].decimals', /0\.\.36/],
    ['decimals not an integer', (j) => (j.assets[0].decimals = 1.5), 'assets[0].decimals', /integer/],
    ['confirmations ≥ 1', (j) => (j.assets[0].confirmations = 0), 'assets[0].confirmations', /1\.\./],
    ['fiat decimals 0..4', (j) => (j.fiat[0].decimals = 5), 'fiat[0].decimals', /0\.\.4/],
    ['spread bps 0..5000', (j) => (j.spreads[2].bps = 5001), 'spreads[2].bps', /0\.\.5000/],
    ['empty assets', (j) => (j.assets = []), 'assets', /1\.\.256/],
    [
      'boolean',
      (j) => (j.autoConfirm.allowFirstOrder = 'no'),
      'autoConfirm.allowFirstOrder',
      /true or false/,
    ],
    // patterns and enums
    ['asset id pattern', (j) => (j.assets[0].id = 'eth'), 'assets[0].id', /A-Z/],
    ['chain enum', (j) => (j.assets[0].chain = 'solana'), 'assets[0].chain', /one of evm, bitcoin, tron/],
    ['keyId 64 hex', (j) => (j.assets[0].keyId = 'abc'), 'assets[0].keyId', /64 lowercase hex/],
    ['hot address for the chain', (j) => (j.assets[0].hotAddress = 'TXYZ'), 'assets[0].hotAddress', /0x/],
    ['token without contract', (j) => delete j.assets[1].contract, 'assets[1].contract', /non-empty string/],
    [
      'native with contract',
      (j) => (j.assets[0].contract = `0x${'2e'.repeat(20)}`),
      'assets[0].contract',
      /only a token/,
    ],
    ['network CAIP-2', (j) => (j.assets[0].network = 'mainnet'), 'assets[0].network', /CAIP-2/],
    ['ISO 4217 code', (j) => (j.fiat[1].code = 'yen'), 'fiat[1].code', /ISO 4217/],
    ['BIC', (j) => (j.fiat[0].account.bic = 'bank'), 'fiat[0].account.bic', /BIC/],
    ['role enum', (j) => (j.apiKeys[2].role = 'root'), 'apiKeys[2].role', /one of backend, ops-maker/],
    ['key hash', (j) => (j.apiKeys[0].sha256 = 'D4'.repeat(32)), 'apiKeys[0].sha256', /lowercase hex/],
    ['service enum', (j) => (j.spreads[0].service = 'lend'), 'spreads[0].service', /one of buy, sell/],
    [
      'country code',
      (j) => (j.compliance.blockedCountries[1] = 'Iran'),
      'compliance.blockedCountries[1]',
      /3166/,
    ],
    ['log level', (j) => (j.logLevel = 'verbose'), 'logLevel', /one of/],
    ['node URL', (j) => (j.custody.nodes[1] = 'ftp://node'), 'custody.nodes[1]', /http/],
    // money
    [
      'money as a JSON number',
      (j) => (j.tiers[0].limits.USD.daily = 2000000),
      'tiers[0].limits.USD.daily',
      /decimal string/,
    ],
    [
      'money with a point',
      (j) => (j.deskApproval.USD = '50.00'),
      'deskApproval.USD',
      /decimal string of an integer/,
    ],
    [
      'negative money',
      (j) => (j.autoConfirm.maxAmount.USD = '-1'),
      'autoConfirm.maxAmount.USD',
      /decimal string/,
    ],
    [
      'zero limit',
      (j) => (j.tiers[0].limits.USD.perOrder = '0'),
      'tiers[0].limits.USD.perOrder',
      /greater than zero/,
    ],
    [
      'daily below perOrder',
      (j) => (j.tiers[0].limits.USD.daily = '999'),
      'tiers[0].limits.USD.daily',
      /at least perOrder/,
    ],
    // secrets
    [
      'short signing key',
      (j) => (j.quotes.signingKey = 'ab'.repeat(31)),
      'quotes.signingKey',
      /32\.\.256 bytes/,
    ],
    ['signing key not hex', (j) => (j.quotes.signingKey = 'z'.repeat(64)), 'quotes.signingKey', /hex/],
    [
      'secret env unset',
      (j) => (j.quotes.signingKey = { env: 'NOT_SET_ANYWHERE' }),
      'quotes.signingKey.env',
      /not set/,
    ],
    [
      'secret file missing',
      (j) => (j.custody.apiKey = { file: 'secrets/none' }),
      'custody.apiKey.file',
      /ENOENT/,
    ],
    [
      'secret ref with both',
      (j) => (j.custody.apiKey = { file: 'a', env: 'B' }),
      'custody.apiKey',
      /\{file: path\} or \{env/,
    ],
    [
      'webhook secret prefix',
      (j) => (j.webhooks.outbound.secret = 'secret123'),
      'webhooks.outbound.secret',
      /whsec_/,
    ],
    [
      'webhook secret too short',
      (j) => (j.webhooks.outbound.secret = 'whsec_c2hvcnQ='),
      'webhooks.outbound.secret',
      /24\.\.64/,
    ],
    // duplicates
    ['duplicate asset', (j) => (j.assets[1].id = 'ETH'), 'assets[1].id', /"ETH" appears twice/],
    ['duplicate currency', (j) => (j.fiat[1].code = 'USD'), 'fiat[1].code', /appears twice/],
    ['duplicate API key hash', (j) => (j.apiKeys[2].sha256 = 'e5'.repeat(32)), 'apiKeys[2].sha256', /twice/],
    ['duplicate spread rule', (j) => j.spreads.push({ ...j.spreads[1], bps: 30 }), 'spreads[3]', /twice/],
    // cross-references
    ['spread tier exists', (j) => (j.spreads[1].tier = 'vip'), 'spreads[1].tier', /tier vip is not in tiers/],
    [
      'spread asset exists',
      (j) => (j.spreads[1].asset = 'BTC'),
      'spreads[1].asset',
      /asset BTC is not in assets/,
    ],
    [
      'tier currency exists',
      (j) => (j.tiers[1].limits.EUR = j.tiers[1].limits.JPY),
      'tiers[1].limits.EUR',
      /not in fiat/,
    ],
    ['desk approval currency exists', (j) => (j.deskApproval.GBP = '1'), 'deskApproval.GBP', /not in fiat/],
    [
      'auto-confirm currency exists',
      (j) => (j.autoConfirm.maxAmount.EUR = '1'),
      'autoConfirm.maxAmount.EUR',
      /not in fiat/,
    ],
    [
      'auto-confirm tier exists',
      (j) => (j.autoConfirm.tiers = ['basic', 'gold']),
      'autoConfirm.tiers[1]',
      /not in tiers/,
    ],
    [
      'restricted asset exists',
      (j) => (j.compliance.assetRestrictions[0].asset = 'DOGE'),
      'compliance.assetRestrictions[0].asset',
      /not in assets/,
    ],
  ];

  it.each(cases)('refuses %s, naming the field', (_name, mutate, field, reason) => {
    const j = structuredClone(validConfig());
    mutate(j);
    const error = (() => {
      try {
        parse(j);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(OtcError);
    const e = error as OtcError;
    expect(e.code).toBe('invalid-request');
    expect(e.field).toBe(field);
    expect(e.message.startsWith(`${field}: `)).toBe(true);
    expect(e.message).toMatch(reason);
  });

  it('never puts a refused secret into the error message', () => {
    const j = validConfig();
    j.webhooks.outbound.secret = 'not-whsec-but-a-real-password';
    expect(() => parse(j)).toThrow(OtcError);
    try {
      parse(j);
    } catch (e) {
      expect((e as Error).message).not.toContain('real-password');
    }
  });

  it('refuses a configuration that is not an object', () => {
    expect(() => parse([])).toThrow(/config: must be an object/);
  });
});
