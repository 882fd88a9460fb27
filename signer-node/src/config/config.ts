// A signer node's configuration file (JSON): who the node is, where it listens and keeps its data,
// which key-encryption-key backend seals its shares, which peers it trusts (pinned identity and
// encryption keys) and which API keys may call it. Validation is strict and every error names the
// field, so a typo refuses to start rather than running with a default.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Durability } from '../storage/db.ts';

export type SecretRef = { env: string } | { file: string };

export type KekConfig =
  | {
      backend: 'software';
      passphrase: SecretRef;
      /** argon2id cost used by `init` only (tests and demos lower it). */
      argon2id?: { opsLimit: number; memLimitBytes: number };
    }
  | { backend: 'pkcs11'; libraryPath: string; tokenLabel: string; pin: SecretRef };

export type PeerConfig = {
  id: string;
  url: string;
  /** Pinned Ed25519 identity public key (hex, 32 bytes). */
  identityKey: string;
  /** Pinned X25519 public key point-to-point payloads are encrypted to (hex, 32 bytes). */
  encryptionKey: string;
};

export type Scope = 'admin' | 'maker' | 'approver' | 'policy-admin' | 'auditor';
export const SCOPES: readonly Scope[] = ['admin', 'maker', 'approver', 'policy-admin', 'auditor'];

export type ApiKeyConfig = {
  id: string;
  scopes: Scope[];
  /** The policy operator id this key acts as (required for makers). */
  operator?: string;
  /** hex SHA-256 of the bearer token */
  sha256: string;
};

/** Policy governance, fixed at cluster initialisation (signer-node/docs/policy-api.md). */
export type PolicyConfig = {
  governance: {
    admins: { id: string; publicKey: string }[];
    threshold: number;
    timelockMs: number;
  };
  /** Absolute path of the SignedPolicyVersion installed when the database holds no version yet. */
  initialVersionFile?: string;
  /** Absolute path of the local screening denylist (one address per line, '#' comments). */
  denylistFile?: string;
  /** How long the gate waits for peers' limit history (default 3000 ms). */
  historyTimeoutMs: number;
};

export type TokenConfig = { contract: string; symbol: string; decimals: number };

export type ChainsConfig = {
  evm?: {
    rpcUrl?: string;
    chainId: number;
    /** Native asset symbol (default ETH). */
    nativeSymbol: string;
    /** Refuse transactions whose fee bound exceeds this many wei (default 10^17). */
    maxFeeWei: bigint;
    tokens: TokenConfig[];
  };
  tron?: {
    rpcUrl?: string;
    /** mainnet, nile or shasta. */
    network: string;
    maxFeeLimitSun: bigint;
    tokens: TokenConfig[];
  };
  bitcoin?: {
    network: 'mainnet' | 'testnet' | 'regtest';
    /** Refuse PSBTs above these (defaults of @coffer/chains: 500 sat/vB, 0.01 BTC). */
    maxFeeRateSatPerVb?: bigint;
    maxFeeSat?: bigint;
  };
};

export type NodeConfig = {
  nodeId: string;
  listen: { host: string; port: number };
  dataDir: string;
  kek: KekConfig;
  peers: PeerConfig[];
  apiKeys: ApiKeyConfig[];
  timeouts: { roundMs: number; peerRequestMs: number; probeMs: number };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';
  /** ECDSA presignature pool per (wallet, path); poolSize 0 (default) disables it. */
  presign: { poolSize: number; paths: string[] };
  /** Absent: the node refuses every signature. */
  policy?: PolicyConfig;
  chains: ChainsConfig;
  /**
   * When a commit reaches the disk (README "Durability"). `full`: every commit is fsynced (survives power
   * loss). `critical` (default): every commit survives a crash of the process (kill -9); keys, shares,
   * bans, wallet locks, policy versions, approvals, vetoes and cancellations are fsynced when committed
   * (and with them everything committed before); a power loss may roll back the latest signing records.
   */
  durability: Durability;
  /**
   * How long an unsealed share stays in memory after its last use, in ms (README "Share cache");
   * 0 unseals it from the database for every session. Default 60 000.
   */
  shareCacheMs: number;
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`config ${field}: ${message}`);
  }
}

const ID = /^[a-z0-9][a-z0-9-]{0,31}$/;
const HEX32 = /^[0-9a-f]{64}$/;
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'silent'] as const;

type Obj = Record<string, unknown>;

function obj(v: unknown, field: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ConfigError(field, 'must be an object');
  return v as Obj;
}

function only(o: Obj, field: string, keys: readonly string[]): void {
  for (const k of Object.keys(o))
    if (!keys.includes(k)) throw new ConfigError(`${field}.${k}`, 'unknown field');
}

function str(v: unknown, field: string, pattern?: RegExp, hint?: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(field, 'must be a non-empty string');
  if (pattern && !pattern.test(v)) throw new ConfigError(field, hint ?? `must match ${pattern}`);
  return v;
}

function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new ConfigError(field, `must be an integer in ${min}..${max}`);
  return v;
}

function secretRef(v: unknown, field: string): SecretRef {
  const o = obj(v, field);
  only(o, field, ['env', 'file']);
  if ('env' in o && 'file' in o) throw new ConfigError(field, 'give either env or file, not both');
  if ('env' in o)
    return { env: str(o.env, `${field}.env`, /^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a variable name') };
  if ('file' in o) return { file: str(o.file, `${field}.file`) };
  throw new ConfigError(field, 'must have env or file (the secret itself never goes in the config)');
}

function url(v: unknown, field: string): string {
  const s = str(v, field);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new ConfigError(field, 'must be an absolute http(s) URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ConfigError(field, 'must be http or https');
  return s.replace(/\/+$/, '');
}

/** Validates parsed JSON; relative paths are resolved against `baseDir`. */
export function parseConfig(raw: unknown, baseDir: string): NodeConfig {
  const o = obj(raw, '$');
  only(o, '$', [
    'nodeId',
    'listen',
    'dataDir',
    'kek',
    'peers',
    'apiKeys',
    'timeouts',
    'logLevel',
    'policy',
    'chains',
    'presign',
    'durability',
    'shareCacheMs',
  ]);
  const nodeId = str(o.nodeId, 'nodeId', ID, 'must be 1–32 of a-z, 0-9, "-" (starting alphanumeric)');
  const l = obj(o.listen, 'listen');
  only(l, 'listen', ['host', 'port']);
  const listen = { host: str(l.host, 'listen.host'), port: int(l.port, 'listen.port', 0, 65535) };
  const dataDirRaw = str(o.dataDir, 'dataDir');
  const dataDir = isAbsolute(dataDirRaw) ? dataDirRaw : resolve(baseDir, dataDirRaw);
  const kek = parseKek(o.kek, baseDir);
  if (!Array.isArray(o.peers)) throw new ConfigError('peers', 'must be an array');
  const peers = o.peers.map((p, i) => parsePeer(p, `peers[${i}]`));
  const ids = new Set([nodeId]);
  peers.forEach((p, i) => {
    if (ids.has(p.id)) throw new ConfigError(`peers[${i}].id`, `"${p.id}" appears twice (or is this node)`);
    ids.add(p.id);
  });
  const keys = new Set<string>();
  peers.forEach((p, i) => {
    if (keys.has(p.identityKey)) throw new ConfigError(`peers[${i}].identityKey`, 'pinned to two peers');
    keys.add(p.identityKey);
  });
  if (!Array.isArray(o.apiKeys)) throw new ConfigError('apiKeys', 'must be an array');
  const apiKeys = o.apiKeys.map((k, i) => parseApiKey(k, `apiKeys[${i}]`));
  const t = o.timeouts === undefined ? {} : obj(o.timeouts, 'timeouts');
  only(t, 'timeouts', ['roundMs', 'peerRequestMs', 'probeMs']);
  const timeouts = {
    roundMs: t.roundMs === undefined ? 30_000 : int(t.roundMs, 'timeouts.roundMs', 100, 600_000),
    peerRequestMs:
      t.peerRequestMs === undefined ? 5_000 : int(t.peerRequestMs, 'timeouts.peerRequestMs', 50, 60_000),
    probeMs: t.probeMs === undefined ? 1_000 : int(t.probeMs, 'timeouts.probeMs', 50, 60_000),
  };
  let logLevel: NodeConfig['logLevel'] = 'info';
  if (o.logLevel !== undefined) {
    if (!LEVELS.includes(o.logLevel as never))
      throw new ConfigError('logLevel', `must be one of ${LEVELS.join(', ')}`);
    logLevel = o.logLevel as NodeConfig['logLevel'];
  }
  const apiKeyIds = new Set<string>();
  apiKeys.forEach((k, i) => {
    if (apiKeyIds.has(k.id)) throw new ConfigError(`apiKeys[${i}].id`, `"${k.id}" appears twice`);
    apiKeyIds.add(k.id);
  });
  const policy = o.policy === undefined ? undefined : parsePolicyConfig(o.policy, baseDir);
  const chains = o.chains === undefined ? {} : parseChains(o.chains);
  const presign = parsePresign(o.presign);
  let durability: Durability = 'critical';
  if (o.durability !== undefined) {
    if (o.durability !== 'critical' && o.durability !== 'full')
      throw new ConfigError('durability', 'must be "critical" or "full"');
    durability = o.durability;
  }
  const shareCacheMs =
    o.shareCacheMs === undefined ? 60_000 : int(o.shareCacheMs, 'shareCacheMs', 0, 3_600_000);
  return {
    nodeId,
    listen,
    dataDir,
    kek,
    peers,
    apiKeys,
    timeouts,
    logLevel,
    ...(policy ? { policy } : {}),
    chains,
    presign,
    durability,
    shareCacheMs,
  };
}

function parsePresign(v: unknown): NodeConfig['presign'] {
  if (v === undefined) return { poolSize: 0, paths: ['m'] };
  const p = obj(v, 'presign');
  only(p, 'presign', ['poolSize', 'paths']);
  const poolSize = int(p.poolSize, 'presign.poolSize', 0, 64);
  if (p.paths === undefined) return { poolSize, paths: ['m'] };
  if (!Array.isArray(p.paths) || p.paths.length === 0 || p.paths.length > 16)
    throw new ConfigError('presign.paths', 'must be an array of 1..16 derivation paths');
  const paths = p.paths.map((x, i) => {
    const s = str(x, `presign.paths[${i}]`, /^m(\/\d{1,10})*$/, 'must be a non-hardened path like m/0/1');
    if (
      s.length > 200 ||
      s
        .split('/')
        .slice(1)
        .some((n) => Number(n) >= 2 ** 31)
    )
      throw new ConfigError(`presign.paths[${i}]`, 'must be a non-hardened path like m/0/1');
    return s;
  });
  if (new Set(paths).size !== paths.length) throw new ConfigError('presign.paths', 'a path appears twice');
  return { poolSize, paths };
}

const OPERATOR = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,40})$/;

function path(v: unknown, field: string, baseDir: string): string {
  const s = str(v, field);
  return isAbsolute(s) ? s : resolve(baseDir, s);
}

function parsePolicyConfig(v: unknown, baseDir: string): PolicyConfig {
  const p = obj(v, 'policy');
  only(p, 'policy', ['governance', 'initialVersionFile', 'denylistFile', 'historyTimeoutMs']);
  const g = obj(p.governance, 'policy.governance');
  only(g, 'policy.governance', ['admins', 'threshold', 'timelockMs']);
  if (!Array.isArray(g.admins) || g.admins.length === 0 || g.admins.length > 64)
    throw new ConfigError('policy.governance.admins', 'must be an array of 1..64 admins');
  const seen = new Set<string>();
  const keys = new Set<string>();
  const admins = g.admins.map((a, i) => {
    const f = `policy.governance.admins[${i}]`;
    const o = obj(a, f);
    only(o, f, ['id', 'publicKey']);
    const id = str(o.id, `${f}.id`, OPERATOR, 'must be 1–64 of a-z, 0-9, ".", "_", "-"');
    const publicKey = str(o.publicKey, `${f}.publicKey`, HEX32, 'must be 64 lowercase hex digits (Ed25519)');
    if (seen.has(id)) throw new ConfigError(`${f}.id`, `"${id}" appears twice`);
    if (keys.has(publicKey)) throw new ConfigError(`${f}.publicKey`, 'is the key of another admin');
    seen.add(id);
    keys.add(publicKey);
    return { id, publicKey };
  });
  const threshold = int(g.threshold, 'policy.governance.threshold', 1, admins.length);
  const timelockMs = int(g.timelockMs, 'policy.governance.timelockMs', 0, 365 * 86_400_000);
  return {
    governance: { admins, threshold, timelockMs },
    ...(p.initialVersionFile !== undefined
      ? { initialVersionFile: path(p.initialVersionFile, 'policy.initialVersionFile', baseDir) }
      : {}),
    ...(p.denylistFile !== undefined
      ? { denylistFile: path(p.denylistFile, 'policy.denylistFile', baseDir) }
      : {}),
    historyTimeoutMs:
      p.historyTimeoutMs === undefined
        ? 3_000
        : int(p.historyTimeoutMs, 'policy.historyTimeoutMs', 100, 60_000),
  };
}

function parseTokens(v: unknown, field: string): TokenConfig[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 256) throw new ConfigError(field, 'must be an array of at most 256');
  return v.map((t, i) => {
    const f = `${field}[${i}]`;
    const o = obj(t, f);
    only(o, f, ['contract', 'symbol', 'decimals']);
    return {
      contract: str(o.contract, `${f}.contract`),
      symbol: str(o.symbol, `${f}.symbol`, /^[A-Za-z0-9]{1,16}$/, 'must be 1–16 letters or digits'),
      decimals: int(o.decimals, `${f}.decimals`, 0, 77),
    };
  });
}

function bigDecimal(v: unknown, field: string, fallback: bigint): bigint {
  if (v === undefined) return fallback;
  const s = str(v, field, DECIMAL, 'must be a decimal integer string');
  const n = BigInt(s);
  if (n <= 0n) throw new ConfigError(field, 'must be positive');
  return n;
}

function parseChains(v: unknown): ChainsConfig {
  const c = obj(v, 'chains');
  only(c, 'chains', ['evm', 'tron', 'bitcoin']);
  const out: ChainsConfig = {};
  if (c.evm !== undefined) {
    const e = obj(c.evm, 'chains.evm');
    only(e, 'chains.evm', ['rpcUrl', 'chainId', 'nativeSymbol', 'maxFeeWei', 'tokens']);
    out.evm = {
      ...(e.rpcUrl !== undefined ? { rpcUrl: url(e.rpcUrl, 'chains.evm.rpcUrl') } : {}),
      chainId: int(e.chainId, 'chains.evm.chainId', 1, Number.MAX_SAFE_INTEGER),
      nativeSymbol:
        e.nativeSymbol === undefined
          ? 'ETH'
          : str(
              e.nativeSymbol,
              'chains.evm.nativeSymbol',
              /^[A-Za-z0-9]{1,16}$/,
              'must be 1–16 letters or digits',
            ),
      maxFeeWei: bigDecimal(e.maxFeeWei, 'chains.evm.maxFeeWei', 10n ** 17n),
      tokens: parseTokens(e.tokens, 'chains.evm.tokens'),
    };
  }
  if (c.tron !== undefined) {
    const t = obj(c.tron, 'chains.tron');
    only(t, 'chains.tron', ['rpcUrl', 'network', 'maxFeeLimitSun', 'tokens']);
    const network = t.network;
    if (network !== 'mainnet' && network !== 'nile' && network !== 'shasta')
      throw new ConfigError('chains.tron.network', 'must be mainnet, nile or shasta');
    out.tron = {
      ...(t.rpcUrl !== undefined ? { rpcUrl: url(t.rpcUrl, 'chains.tron.rpcUrl') } : {}),
      network,
      maxFeeLimitSun: bigDecimal(t.maxFeeLimitSun, 'chains.tron.maxFeeLimitSun', 100_000_000n),
      tokens: parseTokens(t.tokens, 'chains.tron.tokens'),
    };
  }
  if (c.bitcoin !== undefined) {
    const b = obj(c.bitcoin, 'chains.bitcoin');
    only(b, 'chains.bitcoin', ['network', 'maxFeeRateSatPerVb', 'maxFeeSat']);
    const network = b.network;
    if (network !== 'mainnet' && network !== 'testnet' && network !== 'regtest')
      throw new ConfigError('chains.bitcoin.network', 'must be mainnet, testnet or regtest');
    out.bitcoin = {
      network,
      ...(b.maxFeeRateSatPerVb !== undefined
        ? { maxFeeRateSatPerVb: bigDecimal(b.maxFeeRateSatPerVb, 'chains.bitcoin.maxFeeRateSatPerVb', 1n) }
        : {}),
      ...(b.maxFeeSat !== undefined
        ? { maxFeeSat: bigDecimal(b.maxFeeSat, 'chains.bitcoin.maxFeeSat', 1n) }
        : {}),
    };
  }
  return out;
}

function parseKek(v: unknown, baseDir: string): KekConfig {
  const k = obj(v, 'kek');
  const abs = (r: SecretRef): SecretRef =>
    'file' in r && !isAbsolute(r.file) ? { file: resolve(baseDir, r.file) } : r;
  if (k.backend === 'software') {
    only(k, 'kek', ['backend', 'passphrase', 'argon2id']);
    const out: KekConfig = {
      backend: 'software',
      passphrase: abs(secretRef(k.passphrase, 'kek.passphrase')),
    };
    if (k.argon2id !== undefined) {
      const a = obj(k.argon2id, 'kek.argon2id');
      only(a, 'kek.argon2id', ['opsLimit', 'memLimitBytes']);
      out.argon2id = {
        opsLimit: int(a.opsLimit, 'kek.argon2id.opsLimit', 1, 64),
        memLimitBytes: int(a.memLimitBytes, 'kek.argon2id.memLimitBytes', 8192, 4 * 1024 ** 3),
      };
    }
    return out;
  }
  if (k.backend === 'pkcs11') {
    only(k, 'kek', ['backend', 'libraryPath', 'tokenLabel', 'pin']);
    return {
      backend: 'pkcs11',
      libraryPath: str(k.libraryPath, 'kek.libraryPath'),
      tokenLabel: str(k.tokenLabel, 'kek.tokenLabel'),
      pin: abs(secretRef(k.pin, 'kek.pin')),
    };
  }
  throw new ConfigError('kek.backend', 'must be "software" or "pkcs11"');
}

function parsePeer(v: unknown, field: string): PeerConfig {
  const p = obj(v, field);
  only(p, field, ['id', 'url', 'identityKey', 'encryptionKey']);
  return {
    id: str(p.id, `${field}.id`, ID, 'must be 1–32 of a-z, 0-9, "-"'),
    url: url(p.url, `${field}.url`),
    identityKey: str(
      p.identityKey,
      `${field}.identityKey`,
      HEX32,
      'must be 64 lowercase hex digits (Ed25519 public key)',
    ),
    encryptionKey: str(
      p.encryptionKey,
      `${field}.encryptionKey`,
      HEX32,
      'must be 64 lowercase hex digits (X25519 public key)',
    ),
  };
}

function parseApiKey(v: unknown, field: string): ApiKeyConfig {
  const k = obj(v, field);
  only(k, field, ['id', 'scopes', 'operator', 'sha256']);
  if (!Array.isArray(k.scopes) || k.scopes.length === 0)
    throw new ConfigError(`${field}.scopes`, 'must be a non-empty array');
  const scopes = k.scopes.map((s, i) => {
    if (!SCOPES.includes(s as Scope))
      throw new ConfigError(`${field}.scopes[${i}]`, `must be one of ${SCOPES.join(', ')}`);
    return s as Scope;
  });
  const operator =
    k.operator === undefined
      ? undefined
      : str(k.operator, `${field}.operator`, OPERATOR, 'must be 1–64 of a-z, 0-9, ".", "_", "-"');
  if (scopes.includes('maker') && operator === undefined)
    throw new ConfigError(`${field}.operator`, 'is required for a key with the maker scope');
  return {
    id: str(k.id, `${field}.id`, ID, 'must be 1–32 of a-z, 0-9, "-"'),
    scopes,
    ...(operator !== undefined ? { operator } : {}),
    sha256: str(
      k.sha256,
      `${field}.sha256`,
      HEX32,
      'must be the hex SHA-256 of the token (never the token itself)',
    ),
  };
}

export function loadConfig(path: string): NodeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError('$', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError('$', `${path} is not valid JSON (${(e as Error).message})`);
  }
  return parseConfig(raw, dirname(resolve(path)));
}
