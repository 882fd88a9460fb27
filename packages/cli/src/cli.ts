// The `coffer` command: node admin (init, start, status), key generation, wallets, signing, request
// and session status, peers, and audit verification — against a node's API through @coffer/client,
// or (audit only) offline against a node's SQLite file. Every command takes --json (one JSON document
// on stdout, nothing else) and prints a readable form otherwise. Exit codes (README): 0 ok,
// 1 operation failed, 2 usage error (the message names the flag), 3 cannot reach the node.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import {
  type ApprovalWire,
  CofferApiError,
  CofferClient,
  CofferConnectionError,
  CofferResponseError,
  type PolicyDecision,
  REQUEST_STATUSES,
  type RequestStatus,
  type RequestView,
  SCHEME_IDS,
  SESSION_STATUSES,
  type SessionStatus,
  type TransferRequestBody,
  type Wallet,
} from '@coffer/client';
import type { SecretSource } from '@coffer/hsm';
import { PolicyError } from '@coffer/policy/errors';
import type { Confirm } from './approve.ts';
import { ApproverKeyError, NotConfirmed, NotWaiting, RequestCheckError } from './errors.ts';

// The chain decoders, the policy engine and libsodium load only for the commands that use them.
const approving = () => import('./approve.ts');
const keyFiles = () => import('./approver-key.ts');
const policyDocuments = () => import('@coffer/policy/document');
const policyWire = () => import('@coffer/policy/wire');

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
    readonly field?: string,
  ) {
    super(message);
  }
}

export type Io = {
  out: (text: string) => void;
  err: (text: string) => void;
  env: Record<string, string | undefined>;
  /** Asks a yes/no question on the terminal; absent when stdin is not a terminal. */
  confirm?: Confirm;
};

type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | string[] | undefined>;
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

const TRANSFER: Options = {
  wallet: { type: 'string' },
  'key-id': { type: 'string' },
  path: { type: 'string' },
  chain: { type: 'string' },
  to: { type: 'string' },
  amount: { type: 'string' },
  token: { type: 'string' },
  'idempotency-key': { type: 'string' },
  reference: { type: 'string' },
  'unsigned-transaction': { type: 'string' },
  'price-snapshot': { type: 'string' },
};

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
      'coffer sign --wallet WALLET --digest HEX [--policy-wallet ID] [--path m/0/1] [--idempotency-key KEY] [--url URL] [--api-key KEY]',
    summary:
      'threshold-sign a raw digest (32 bytes; the message itself for eddsa-ed25519) where a policy rule allows raw digests',
    options: {
      ...API,
      wallet: { type: 'string' },
      'policy-wallet': { type: 'string' },
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
      const policyWallet = optional(c, 'policy-wallet');
      if (policyWallet !== undefined && !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(policyWallet))
        throw new UsageError('--policy-wallet must be a policy wallet id such as hot-eth');
      return clientFrom(c).sign({
        walletId: id,
        ...(policyWallet !== undefined ? { wallet: policyWallet } : {}),
        digest,
        ...(path !== undefined ? { path } : {}),
        ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
      });
    },
  },
  'request show': {
    usage: 'coffer request show (REQUEST | --request REQUEST) [--url URL] [--api-key KEY]',
    summary:
      'a transfer or raw-digest request: status, intent, policy decision and trace, approvals, signature',
    options: { ...API, request: { type: 'string' } },
    positionals: ['request'],
    run: async (c) => {
      const id = required(c, 'request');
      if (!/^req-[0-9a-f]{24}$/.test(id))
        throw new UsageError('--request must look like req-<24 hex digits>');
      return clientFrom(c).request(id);
    },
  },
  'approver keygen': {
    usage: 'coffer approver keygen --id ID --out FILE [--passphrase-file FILE]',
    summary:
      'a new Ed25519 approver (or policy-admin) key, sealed under a passphrase (COFFER_APPROVER_PASSPHRASE or --passphrase-file)',
    options: { id: { type: 'string' }, out: { type: 'string' }, 'passphrase-file': { type: 'string' } },
    run: async (c) => {
      const id = required(c, 'id');
      const out = required(c, 'out');
      const passphrase = passphraseFrom(c);
      return (await keyFiles()).createApproverKeyFile({ id, out, passphrase });
    },
  },
  'approver show': {
    usage: 'coffer approver show (KEY | --key KEY)',
    summary: "a key file's id and public key (no passphrase needed)",
    options: { key: { type: 'string' } },
    positionals: ['key'],
    run: async (c) => {
      const file = (await keyFiles()).readApproverKeyFile(required(c, 'key'));
      return { id: file.id, publicKey: file.publicKey };
    },
  },
  'transfer create': {
    usage:
      'coffer transfer create --wallet W --key-id K [--path m] [--chain evm] --to ADDR --amount BASE_UNITS [--token CONTRACT] --idempotency-key K [--reference TEXT] [--unsigned-transaction HEX] [--price-snapshot FILE]',
    summary: 'a transfer request: the node builds and decodes the transaction and evaluates the policy',
    options: { ...API, ...TRANSFER },
    run: async (c) => clientFrom(c).createTransfer(transferBody(c)),
  },
  'request list': {
    usage: `coffer request list [--status ${REQUEST_STATUSES.join('|')}] [--url URL] [--api-key KEY]`,
    summary: 'transfer and raw-digest requests, optionally in one status',
    options: { ...API, status: { type: 'string' } },
    run: async (c) => {
      const s = optional(c, 'status');
      const status = s === undefined ? undefined : oneOf(s, REQUEST_STATUSES, 'status');
      return { requests: await clientFrom(c).requests(status ? { status: status as RequestStatus } : {}) };
    },
  },
  'request cancel': {
    usage: 'coffer request cancel (REQUEST | --request REQUEST) [--url URL] [--api-key KEY]',
    summary: 'the maker who initiated a request cancels it before signing',
    options: { ...API, request: { type: 'string' } },
    positionals: ['request'],
    run: async (c) => clientFrom(c).cancel(requestId(c)),
  },
  approve: {
    usage:
      'coffer approve (REQUEST | --request REQUEST) --key FILE [--yes] [--ttl 1h] [--passphrase-file FILE]',
    summary:
      'decode the request here, recompute its digest, show it, ask, then sign and post an approval (refuses if the node disagrees)',
    options: {
      ...API,
      request: { type: 'string' },
      key: { type: 'string' },
      yes: { type: 'boolean' },
      ttl: { type: 'string' },
      'passphrase-file': { type: 'string' },
    },
    positionals: ['request'],
    run: async (c) => {
      const id = requestId(c);
      const ttlMs = duration(optional(c, 'ttl') ?? '1h', 'ttl');
      const confirm = confirmFrom(c, 'approve');
      const client = clientFrom(c);
      const key = await (await keyFiles()).openApproverKeyFile(required(c, 'key'), passphraseFrom(c));
      return (await approving()).approveRequest({
        client,
        requestId: id,
        key,
        ttlMs,
        ...(confirm ? { confirm } : {}),
      });
    },
  },
  veto: {
    usage: 'coffer veto (REQUEST | --request REQUEST) --key FILE [--yes] [--passphrase-file FILE]',
    summary: 'cancel a request (e.g. in its veto window) by signing its locally recomputed digest',
    options: {
      ...API,
      request: { type: 'string' },
      key: { type: 'string' },
      yes: { type: 'boolean' },
      'passphrase-file': { type: 'string' },
    },
    positionals: ['request'],
    run: async (c) => {
      const id = requestId(c);
      const confirm = confirmFrom(c, 'veto');
      const client = clientFrom(c);
      const key = await (await keyFiles()).openApproverKeyFile(required(c, 'key'), passphraseFrom(c));
      return (await approving()).vetoRequest({ client, requestId: id, key, ...(confirm ? { confirm } : {}) });
    },
  },
  'policy show': {
    usage: 'coffer policy show [--url URL] [--api-key KEY]',
    summary: "the node's active policy version and every version it knows",
    options: API,
    run: async (c) => clientFrom(c).policy(),
  },
  'policy sign': {
    usage: 'coffer policy sign --key FILE (DOC | --doc DOC) [--out FILE] [--passphrase-file FILE]',
    summary:
      'a policy admin signs a policy document (or adds a signature to a signed version file); writes the signed version',
    options: {
      key: { type: 'string' },
      doc: { type: 'string' },
      out: { type: 'string' },
      'passphrase-file': { type: 'string' },
    },
    positionals: ['doc'],
    run: policySign,
  },
  'policy publish': {
    usage: 'coffer policy publish (FILE | --file FILE) [--url URL] [--api-key KEY]',
    summary:
      'send a signed policy version to a node (it verifies the admin signatures and the timelock itself)',
    options: { ...API, file: { type: 'string' } },
    positionals: ['file'],
    run: async (c) => {
      const file = required(c, 'file');
      const wire = readJson(file, 'file');
      const [{ parsePolicy, policyDigest }, { signedPolicyVersionFromWire }] = await Promise.all([
        policyDocuments(),
        policyWire(),
      ]);
      let digest: string;
      try {
        const signed = signedPolicyVersionFromWire(wire, 'file');
        digest = policyDigest(parsePolicy(signed.document));
      } catch (e) {
        throw policyFailure(e);
      }
      const result = await clientFrom(c).publishPolicyVersion(wire as Record<string, unknown>);
      if (result.digest !== digest)
        throw new OperationFailed(
          'digest-mismatch',
          `the node recorded digest ${result.digest}, this machine computes ${digest}`,
        );
      return result;
    },
  },
  'policy dry-run': {
    usage:
      'coffer policy dry-run --wallet W --key-id K --to ADDR --amount BASE_UNITS [--token CONTRACT] [--approvals FILE] … (the flags of transfer create)',
    summary:
      'evaluate a transfer under the active policy, without side effects; prints the decision and its trace',
    options: { ...API, ...TRANSFER, approvals: { type: 'string' } },
    run: async (c) => {
      const body = transferBody(c, { idempotencyKey: `dry-run-${randomBytes(6).toString('hex')}` });
      const file = optional(c, 'approvals');
      let approvals: ApprovalWire[] | undefined;
      if (file !== undefined) {
        const list = readJson(file, 'approvals');
        if (!Array.isArray(list)) throw new UsageError('--approvals must be a JSON array of approvals');
        const { approvalFromWire } = await policyWire();
        try {
          approvals = list.map((a, i) => approvalFromWire(a, `approvals[${i}]`));
        } catch (e) {
          throw policyFailure(e);
        }
      }
      return clientFrom(c).dryRun({ ...body, ...(approvals ? { approvals } : {}) });
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

const GROUPS = ['node', 'wallet', 'request', 'session', 'peer', 'audit', 'approver', 'transfer', 'policy'];

/** Runs one command line; returns the exit code. Never throws. */
export async function run(argv: string[], io: Io): Promise<number> {
  const json = argv.includes('--json');
  const otc = argv.findIndex((a) => a !== '--json');
  if (argv[otc] === 'otc')
    return (await import('./otc.ts')).runOtc(
      argv.filter((_, i) => i !== otc),
      io,
    );
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
    error = { code: e.code, message: e.message, ...(e.field !== undefined ? { field: e.field } : {}) };
  } else if (e instanceof RequestCheckError) {
    exit = EXIT.failed;
    error = { code: e.code, message: e.message, field: e.field };
  } else if (e instanceof ApproverKeyError) {
    // A missing passphrase or a bad id is the caller's input; a refused key file is a failed operation.
    exit = e.code === 'passphrase-unavailable' || e.code === 'invalid-argument' ? EXIT.usage : EXIT.failed;
    error = { code: e.code, message: e.message };
  } else if (e instanceof NotConfirmed || e instanceof NotWaiting) {
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
  const reason = typeof error.reason === 'string' ? ` (reason: ${error.reason})` : '';
  const status = typeof error.status === 'number' ? `HTTP ${error.status} ` : '';
  io.err(`coffer: ${error.message}${field}${reason}${culprits} [${status}${error.code}]\n`);
  if (e instanceof UsageError && !json) io.err('run coffer --help for the commands and their flags\n');
  return exit;
}

// ---- flags ----

export function optional(c: { values: Values }, flag: string): string | undefined {
  const v = c.values[flag];
  return typeof v === 'string' ? v : undefined;
}

export function required(c: { values: Values }, flag: string): string {
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

// ---- transfers, approvals, policy ----

function requestId(c: Ctx): string {
  const id = required(c, 'request');
  if (!/^req-[0-9a-f]{24}$/.test(id)) throw new UsageError('--request must look like req-<24 hex digits>');
  return id;
}

/** `30s`, `15m`, `1h`, `2d` or plain milliseconds; from one second to 30 days. */
function duration(v: string, flag: string): number {
  const m = /^([0-9]{1,9})(ms|s|m|h|d)?$/.exec(v);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m?.[2] ?? 'ms'] ?? 1;
  const ms = m ? Number(m[1]) * unit : Number.NaN;
  if (!(ms >= 1_000 && ms <= 30 * 86_400_000))
    throw new UsageError(`--${flag} must be a duration such as 30m, 1h or 2d (1 s to 30 d)`);
  return ms;
}

/** --passphrase-file, else COFFER_APPROVER_PASSPHRASE; never a flag value (it would show in ps). */
function passphraseFrom(c: Ctx): SecretSource {
  const file = optional(c, 'passphrase-file');
  if (file !== undefined) return { file };
  if (c.io.env.COFFER_APPROVER_PASSPHRASE) return { env: 'COFFER_APPROVER_PASSPHRASE' };
  throw new UsageError('missing --passphrase-file (or COFFER_APPROVER_PASSPHRASE)');
}

/** --yes skips the prompt; without it a terminal is needed to ask. */
function confirmFrom(c: Ctx, action: string): Confirm | undefined {
  if (c.values.yes === true) return undefined;
  if (c.io.confirm === undefined)
    throw new UsageError(`stdin is not a terminal: pass --yes to ${action} without a prompt`);
  return c.io.confirm;
}

function readJson(file: string, flag: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--${flag}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new UsageError(`--${flag}: ${file} is not JSON`);
  }
}

function policyFailure(e: unknown): unknown {
  if (e instanceof PolicyError) return new OperationFailed(e.code, e.message, undefined, e.field);
  return e;
}

function transferBody(c: Ctx, defaults: { idempotencyKey?: string } = {}): TransferRequestBody {
  const wallet = required(c, 'wallet');
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(wallet))
    throw new UsageError('--wallet must be a policy wallet id such as hot-eth');
  const keyId = required(c, 'key-id').toLowerCase();
  if (!HEX64.test(keyId)) throw new UsageError('--key-id must be a wallet key id (64 hex digits)');
  const path = optional(c, 'path');
  if (path !== undefined && !/^m(\/[0-9]{1,10})*$/.test(path))
    throw new UsageError('--path must be a non-hardened BIP32 path such as m/0/1');
  const chain = oneOf(optional(c, 'chain') ?? 'evm', ['evm', 'bitcoin', 'tron'] as const, 'chain');
  const to = required(c, 'to');
  if (!/^[A-Za-z0-9]{20,100}$/.test(to)) throw new UsageError('--to must be an address');
  const amount = required(c, 'amount');
  if (!/^[1-9][0-9]{0,77}$/.test(amount))
    throw new UsageError('--amount must be a positive integer of base units (e.g. wei), no decimals');
  const token = optional(c, 'token');
  if (token !== undefined && !/^[A-Za-z0-9]{20,100}$/.test(token))
    throw new UsageError('--token must be a token contract address');
  const idempotencyKey = optional(c, 'idempotency-key') ?? defaults.idempotencyKey;
  if (idempotencyKey === undefined) throw new UsageError('missing --idempotency-key');
  if (!/^[\x21-\x7e]{1,128}$/.test(idempotencyKey))
    throw new UsageError('--idempotency-key must be 1–128 printable characters without spaces');
  const reference = optional(c, 'reference');
  if (reference !== undefined && reference.length > 200)
    throw new UsageError('--reference must be at most 200 characters');
  const unsigned = optional(c, 'unsigned-transaction');
  if (unsigned !== undefined && !/^(0x)?([0-9a-fA-F]{2})+$/.test(unsigned))
    throw new UsageError('--unsigned-transaction must be hex');
  const priceFile = optional(c, 'price-snapshot');
  const priceSnapshot = priceFile === undefined ? undefined : readJson(priceFile, 'price-snapshot');
  if (priceSnapshot !== undefined && (typeof priceSnapshot !== 'object' || priceSnapshot === null))
    throw new UsageError('--price-snapshot must hold a JSON object');
  return {
    wallet,
    keyId,
    ...(path !== undefined ? { path } : {}),
    chain,
    asset: token === undefined ? { kind: 'native' } : { kind: 'token', contract: token },
    to,
    amount,
    idempotencyKey,
    ...(reference !== undefined ? { reference } : {}),
    ...(unsigned !== undefined ? { unsignedTransaction: unsigned } : {}),
    ...(priceSnapshot !== undefined ? { priceSnapshot: priceSnapshot as Record<string, unknown> } : {}),
  };
}

/** Signs a document (or a signed version file, adding this admin's signature) with the admin's key. */
async function policySign(c: Ctx): Promise<unknown> {
  const docFile = required(c, 'doc');
  const input = readJson(docFile, 'doc');
  const isSigned =
    typeof input === 'object' && input !== null && 'document' in input && 'signatures' in input;
  const [
    { parsePolicy, policyDigest },
    { signedPolicyVersionFromWire },
    { signPolicy },
    { openApproverKeyFile },
  ] = await Promise.all([policyDocuments(), policyWire(), import('@coffer/policy/governance'), keyFiles()]);
  let document: unknown;
  let signatures: Array<{ adminId: string; signature: string }> = [];
  try {
    if (isSigned) {
      const signed = signedPolicyVersionFromWire(input, 'doc');
      document = signed.document;
      signatures = signed.signatures;
    } else document = input;
    const policy = parsePolicy(document);
    const key = await openApproverKeyFile(required(c, 'key'), passphraseFrom(c));
    const mine = signPolicy(policy, key.id, key.key);
    const signedVersion = {
      document,
      signatures: [...signatures.filter((s) => s.adminId !== key.id), mine],
      // Each node records when it received the version itself; the file carries no claim.
      receivedAtMs: 0,
    };
    const out = optional(c, 'out');
    const summary = {
      version: policy.version,
      digest: policyDigest(policy),
      signers: signedVersion.signatures.map((s) => s.adminId),
    };
    if (out === undefined) return signedVersion;
    // Written beside the target and renamed over it: a crash leaves the old file or the new one.
    const tmp = `${out}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify(signedVersion, null, 2)}\n`, { mode: 0o644, flag: 'wx' });
      renameSync(tmp, out);
    } catch (e) {
      throw new UsageError(`--out: cannot write ${out} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return { file: out, ...summary };
  } catch (e) {
    throw policyFailure(e);
  }
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
    case 'approver keygen':
      return [
        `approver key ${v.id} written to ${v.file} (mode 0600, sealed under the passphrase)`,
        `  publicKey: ${v.publicKey}`,
        'list { "id", "publicKey" } in an approver group (or as a governance admin) of the policy',
        '',
      ].join('\n');
    case 'transfer create':
    case 'request cancel':
      return requestViewText(r as RequestView);
    case 'request list': {
      const rs = v.requests as RequestView[];
      if (rs.length === 0) return 'no requests\n';
      return `${rs
        .map((x) => {
          const what = x.intent
            ? `${x.intent.amount} ${x.intent.asset.symbol} → ${x.intent.to}`
            : `digest ${x.digest}`;
          return `${x.createdAt}  ${x.id}  ${x.status.padEnd(17)} ${x.wallet}  ${what}`;
        })
        .join('\n')}\n`;
    }
    case 'approve':
      return `approved ${v.request} as ${v.approverId} (digest ${String(v.requestDigest).slice(0, 16)}…, expires ${new Date(v.expiresAtMs as number).toISOString()})\nrequest is now ${v.status}; approvals: ${(v.approvals as string[]).join(', ') || 'none'}\n`;
    case 'veto':
      return `vetoed ${v.request} as ${v.approverId}; request is now ${v.status}\n`;
    case 'policy show': {
      const active = v.active as { version: number; digest: string; activeFromMs: number } | null;
      const lines = [
        active
          ? `active policy: version ${active.version} (digest ${active.digest}, since ${new Date(active.activeFromMs).toISOString()})`
          : 'no active policy: every signature is refused',
      ];
      for (const x of v.versions as Array<{ version: number; digest: string; activeFromMs: number }>)
        lines.push(
          `  version ${x.version}  ${x.digest}  active from ${new Date(x.activeFromMs).toISOString()}`,
        );
      return `${lines.join('\n')}\n`;
    }
    case 'policy sign':
      if (typeof v.file === 'string')
        return `signed policy version ${v.version} (digest ${v.digest}); signatures: ${(v.signers as string[]).join(', ')}\nwritten to ${v.file}\n`;
      return `${JSON.stringify(r, null, 2)}\n`;
    case 'policy publish':
      return `published policy version ${v.version} (digest ${v.digest}); active from ${new Date(v.activeFromMs as number).toISOString()}\n`;
    case 'policy dry-run':
      return decisionText(r as PolicyDecision);
    case 'sign':
    case 'request show':
      return requestViewText(r as RequestView);
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

function requestViewText(r: RequestView): string {
  const lines = [
    `request ${r.id} (${r.kind}): ${r.status}`,
    `  wallet:    ${r.wallet} (key ${r.keyId}, path ${r.path})`,
  ];
  lines.push(`  operator:  ${r.operator}`);
  if (r.intent) {
    const i = r.intent;
    lines.push(
      `  transfer:  ${i.amount} base units of ${i.asset.symbol}${i.asset.contract ? ` (${i.asset.contract})` : ''}`,
      `  from:      ${i.from}`,
      `  to:        ${i.to}`,
      `  network:   ${i.chain} ${i.network}, fee at most ${i.fee}`,
    );
  }
  if (r.digest) lines.push(`  digest:    ${r.digest}`);
  lines.push(`  request digest: ${r.requestDigest}`);
  if (r.decision)
    lines.push(
      ...decisionText(r.decision)
        .trimEnd()
        .split('\n')
        .map((l) => `  ${l}`),
    );
  if (r.approvals.length)
    lines.push(
      `  approvals: ${r.approvals.map((a) => `${a.approverId} (until ${new Date(a.expiresAtMs).toISOString()})`).join(', ')}`,
    );
  if (r.signers.length) lines.push(`  signers:   ${r.signers.join(', ')}`);
  if (r.signature) lines.push(`  signature: ${r.signature}`);
  if (r.txHash) lines.push(`  tx hash:   ${r.txHash}`);
  if (r.error) lines.push(`  error:     ${r.error}`);
  return `${lines.join('\n')}\n`;
}

function decisionText(d: PolicyDecision): string {
  const lines = [`policy: ${d.outcome} (version ${d.policyVersion})`];
  for (const reason of d.reasons) lines.push(`  reason: ${reason.code}: ${reason.detail}`);
  if (d.delay) lines.push(`  delayed until ${new Date(d.delay.delayedUntilMs).toISOString()} (veto window)`);
  lines.push('  trace:', ...humanValue(d.trace, '    ').trimEnd().split('\n'));
  return `${lines.join('\n')}\n`;
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
    'approve / veto / policy sign: --key FILE, passphrase from --passphrase-file or COFFER_APPROVER_PASSPHRASE',
    'exit codes: 0 ok, 1 operation failed, 2 usage error, 3 cannot reach the node',
    'OTC desk commands: coffer otc --help',
    '',
  ].join('\n');
}
