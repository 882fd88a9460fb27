// The `coffer` command: node admin (init, start, status), key generation, wallets, signing, request
// and session status, peers, and audit verification — against a node's API through @coffer/client,
// or (audit only) offline against a node's SQLite file. Every command takes --json (one JSON document
// on stdout, nothing else) and prints a readable form otherwise. Exit codes (README): 0 ok,
// 1 operation failed, 2 usage error (the message names the flag), 3 cannot reach the node.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import {
  CofferApiError,
  CofferClient,
  CofferConnectionError,
  CofferResponseError,
  SCHEME_IDS,
  SESSION_STATUSES,
  type SessionStatus,
  type SigningRequest,
  type Wallet,
} from '@coffer/client';

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

/** Bad flags or arguments; the message names the flag. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'usage';
}

/** The operation ran and its answer is "no" (audit chain broken, no such address, node exited non-zero). */
export class OperationFailed extends Error {
  override readonly name = 'OperationFailed';
  constructor(
    readonly code: string,
    message: string,
    readonly result?: unknown,
  ) {
    super(message);
  }
}

export type Io = {
  out: (text: string) => void;
  err: (text: string) => void;
  env: Record<string, string | undefined>;
};

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | string[] | undefined>;
type Ctx = { values: Values; positionals: string[]; json: boolean; io: Io };
type Command = {
  usage: string;
  summary: string;
  options: Options;
  /** Names of the positionals accepted, in order (each also settable by the flag of the same name). */
  positionals?: string[];
  run: (ctx: Ctx) => Promise<unknown>;
};

const GLOBAL: Options = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};
const API: Options = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  'api-key-file': { type: 'string' },
  'timeout-ms': { type: 'string' },
};

const HEX64 = /^[0-9a-f]{64}$/;

const COMMANDS: Record<string, Command> = {
  'node init': {
    usage: 'coffer node init --config FILE',
    summary: "create the node's KEK, identity and X25519 key; print the public keys peers pin",
    options: { config: { type: 'string' } },
    run: (c) => runNode('init', c),
  },
  'node start': {
    usage: 'coffer node start --config FILE',
    summary: "serve the node (runs until stopped; the node's own JSON log lines go to stdout)",
    options: { config: { type: 'string' } },
    run: (c) => runNode('start', c),
  },
  'node status': {
    usage: 'coffer node status [--url URL]',
    summary: 'liveness and readiness of a node',
    options: API,
    run: async (c) => {
      const client = clientFrom(c);
      const health = await client.health();
      const ready = await client.ready();
      return { node: health.node, health: health.status, ready: ready.status };
    },
  },
  keygen: {
    usage:
      'coffer keygen --scheme SCHEME --threshold T --parties N [--nodes a,b,c] [--label TEXT] [--url URL] [--api-key KEY]',
    summary: `distributed key generation (schemes: ${SCHEME_IDS.join(', ')})`,
    options: {
      ...API,
      scheme: { type: 'string' },
      threshold: { type: 'string' },
      parties: { type: 'string' },
      nodes: { type: 'string' },
      label: { type: 'string' },
    },
    run: async (c) => {
      const scheme = oneOf(required(c, 'scheme'), SCHEME_IDS, 'scheme');
      const threshold = integer(required(c, 'threshold'), 'threshold');
      const parties = integer(required(c, 'parties'), 'parties');
      const nodes = optional(c, 'nodes')
        ?.split(',')
        .map((n) => n.trim());
      if (nodes?.some((n) => !/^[a-z0-9][a-z0-9-]{0,31}$/.test(n)))
        throw new UsageError('--nodes must be a comma-separated list of node ids');
      const label = optional(c, 'label');
      return clientFrom(c).keygen({
        scheme,
        threshold,
        parties,
        ...(nodes ? { nodes } : {}),
        ...(label !== undefined ? { label } : {}),
      });
    },
  },
  'wallet list': {
    usage: 'coffer wallet list [--url URL] [--api-key KEY]',
    summary: 'wallets the node holds a share of',
    options: API,
    run: async (c) => ({ wallets: await clientFrom(c).wallets() }),
  },
  'wallet show': {
    usage: 'coffer wallet show (WALLET | --wallet WALLET) [--url URL] [--api-key KEY]',
    summary: 'one wallet with its addresses',
    options: { ...API, wallet: { type: 'string' } },
    positionals: ['wallet'],
    run: async (c) => clientFrom(c).wallet(walletId(c)),
  },
  'wallet address': {
    usage: 'coffer wallet address (WALLET | --wallet WALLET) [--chain evm|tron|bitcoinP2wpkh|bitcoinP2tr]',
    summary: "a wallet's addresses, or the one for --chain",
    options: { ...API, wallet: { type: 'string' }, chain: { type: 'string' } },
    positionals: ['wallet'],
    run: async (c) => {
      const id = walletId(c);
      const chain = optional(c, 'chain');
      if (chain !== undefined && !/^[A-Za-z0-9]{1,32}$/.test(chain))
        throw new UsageError('--chain must be an address kind such as evm or bitcoinP2tr');
      const wallet = await clientFrom(c).wallet(id);
      const addresses = wallet.addresses ?? {};
      if (chain === undefined) return { walletId: id, addresses };
      const address = addresses[chain];
      if (address === undefined)
        throw new OperationFailed(
          'no-address',
          `wallet ${id} (${wallet.scheme}) has no ${chain} address; it has: ${Object.keys(addresses).join(', ') || 'none'}`,
        );
      return { walletId: id, chain, address };
    },
  },
  sign: {
    usage:
      'coffer sign --wallet WALLET --digest HEX [--path m/0/1] [--idempotency-key KEY] [--url URL] [--api-key KEY]',
    summary: 'threshold-sign a digest (32 bytes; the message itself for eddsa-ed25519)',
    options: {
      ...API,
      wallet: { type: 'string' },
      digest: { type: 'string' },
      path: { type: 'string' },
      'idempotency-key': { type: 'string' },
    },
    run: async (c) => {
      const id = walletId(c);
      const digest = required(c, 'digest').toLowerCase().replace(/^0x/, '');
      if (!/^([0-9a-f]{2}){1,4096}$/.test(digest))
        throw new UsageError('--digest must be hex (an even number of hex digits, 1–4096 bytes)');
      const path = optional(c, 'path');
      if (path !== undefined && !/^m(\/[0-9]{1,10})*$/.test(path))
        throw new UsageError('--path must be a non-hardened BIP32 path such as m/0/1');
      const idempotencyKey = optional(c, 'idempotency-key');
      return clientFrom(c).sign({
        walletId: id,
        digest,
        ...(path !== undefined ? { path } : {}),
        ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
      });
    },
  },
  'request show': {
    usage: 'coffer request show (REQUEST | --request REQUEST) [--url URL] [--api-key KEY]',
    summary: 'status, signers and signature of a signing request',
    options: { ...API, request: { type: 'string' } },
    positionals: ['request'],
    run: async (c) => {
      const id = required(c, 'request');
      if (!/^req-[0-9a-f]{24}$/.test(id))
        throw new UsageError('--request must look like req-<24 hex digits>');
      return clientFrom(c).request(id);
    },
  },
  'session list': {
    usage: `coffer session list [--status ${SESSION_STATUSES.join('|')}] [--limit N] [--url URL] [--api-key KEY]`,
    summary: 'sessions, newest first, with status, round, reason and culprits',
    options: { ...API, status: { type: 'string' }, limit: { type: 'string' } },
    run: async (c) => {
      const s = optional(c, 'status');
      const status = s === undefined ? undefined : oneOf(s, SESSION_STATUSES, 'status');
      const l = optional(c, 'limit');
      const limit = l === undefined ? undefined : integer(l, 'limit', 1, 1000);
      const sessions = await clientFrom(c).sessions({
        ...(status ? { status: status as SessionStatus } : {}),
        ...(limit !== undefined ? { limit } : {}),
      });
      return { sessions };
    },
  },
  'peer list': {
    usage: 'coffer peer list [--url URL] [--api-key KEY]',
    summary: "the node's identity, its pinned peers and their bans",
    options: API,
    run: async (c) => clientFrom(c).peers(),
  },
  'peer clear-ban': {
    usage: 'coffer peer clear-ban (PEER | --peer PEER) [--url URL] [--api-key KEY]',
    summary: 'an operator clears a ban on a peer',
    options: { ...API, peer: { type: 'string' } },
    positionals: ['peer'],
    run: async (c) => {
      const peer = required(c, 'peer');
      if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(peer)) throw new UsageError('--peer must be a node id');
      return { peer, ...(await clientFrom(c).clearBan(peer)) };
    },
  },
  'audit verify': {
    usage:
      'coffer audit verify [--url URL] [--api-key KEY]  |  coffer audit verify (--db FILE | --data-dir DIR) --identity-key HEX',
    summary:
      "check the audit hash chain and checkpoint signatures: by the node, or offline on its SQLite file with the node's pinned identity key",
    options: {
      ...API,
      db: { type: 'string' },
      'data-dir': { type: 'string' },
      'identity-key': { type: 'string' },
    },
    run: auditVerify,
  },
};

const GROUPS = ['node', 'wallet', 'request', 'session', 'peer', 'audit'];

/** Runs one command line; returns the exit code. Never throws. */
export async function run(argv: string[], io: Io): Promise<number> {
  const json = argv.includes('--json');
  try {
    const { name, rest } = commandName(argv);
    if (name === undefined) {
      if (argv.includes('--help') || argv.includes('-h')) {
        io.out(help());
        return EXIT.ok;
      }
      throw new UsageError(unknownCommand(rest));
    }
    const cmd = COMMANDS[name]!;
    const options = { ...GLOBAL, ...cmd.options };
    let parsed: { values: Values; positionals: string[] };
    try {
      parsed = parseArgs({ args: rest, options, strict: true, allowPositionals: true }) as typeof parsed;
    } catch (e) {
      // node:util messages name the flag ("Unknown option '--x'", "Option '--url <value>' argument missing").
      const message = (e as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '');
      throw new UsageError(`${message} (usage: ${cmd.usage})`);
    }
    if (parsed.values.help) {
      io.out(`${cmd.usage}\n  ${cmd.summary}\n`);
      return EXIT.ok;
    }
    const names = cmd.positionals ?? [];
    if (parsed.positionals.length > names.length)
      throw new UsageError(`unexpected argument "${parsed.positionals[names.length]}" (usage: ${cmd.usage})`);
    for (const [i, p] of parsed.positionals.entries()) {
      const flag = names[i]!;
      if (parsed.values[flag] !== undefined)
        throw new UsageError(`--${flag} given both as an argument and as a flag`);
      parsed.values[flag] = p;
    }
    const result = await cmd.run({ values: parsed.values, positionals: parsed.positionals, json, io });
    if (result !== undefined) io.out(json ? `${JSON.stringify(result)}\n` : human(name, result));
    return EXIT.ok;
  } catch (e) {
    return fail(e, json, io);
  }
}

/**
 * The command is the first one or two words; `--json` may come before them (`coffer --json wallet list`).
 * Returns the command's remaining arguments, or the words that named no command.
 */
function commandName(argv: string[]): { name: string | undefined; rest: string[] } {
  const words: number[] = [];
  for (const [i, a] of argv.entries()) {
    if (a === '--json') continue;
    if (a.startsWith('-') || words.length === 2) break;
    words.push(i);
  }
  const [first, second] = words.map((i) => argv[i]!);
  const without = (n: number) => argv.filter((_, i) => !words.slice(0, n).includes(i));
  if (first !== undefined && GROUPS.includes(first)) {
    const name = second !== undefined ? `${first} ${second}` : undefined;
    if (name !== undefined && COMMANDS[name]) return { name, rest: without(2) };
    return { name: undefined, rest: [first, ...(second !== undefined ? [second] : [])] };
  }
  if (first !== undefined && COMMANDS[first]) return { name: first, rest: without(1) };
  return { name: undefined, rest: first !== undefined ? [first] : [] };
}

function unknownCommand(words: string[]): string {
  if (words.length === 0) return 'no command given (the command comes before its flags)';
  const [group] = words;
  const subs = Object.keys(COMMANDS)
    .filter((n) => n.startsWith(`${group} `))
    .map((n) => n.slice(group!.length + 1));
  if (subs.length > 0)
    return words.length === 1
      ? `"${group}" needs a subcommand: ${subs.join(', ')}`
      : `unknown command "${words.join(' ')}"; "${group}" has: ${subs.join(', ')}`;
  return `unknown command "${words.join(' ')}"; see coffer --help`;
}

function fail(e: unknown, json: boolean, io: Io): number {
  let exit: number;
  let error: Record<string, unknown>;
  if (e instanceof UsageError) {
    exit = EXIT.usage;
    error = { code: e.code, message: e.message };
  } else if (e instanceof CofferConnectionError) {
    exit = EXIT.unreachable;
    error = e.toJSON();
  } else if (e instanceof CofferApiError || e instanceof CofferResponseError) {
    exit = EXIT.failed;
    error = e.toJSON();
  } else if (e instanceof OperationFailed) {
    exit = EXIT.failed;
    error = { code: e.code, message: e.message };
  } else {
    // Unexpected: name and message only (no stack, no cause chain that might hold a secret).
    exit = EXIT.failed;
    error = { code: 'internal', message: `${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? e}` };
  }
  const result = e instanceof OperationFailed ? e.result : undefined;
  if (json) io.out(`${JSON.stringify({ ...(result !== undefined ? { result } : {}), error })}\n`);
  else if (result !== undefined) io.out(humanValue(result));
  const field = typeof error.field === 'string' ? ` (field: ${error.field})` : '';
  const culprits = Array.isArray(error.culprits) ? ` (culprits: ${error.culprits.join(', ')})` : '';
  const status = typeof error.status === 'number' ? `HTTP ${error.status} ` : '';
  io.err(`coffer: ${error.message}${field}${culprits} [${status}${error.code}]\n`);
  if (e instanceof UsageError && !json) io.err('run coffer --help for the commands and their flags\n');
  return exit;
}

// ---- flags ----

function optional(c: Ctx, flag: string): string | undefined {
  const v = c.values[flag];
  return typeof v === 'string' ? v : undefined;
}

function required(c: Ctx, flag: string): string {
  const v = optional(c, flag);
  if (v === undefined || v.length === 0) throw new UsageError(`missing --${flag}`);
  return v;
}

function integer(v: string, flag: string, min = 1, max = 1_000_000): number {
  if (!/^[0-9]{1,9}$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max}`);
  return Number(v);
}

function oneOf<T extends string>(v: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(v))
    throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}`);
  return v as T;
}

function walletId(c: Ctx): string {
  const id = required(c, 'wallet').toLowerCase();
  if (!HEX64.test(id)) throw new UsageError('--wallet must be a wallet id (64 hex digits)');
  return id;
}

function clientFrom(c: Ctx): CofferClient {
  const url = optional(c, 'url') ?? c.io.env.COFFER_URL;
  if (url === undefined || url === '') throw new UsageError('missing --url (or COFFER_URL)');
  const apiKey = apiKeyFrom(c);
  const t = optional(c, 'timeout-ms');
  const timeoutMs = t === undefined ? undefined : integer(t, 'timeout-ms', 1, 3_600_000);
  try {
    return new CofferClient({
      url,
      ...(apiKey !== undefined ? { apiKey } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs, sessionTimeoutMs: timeoutMs } : {}),
    });
  } catch (e) {
    const m = (e as Error).message;
    const flag = m.startsWith('apiKey') ? '--api-key' : '--url';
    throw new UsageError(`${flag}: ${m.replace(/^(url|apiKey) /, '')}`);
  }
}

/** --api-key, else --api-key-file (keeps the key out of the process list), else COFFER_API_KEY. */
function apiKeyFrom(c: Ctx): string | undefined {
  const flag = optional(c, 'api-key');
  const file = optional(c, 'api-key-file');
  if (flag !== undefined && file !== undefined)
    throw new UsageError('give either --api-key or --api-key-file');
  if (flag !== undefined) return flag;
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new UsageError(
        `--api-key-file: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    const key = text.trim();
    if (key === '' || key.includes('\n'))
      throw new UsageError('--api-key-file must hold one key on one line');
    return key;
  }
  return c.io.env.COFFER_API_KEY || undefined;
}

// ---- node init / start: the signer-node entry point as a child process ----

async function runNode(kind: 'init' | 'start', c: Ctx): Promise<unknown> {
  const config = required(c, 'config');
  if (!existsSync(config)) throw new UsageError(`--config: no such file ${config}`);
  // signer-node/src/main.ts sits next to the dev-cluster module the package exports.
  const main = fileURLToPath(new URL('../main.ts', import.meta.resolve('@coffer/signer-node/dev-cluster')));
  const tsx = import.meta.resolve('tsx');
  const child = spawn(process.execPath, ['--import', tsx, main, kind, '--config', config], {
    stdio: ['ignore', kind === 'init' ? 'pipe' : 'inherit', 'inherit'],
  });
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve(exitCode));
  }).finally(() => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  });
  if (code !== 0)
    throw new OperationFailed(
      'node-failed',
      `signer node ${kind} failed (exit ${code ?? 'by signal'}); its message is above`,
    );
  if (kind === 'start') return undefined;
  try {
    return JSON.parse(stdout.trim()) as unknown;
  } catch {
    throw new OperationFailed('node-failed', 'signer node init printed no JSON result');
  }
}

// ---- audit verify ----

/** The node's database file inside its data directory (signer-node/src/main.ts DATABASE_FILE). */
const DATABASE_FILE = 'node.sqlite';

async function auditVerify(c: Ctx): Promise<unknown> {
  const db = optional(c, 'db');
  const dataDir = optional(c, 'data-dir');
  const key = optional(c, 'identity-key');
  let result: { ok: boolean; entries: number; checkpoints: number; problems: string[] };
  let source: Record<string, string>;
  if (db !== undefined || dataDir !== undefined) {
    if (db !== undefined && dataDir !== undefined)
      throw new UsageError('give either --db or --data-dir, not both');
    if (optional(c, 'url') !== undefined)
      throw new UsageError('--url cannot be combined with --db or --data-dir');
    if (key === undefined)
      throw new UsageError("missing --identity-key (the node's pinned Ed25519 key, 64 hex)");
    if (!HEX64.test(key.toLowerCase())) throw new UsageError('--identity-key must be 64 hex digits');
    const file = db ?? join(dataDir!, DATABASE_FILE);
    if (!existsSync(file))
      throw new UsageError(`${db !== undefined ? '--db' : '--data-dir'}: no such file ${file}`);
    result = await verifyOffline(file, key.toLowerCase());
    source = { database: file };
  } else {
    if (key !== undefined)
      throw new UsageError('--identity-key is for offline checks with --db or --data-dir');
    const client = clientFrom(c);
    result = await client.auditVerify();
    source = { node: client.url };
  }
  const out = { ...source, ...result };
  if (!result.ok)
    throw new OperationFailed(
      'audit-verification-failed',
      `audit log verification failed: ${result.problems[0]}`,
      out,
    );
  return out;
}

async function verifyOffline(file: string, identityKeyHex: string) {
  const [{ default: Database }, { AuditLog }] = await Promise.all([
    import('better-sqlite3'),
    import('@coffer/signer-node/audit'),
  ]);
  let db: InstanceType<typeof Database>;
  try {
    // Read-only: verification must not migrate, checkpoint or otherwise touch the evidence.
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new OperationFailed(
      'database-unreadable',
      `cannot open ${file} read-only: ${(e as Error).message}`,
    );
  }
  try {
    return new AuditLog(db).verify(Buffer.from(identityKeyHex, 'hex'));
  } catch (e) {
    throw new OperationFailed(
      'database-unreadable',
      `cannot read the audit log in ${file}: ${(e as Error).message}`,
    );
  } finally {
    db.close();
  }
}

// ---- readable output ----

function human(name: string, r: unknown): string {
  const v = r as Record<string, unknown>;
  switch (name) {
    case 'node init':
      return [
        `initialised ${v.node}`,
        `  identityKey:   ${v.identityKey}`,
        `  encryptionKey: ${v.encryptionKey}`,
        "pin both keys in every peer's config (peers[].identityKey / encryptionKey)",
        '',
      ].join('\n');
    case 'keygen':
    case 'wallet show':
      return walletText(r as Wallet);
    case 'wallet list': {
      const ws = v.wallets as Wallet[];
      if (ws.length === 0) return 'no wallets\n';
      return `${ws.map((w) => `${w.id}  ${w.scheme}  ${w.threshold}-of-${w.parties}  ${w.label ?? ''}`.trimEnd()).join('\n')}\n`;
    }
    case 'wallet address':
      if (typeof v.address === 'string') return `${v.address}\n`;
      return humanValue(v.addresses);
    case 'sign':
    case 'request show':
      return requestText(r as SigningRequest);
    case 'session list': {
      const ss = v.sessions as Array<Record<string, unknown>>;
      if (ss.length === 0) return 'no sessions\n';
      return `${ss
        .map((s) => {
          const culprits = (s.culprits as string[]).length
            ? ` culprits=${(s.culprits as string[]).join(',')}`
            : '';
          const reason = s.reason ? ` reason="${s.reason}"` : '';
          return `${s.createdAt}  ${s.id}  ${s.kind} ${s.scheme}  ${s.status} (round ${s.round})${reason}${culprits}`;
        })
        .join('\n')}\n`;
    }
    case 'audit verify': {
      const intact = v.ok ? 'audit log intact\n' : '';
      // Without a checkpoint the chain is checked but nothing was signed, so the key was not exercised.
      const unsigned =
        v.checkpoints === 0
          ? "note: no signed checkpoint yet, so the node's identity key was not checked (a node signs one every 64 entries and when it stops)\n"
          : '';
      return `${humanValue({ ...v, problems: undefined })}${intact}${unsigned}`;
    }
    default:
      return humanValue(r);
  }
}

function walletText(w: Wallet): string {
  const lines = [
    `wallet ${w.id}`,
    `  scheme:       ${w.scheme} (${w.threshold}-of-${w.parties})`,
    `  public key:   ${w.publicKey}`,
    `  participants: ${w.participants.join(', ')}`,
    `  created:      ${w.createdAt}`,
  ];
  if (w.label) lines.push(`  label:        ${w.label}`);
  if (w.lockedReason) lines.push(`  LOCKED:       ${w.lockedReason}`);
  for (const [k, a] of Object.entries(w.addresses ?? {})) lines.push(`  ${`${k}:`.padEnd(14)}${a}`);
  return `${lines.join('\n')}\n`;
}

function requestText(r: SigningRequest): string {
  const lines = [
    `request ${r.id}: ${r.status}`,
    `  wallet:    ${r.walletId} (path ${r.path})`,
    `  digest:    ${r.digest}`,
  ];
  if (r.signers.length) lines.push(`  signers:   ${r.signers.join(', ')}`);
  if (r.signature) lines.push(`  signature: ${r.signature}`);
  if (r.error) lines.push(`  error:     ${r.error}`);
  return `${lines.join('\n')}\n`;
}

function humanValue(v: unknown, indent = ''): string {
  if (typeof v !== 'object' || v === null) return `${indent}${String(v)}\n`;
  let out = '';
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) continue;
    if (Array.isArray(x)) {
      out += `${indent}${k}:${x.length === 0 ? ' none' : ''}\n`;
      for (const item of x) out += `${indent}  - ${typeof item === 'object' ? JSON.stringify(item) : item}\n`;
    } else if (typeof x === 'object' && x !== null) out += `${indent}${k}:\n${humanValue(x, `${indent}  `)}`;
    else out += `${indent}${k}: ${x}\n`;
  }
  return out;
}

function help(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.split(' [')[0]!.length));
  const lines = Object.values(COMMANDS).map(
    (c) => `  ${c.usage.split(' [')[0]!.padEnd(width)}  ${c.summary}`,
  );
  return [
    'usage: coffer COMMAND [flags]',
    '',
    ...lines,
    '',
    'every command: --json (one JSON document on stdout), --help',
    'API commands: --url (or COFFER_URL), --api-key | --api-key-file (or COFFER_API_KEY), --timeout-ms',
    'exit codes: 0 ok, 1 operation failed, 2 usage error, 3 cannot reach the node',
    '',
  ].join('\n');
}
