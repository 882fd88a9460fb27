// `coffer otc …`: the OTC desk's operator commands over its HTTP API (otc-client.ts) — orders and their
// events, fiat evidence, payment confirmation, desk approval, cancellation, exception resolution, release
// retry, the emergency freeze, reconciliation, trade exports and audit verification. Like the rest of
// the CLI: --json prints exactly what the API returned (one document); otherwise amounts are shown in
// human units (crypto with the asset's decimals, fiat in major units with its code). Errors go to
// stderr as `code: message (field)`; exit 1 when the API refused, 2 for usage, 3 when unreachable.
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { EXIT, type Io, OperationFailed, optional, required, UsageError, type Values } from './cli.ts';
import { OtcApiError, OtcClient, OtcUnreachable, type Query } from './otc-client.ts';

type Options = NonNullable<ParseArgsConfig['options']>;
type Ctx = { values: Values; io: Io; json: boolean; client: () => OtcClient };
type Json = Record<string, unknown>;
type Command = {
  usage: string;
  summary: string;
  options?: Options;
  /** The positional the command takes (an order id), also settable as --id. */
  id?: boolean;
  run: (c: Ctx) => Promise<unknown>;
  human?: (r: Json, units: Units) => string;
};

const COMMON: Options = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  url: { type: 'string' },
  'token-file': { type: 'string' },
  'timeout-ms': { type: 'string' },
};
const POSTING: Options = { 'idempotency-key': { type: 'string' } };
const ORDER_ID = /^ord_[0-9a-f]{24}$/;
/** ISO 4217 exponents the CLI assumes for --amount in major units; other currencies need --minor. */
export const FIAT_DECIMALS: Record<string, number> = { USD: 2, EUR: 2, GBP: 2, CHF: 2, JPY: 0 };

const COMMANDS: Record<string, Command> = {
  orders: {
    usage: 'coffer otc orders [--status S] [--client ID] [--limit N]',
    summary: 'orders, newest first',
    options: { status: { type: 'string' }, client: { type: 'string' }, limit: { type: 'string' } },
    run: (c) =>
      c.client().get('/v1/orders', {
        status: optional(c, 'status'),
        clientId: optional(c, 'client'),
        limit: optional(c, 'limit'),
      }),
    human: (r, u) => list(r.orders, 'no orders', (o) => orderLine(o, u)),
  },
  order: {
    usage: 'coffer otc order ID',
    summary: 'one order with its payment instructions and every event',
    id: true,
    run: async (c) => {
      const id = orderId(c);
      const order = await c.client().get(`/v1/orders/${id}`);
      const { events } = await c.client().get(`/v1/orders/${id}/events`);
      return { order, events };
    },
    human: (r, u) => orderText(r.order as Json, r.events as Json[], u),
  },
  evidence: {
    usage:
      'coffer otc evidence --reference REF --bank-reference B --amount 3015.00 --currency USD --transferred-at ISO [--last4 1234] [--minor]',
    summary: 'record fiat received (ops maker); --amount in major units, or minor units with --minor',
    options: {
      ...POSTING,
      reference: { type: 'string' },
      'bank-reference': { type: 'string' },
      amount: { type: 'string' },
      currency: { type: 'string' },
      'transferred-at': { type: 'string' },
      last4: { type: 'string' },
      minor: { type: 'boolean' },
    },
    run: (c) => c.client().post('/v1/fiat/evidence', evidenceBody(c), key(c)),
    human: (r, u) => `evidence ${r.evidenceId}: ${r.outcome}\n${orderLine(r.order as Json, u)}\n`,
  },
  confirm: postOnOrder('confirm-payment', 'confirm fiat the rail reported (ops maker)'),
  approve: postOnOrder('desk-approval', 'desk approval of a release (ops checker, not the maker)'),
  'retry-release': postOnOrder('retry-release', 'retry a failed release never broadcast (admin)'),
  cancel: {
    usage: 'coffer otc cancel ID --reason R',
    summary: 'cancel an order (reservation released, fiat received refunded)',
    id: true,
    options: { ...POSTING, reason: { type: 'string' } },
    run: (c) =>
      c.client().post(`/v1/orders/${orderId(c)}/cancel`, { reason: text(c, 'reason', 500) }, key(c)),
    human: (r, u) => `${orderLine(r, u)}\n`,
  },
  resolve: {
    usage: 'coffer otc resolve ID --resolution R [--quote-token T] [--reason R]',
    summary: 'resolve the open payment exception (refund, requote, await_remainder, …)',
    id: true,
    options: {
      ...POSTING,
      resolution: { type: 'string' },
      'quote-token': { type: 'string' },
      reason: { type: 'string' },
    },
    run: (c) => {
      const token = optional(c, 'quote-token');
      const reason = optional(c, 'reason');
      return c.client().post(
        `/v1/orders/${orderId(c)}/resolve-exception`,
        {
          resolution: required(c, 'resolution'),
          ...(token !== undefined ? { quoteToken: token } : {}),
          ...(reason !== undefined ? { reason: text(c, 'reason', 500) } : {}),
        },
        key(c),
      );
    },
    human: (r, u) => `${orderLine(r, u)}\n`,
  },
  freeze: {
    usage: 'coffer otc freeze --scope desk|asset:ID|client:ID --reason R',
    summary: 'emergency freeze: no new quotes, confirmations or releases in the scope (admin)',
    options: { ...POSTING, scope: { type: 'string' }, reason: { type: 'string' } },
    run: (c) =>
      c.client().post('/v1/freezes', { scope: required(c, 'scope'), reason: text(c, 'reason', 500) }, key(c)),
    human: (r, u) =>
      `frozen ${r.scope} since ${r.frozenAt}: ${r.reason}\n${inFlight(r.releasesInFlight as Json[], u)}`,
  },
  unfreeze: {
    usage: 'coffer otc unfreeze --scope S --reason R',
    summary: 'lift a freeze (admin, audited)',
    options: { ...POSTING, scope: { type: 'string' }, reason: { type: 'string' } },
    run: (c) =>
      c
        .client()
        .post('/v1/freezes/lift', { scope: required(c, 'scope'), reason: text(c, 'reason', 500) }, key(c)),
    human: (r) => `${r.lifted ? 'lifted' : 'was not frozen:'} ${r.scope}\n`,
  },
  freezes: {
    usage: 'coffer otc freezes',
    summary: 'active freezes and the releases already at the signer nodes',
    run: (c) => c.client().get('/v1/freezes'),
    human: (r, u) =>
      `${list(r.freezes, 'no freezes', (f) => `${f.scope}  since ${f.frozenAt} by ${f.frozenBy}: ${f.reason}`)}${inFlight(r.releasesInFlight as Json[], u)}`,
  },
  reconcile: {
    usage: 'coffer otc reconcile [--from ISO] [--to ISO] [--run]',
    summary:
      'reconcile a window (default: the last 24 hours); --run marks the matching completed orders reconciled',
    options: { ...POSTING, from: { type: 'string' }, to: { type: 'string' }, run: { type: 'boolean' } },
    run: (c) => {
      const to = optional(c, 'to') === undefined ? new Date() : instant(c, 'to');
      const from =
        optional(c, 'from') === undefined ? new Date(to.getTime() - 86_400_000) : instant(c, 'from');
      const window = { from: from.toISOString(), to: to.toISOString() };
      if (c.values.run === true) return c.client().post('/v1/reconciliation/run', window, key(c));
      return c.client().get('/v1/reconciliation', window);
    },
    human: (r, u) => reconciliationText(r, u),
  },
  trades: {
    usage:
      'coffer otc trades [--format json|csv] [--client ID] [--asset A] [--currency C] [--side buy|sell] [--from ISO] [--to ISO] [--all-statuses] [--limit N]',
    summary: 'settled trades (all with --all-statuses); --format csv prints the CSV file',
    options: {
      format: { type: 'string' },
      client: { type: 'string' },
      asset: { type: 'string' },
      currency: { type: 'string' },
      side: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      'all-statuses': { type: 'boolean' },
      limit: { type: 'string' },
    },
    run: trades,
    human: (r, u) => list(r.trades, 'no trades', (x) => tradeLine(x, u)),
  },
  'audit verify': {
    usage: 'coffer otc audit verify',
    summary: "recompute the desk's audit hash chain",
    run: async (c) => {
      const r = await c.client().get('/v1/audit/verify');
      if (r.ok !== true)
        throw new OperationFailed(
          'audit-verification-failed',
          `audit log verification failed: ${(r.problems as string[])[0]}`,
          r,
        );
      return r;
    },
    human: (r) => {
      const head = r.head as { seq: number; hash: string } | null;
      return `audit log intact: ${r.entries} entries${head ? `, head ${head.seq} ${head.hash}` : ''}\n`;
    },
  },
};

function postOnOrder(action: string, summary: string): Command {
  return {
    usage: `coffer otc ${action === 'confirm-payment' ? 'confirm' : action === 'desk-approval' ? 'approve' : action} ID`,
    summary,
    id: true,
    options: POSTING,
    run: (c) => c.client().post(`/v1/orders/${orderId(c)}/${action}`, {}, key(c)),
    human: (r, u) => `${orderLine(r, u)}\n`,
  };
}

/** Runs `coffer otc …` (argv without "otc"); returns the exit code. Never throws. */
export async function runOtc(argv: string[], io: Io): Promise<number> {
  const json = argv.includes('--json');
  try {
    const words = argv.filter((a) => !a.startsWith('-')).slice(0, 2);
    const name = COMMANDS[words.join(' ')] ? words.join(' ') : words[0];
    const cmd = name === undefined ? undefined : COMMANDS[name];
    if (cmd === undefined || name === undefined) {
      if (argv.includes('--help') || argv.includes('-h') || argv.length === 0) {
        io.out(help());
        return EXIT.ok;
      }
      throw new UsageError(`unknown command "otc ${words.join(' ')}"; see coffer otc --help`);
    }
    const rest = [...argv];
    for (const w of name.split(' ')) rest.splice(rest.indexOf(w), 1);
    const values = parse(cmd, rest);
    if (values.help) {
      io.out(`${cmd.usage}\n  ${cmd.summary}\n`);
      return EXIT.ok;
    }
    let client: OtcClient | undefined;
    const ctx: Ctx = { values, io, json, client: () => (client ??= clientFrom(values, io)) };
    const result = (await cmd.run(ctx)) as Json | string;
    if (typeof result === 'string') io.out(result);
    else if (json || cmd.human === undefined) io.out(`${JSON.stringify(result)}\n`);
    else io.out(cmd.human(result, await unitsFrom(ctx.client())));
    return EXIT.ok;
  } catch (e) {
    return fail(e, json, io);
  }
}

function parse(cmd: Command, rest: string[]): Values {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...COMMON, ...(cmd.options ?? {}), ...(cmd.id ? { id: { type: 'string' } } : {}) },
      strict: true,
      allowPositionals: true,
    }) as typeof parsed;
  } catch (e) {
    const message = (e as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '');
    throw new UsageError(`${message} (usage: ${cmd.usage})`);
  }
  const [first, extra] = parsed.positionals;
  if (extra !== undefined || (first !== undefined && !cmd.id))
    throw new UsageError(`unexpected argument "${extra ?? first}" (usage: ${cmd.usage})`);
  if (first !== undefined) {
    if (parsed.values.id !== undefined) throw new UsageError('--id given both as an argument and as a flag');
    parsed.values.id = first;
  }
  return parsed.values;
}

function fail(e: unknown, json: boolean, io: Io): number {
  let exit: number = EXIT.failed;
  let error: Json;
  if (e instanceof UsageError) {
    exit = EXIT.usage;
    error = { code: e.code, message: e.message };
  } else if (e instanceof OtcUnreachable) {
    exit = EXIT.unreachable;
    error = { code: e.code, message: e.message };
  } else if (e instanceof OtcApiError) {
    error = { code: e.code, message: e.message, status: e.status, ...(e.field ? { field: e.field } : {}) };
  } else if (e instanceof OperationFailed) {
    error = { code: e.code, message: e.message, ...(e.field !== undefined ? { field: e.field } : {}) };
  } else {
    error = { code: 'internal', message: `${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? e}` };
  }
  const result = e instanceof OperationFailed ? e.result : undefined;
  if (json) io.out(`${JSON.stringify({ ...(result !== undefined ? { result } : {}), error })}\n`);
  const field = typeof error.field === 'string' ? ` (${error.field})` : '';
  io.err(`${error.code}: ${error.message}${field}\n`);
  return exit;
}

// ---- flags ----

function text(c: Ctx, flag: string, max: number): string {
  const v = required(c, flag);
  if (v.length > max) throw new UsageError(`--${flag} must be at most ${max} characters`);
  return v;
}

function orderId(c: Ctx): string {
  const id = optional(c, 'id');
  if (id === undefined) throw new UsageError('missing the order id (ID or --id)');
  if (!ORDER_ID.test(id)) throw new UsageError('ID must be an order id: ord_ and 24 hex digits');
  return id;
}

function key(c: Ctx): string | undefined {
  const k = optional(c, 'idempotency-key');
  if (k !== undefined && !/^[\x21-\x7e]{1,128}$/.test(k))
    throw new UsageError('--idempotency-key must be 1–128 printable characters without spaces');
  return k;
}

/** An ISO 8601 time with a zone (Z or ±hh:mm), as the API's UTC form. */
function instant(c: Ctx, flag: string): Date {
  const v = required(c, flag);
  const d = new Date(v);
  if (
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(v) ||
    Number.isNaN(d.getTime())
  )
    throw new UsageError(`--${flag} must be an ISO 8601 time with a zone, e.g. 2025-01-31T14:05:00Z`);
  return d;
}

function clientFrom(values: Values, io: Io): OtcClient {
  const url = (typeof values.url === 'string' ? values.url : undefined) ?? io.env.COFFER_OTC_URL;
  if (url === undefined || url === '') throw new UsageError('missing --url (or COFFER_OTC_URL)');
  const t = typeof values['timeout-ms'] === 'string' ? values['timeout-ms'] : undefined;
  if (t !== undefined && (!/^[0-9]{1,7}$/.test(t) || Number(t) < 1))
    throw new UsageError('--timeout-ms must be an integer from 1 to 9999999');
  try {
    return new OtcClient({ url, token: tokenFrom(values, io), ...(t ? { timeoutMs: Number(t) } : {}) });
  } catch (e) {
    throw new UsageError(
      `--${(e as Error).message.startsWith('url') ? 'url' : 'token-file'}: ${(e as Error).message}`,
    );
  }
}

/** --token-file (keeps the token out of the process list), else COFFER_OTC_TOKEN. */
function tokenFrom(values: Values, io: Io): string {
  const file = typeof values['token-file'] === 'string' ? values['token-file'] : undefined;
  if (file === undefined) {
    const env = io.env.COFFER_OTC_TOKEN;
    if (env === undefined || env === '') throw new UsageError('missing --token-file (or COFFER_OTC_TOKEN)');
    return env;
  }
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(
      `--token-file: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  const token = content.trim();
  if (token === '' || token.includes('\n'))
    throw new UsageError('--token-file must hold one token on one line');
  return token;
}

// ---- money ----

/**
 * "3015.00" in a currency with `decimals` places → minor units, exactly (string arithmetic, never a JS
 * number); more places than the currency has are refused, not rounded.
 */
export function majorToMinor(value: string, decimals: number, flag = 'amount'): string {
  const m = /^([0-9]{1,30})(?:\.([0-9]+))?$/.exec(value);
  if (!m) throw new UsageError(`--${flag} must be a decimal amount such as 3015.00`);
  const fraction = m[2] ?? '';
  if (fraction.length > decimals)
    throw new UsageError(`--${flag} has more than ${decimals} decimal places for this currency`);
  const minor = BigInt(m[1]!) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, '0') || '0');
  if (minor === 0n) throw new UsageError(`--${flag} must be greater than zero`);
  return minor.toString();
}

function evidenceBody(c: Ctx): Json {
  const currency = required(c, 'currency').toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency)) throw new UsageError('--currency must be an ISO 4217 code such as USD');
  const amount = required(c, 'amount');
  let minor: string;
  if (c.values.minor === true) {
    if (!/^[1-9][0-9]{0,77}$/.test(amount))
      throw new UsageError('--amount with --minor must be a positive integer');
    minor = amount;
  } else {
    const decimals = FIAT_DECIMALS[currency];
    if (decimals === undefined)
      throw new UsageError(
        `--currency ${currency}: decimals unknown here; give --amount in minor units with --minor`,
      );
    minor = majorToMinor(amount, decimals);
  }
  const last4 = optional(c, 'last4');
  return {
    paymentReference: required(c, 'reference'),
    bankReference: required(c, 'bank-reference'),
    amount: minor,
    currency,
    transferredAt: instant(c, 'transferred-at').toISOString(),
    ...(last4 !== undefined ? { sourceAccountLast4: last4 } : {}),
  };
}

/** Decimals of assets and fiat currencies as the desk configures them (GET /v1/assets). */
type Units = {
  crypto: (amount: unknown, asset: unknown) => string;
  fiat: (amount: unknown, code: unknown) => string;
};

async function unitsFrom(client: OtcClient): Promise<Units> {
  const r = await client.get('/v1/assets').catch(() => ({ assets: [], fiat: [] }) as Json);
  const decimals = new Map<string, number>();
  for (const a of (r.assets ?? []) as { id: string; decimals: number }[]) decimals.set(a.id, a.decimals);
  for (const f of (r.fiat ?? []) as { code: string; decimals: number }[]) decimals.set(f.code, f.decimals);
  const show = (amount: unknown, unit: unknown, fixed: boolean, fallback?: number) => {
    const d = decimals.get(String(unit)) ?? fallback;
    if (typeof amount !== 'string' || !/^-?[0-9]+$/.test(amount)) return `? ${unit}`;
    if (d === undefined) return `${amount} base units of ${unit}`;
    return `${formatUnits(BigInt(amount), d, fixed)} ${unit}`;
  };
  return {
    crypto: (amount, asset) => show(amount, asset, false),
    fiat: (amount, code) => show(amount, code, true, FIAT_DECIMALS[String(code)]),
  };
}

/** Base units with `decimals` places; `fixed` keeps every place (fiat: 3015.00), else trailing zeros go. */
export function formatUnits(amount: bigint, decimals: number, fixed = false): string {
  const sign = amount < 0n ? '-' : '';
  const abs = amount < 0n ? -amount : amount;
  const scale = 10n ** BigInt(decimals);
  const whole = (abs / scale).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  let fraction = (abs % scale).toString().padStart(decimals, '0');
  if (!fixed) fraction = fraction.replace(/0+$/, '');
  return `${sign}${whole}${fraction ? `.${fraction}` : ''}`;
}

// ---- readable output ----

function list(items: unknown, empty: string, line: (x: Json) => string): string {
  const xs = (items ?? []) as Json[];
  return xs.length === 0 ? `${empty}\n` : `${xs.map(line).join('\n')}\n`;
}

function orderLine(o: Json, u: Units): string {
  const exception = o.exception ? ` [${o.exception}]` : '';
  return `${o.id}  ${String(o.status).padEnd(16)} ${o.side} ${u.crypto(o.amount, o.asset)} for ${u.fiat(o.fiatAmount, o.fiatCurrency)}  client ${o.clientId}  ${o.createdAt}${exception}`;
}

function orderText(o: Json, events: Json[], u: Units): string {
  const release = (o.release ?? {}) as Json;
  const lines = [
    `order ${o.id}: ${o.status}${o.exception ? ` (payment exception: ${o.exception})` : ''}`,
    `  client:      ${o.clientId}`,
    `  ${o.side}:         ${u.crypto(o.amount, o.asset)} on ${o.chain} → ${o.destination}`,
    `  price:       ${u.fiat(o.fiatAmount, o.fiatCurrency)} (${u.fiat(o.priceMinor, o.fiatCurrency)} per ${o.asset})`,
    `  payment ref: ${o.paymentReference} (window until ${o.paymentDeadline})`,
    `  desk approval: ${o.deskApprovalRequired ? 'required' : 'not required'}`,
  ];
  if (release.requestId)
    lines.push(`  release:     ${release.requestId} ${release.nodeStatus ?? ''}`.trimEnd());
  if (release.txHash) lines.push(`  tx hash:     ${release.txHash} (${release.confirmations} confirmations)`);
  if (release.failureReason) lines.push(`  failure:     ${release.failureReason}`);
  lines.push('  events:');
  for (const e of events)
    lines.push(
      `    ${e.at}  ${String(e.event).padEnd(20)} ${e.fromStatus} → ${e.toStatus}  by ${e.actor} (${e.role})`,
    );
  return `${lines.join('\n')}\n`;
}

function inFlight(orders: Json[] | undefined, u: Units): string {
  if (!orders || orders.length === 0) return 'no releases in flight at the signer nodes\n';
  return `releases already at the signer nodes (not called back):\n${orders.map((o) => `  ${orderLine(o, u)}`).join('\n')}\n`;
}

function reconciliationText(r: Json, u: Units): string {
  const report = (r.report ?? r) as Json;
  const counts = report.counts as Record<string, number>;
  const lines = [
    `reconciliation ${report.from} – ${report.to}: ${report.ok ? 'everything matches' : `${counts.items} unmatched item(s)`}`,
    `  deliveries ${counts.deliveriesMatched}/${counts.deliveries}, fiat receipts ${counts.fiatEntriesMatched}/${counts.fiatEntries}, evidence ${counts.evidenceMatched}/${counts.evidence}, hot wallets ${counts.hotWalletsMatched}/${counts.hotWallets}`,
  ];
  for (const i of (report.items ?? []) as Json[]) {
    const amounts =
      i.ledgerAmount !== undefined && i.asset !== undefined
        ? ` (ledger ${u.crypto(i.ledgerAmount, i.asset)})`
        : '';
    lines.push(`  ${i.kind}${i.orderId ? ` ${i.orderId}` : ''}: ${i.reason}${amounts}`);
  }
  if (Array.isArray(r.reconciled)) {
    lines.push(`reconciled: ${(r.reconciled as string[]).join(', ') || 'none'}`);
    for (const x of (r.unmatched ?? []) as Json[])
      lines.push(`still completed: ${x.orderId}: ${(x.reasons as string[]).join('; ')}`);
  }
  return `${lines.join('\n')}\n`;
}

function tradeLine(x: Json, u: Units): string {
  return `${x.createdAt}  ${x.orderId}  ${x.side} ${u.crypto(x.amountBaseUnits, x.asset)} for ${u.fiat(x.fiatAmountMinor, x.fiatCurrency)}  client ${x.clientId}  ${x.status}${x.txHash ? `  ${x.txHash}` : ''}`;
}

async function trades(c: Ctx): Promise<unknown> {
  const format = optional(c, 'format') ?? 'json';
  if (format !== 'json' && format !== 'csv') throw new UsageError('--format must be json or csv');
  if (format === 'csv' && c.json) throw new UsageError('--format csv prints CSV; leave out --json');
  const time = (flag: string) =>
    optional(c, flag) === undefined ? undefined : instant(c, flag).toISOString();
  const query: Query = {
    clientId: optional(c, 'client'),
    asset: optional(c, 'asset'),
    fiatCurrency: optional(c, 'currency'),
    side: optional(c, 'side'),
    from: time('from'),
    to: time('to'),
    limit: optional(c, 'limit'),
    ...(c.values['all-statuses'] === true ? { allStatuses: 'true' } : {}),
  };
  if (format === 'json') return c.client().get('/v1/reports/trades', query);
  return (await c.client().getText('/v1/reports/trades', { ...query, format: 'csv' })).text;
}

function help(): string {
  const width = Math.max(
    ...Object.values(COMMANDS).map((c) => c.usage.split(' [')[0]!.split(' --')[0]!.length),
  );
  return [
    'usage: coffer otc COMMAND [flags]',
    '',
    ...Object.values(COMMANDS).map(
      (c) => `  ${c.usage.split(' [')[0]!.split(' --')[0]!.padEnd(width)}  ${c.summary}`,
    ),
    '',
    'every command: --url (or COFFER_OTC_URL), --token-file (or COFFER_OTC_TOKEN), --json, --timeout-ms',
    'commands that POST: --idempotency-key K to repeat one safely (a random key otherwise)',
    'errors: "code: message (field)" on stderr; exit 1 refused, 2 usage, 3 unreachable',
    '',
  ].join('\n');
}
