// `coffer otc …` run through the CLI's `run` against a real OTC service listening on a port (the OTC
// package's in-process test desk on PGlite, its development configuration and staff tokens): orders
// listed and shown in human units, fiat evidence given in major units and converted exactly, the
// freeze and its lift, an Idempotency-Key repeated on purpose, the trade CSV, audit verification, and
// the errors: an API refusal as `code: message (field)` with exit 1, usage errors with exit 2, an
// unreachable service with exit 3.
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../otc/src/db/database.ts';
import { fundInventory } from '../../otc/src/ledger/ledger.ts';
import { freshDatabase } from '../../otc/test/helpers/db.ts';
import { type TestDesk, testDesk } from '../../otc/test/helpers/desk.ts';
import { run } from '../src/cli.ts';
import { majorToMinor } from '../src/otc.ts';

const CUSTOMER = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const ETH = 10n ** 18n;

let db: Database;
let t: TestDesk;
let url: string;
const tokenFiles: Record<string, string> = {};
let order: Record<string, string>;

/** Runs `coffer otc …` as staff member `who`; returns the exit code and what went to stdout and stderr. */
async function otc(who: string, ...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(['otc', ...args, '--url', url, '--token-file', tokenFiles[who]!], {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    env: {},
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** With --json: exit 0 and exactly one JSON document on stdout. */
async function json(who: string, ...args: string[]) {
  const r = await otc(who, ...args, '--json');
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout.trim().split('\n')).toHaveLength(1);
  // biome-ignore lint/suspicious/noExplicitAny: assertions read the parsed document field by field
  return JSON.parse(r.stdout) as Record<string, any>;
}

beforeAll(async () => {
  db = await freshDatabase('pglite');
  t = await testDesk(db);
  await db.transaction((tx) => fundInventory(tx, { asset: 'ETH', amount: 10n * ETH, reference: 'seed' }));
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'coffer-otc-cli-'));
  for (const [who, token] of Object.entries(t.dev.tokens)) {
    tokenFiles[who] = join(dir, `${who}.token`);
    writeFileSync(tokenFiles[who], `${token}\n`, { mode: 0o600 });
  }
  await t.call('PUT', '/v1/clients/c-cli', 'desk-backend', { kycTier: 'basic', country: 'DE' });
  const quote = await t.call('POST', '/v1/quotes', 'desk-backend', {
    clientId: 'c-cli',
    side: 'buy',
    asset: 'ETH',
    amount: ETH.toString(),
    fiatCurrency: 'USD',
    kind: 'firm',
  });
  const created = await t.call('POST', '/v1/orders', 'desk-backend', {
    clientId: 'c-cli',
    quoteToken: quote.body.token,
    destination: CUSTOMER,
  });
  order = created.body as Record<string, string>;
}, 60_000);

afterAll(async () => {
  await t?.close();
  await db?.close();
});

describe('coffer otc against a listening OTC service', () => {
  it('lists orders (--json: what the API returned) and in human units', async () => {
    const listed = await json('audrey', 'orders', '--client', 'c-cli');
    expect(Object.keys(listed)).toEqual(['orders']);
    expect(listed.orders).toHaveLength(1);
    expect(listed.orders[0]).toMatchObject({ id: order.id, amount: ETH.toString(), fiatAmount: '301500' });
    const human = await otc('audrey', 'orders', '--status', 'awaiting_payment');
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`${order.id}  awaiting_payment`);
    expect(human.stdout).toContain('buy 1 ETH for 3,015.00 USD');
    expect(human.stdout).not.toContain('1000000000000000000');
  });

  it('shows one order with its events', async () => {
    const shown = await json('olivia', 'order', order.id!);
    expect(shown.order).toMatchObject({ id: order.id, status: 'awaiting_payment' });
    expect(shown.events.map((e: { toStatus: string }) => e.toStatus)).toEqual([
      'quoted',
      'compliance_check',
      'awaiting_payment',
    ]);
    const human = await otc('olivia', 'order', order.id!);
    expect(human.stdout).toContain(`order ${order.id}: awaiting_payment`);
    expect(human.stdout).toContain('1 ETH on evm');
    expect(human.stdout).toMatch(/submit\s+quoted → compliance_check {2}by otc-service/);
  });

  it('records evidence given in major units, converted exactly to minor units', async () => {
    const r = await json(
      'olivia',
      'evidence',
      '--reference',
      order.paymentReference!,
      '--bank-reference',
      'BANK-CLI-1',
      '--amount',
      '3015.00',
      '--currency',
      'USD',
      '--transferred-at',
      new Date().toISOString(),
      '--last4',
      '4821',
    );
    expect(r).toMatchObject({ outcome: 'paid', order: { id: order.id } });
    const stored = await db.query<{ amount_minor: string; source_account_last4: string }>(
      'SELECT amount_minor, source_account_last4 FROM otc_fiat_evidence WHERE bank_reference = $1',
      ['BANK-CLI-1'],
    );
    expect(stored.rows.map((x) => [String(x.amount_minor), x.source_account_last4])).toEqual([
      ['301500', '4821'],
    ]);
  });

  it('converts major units with string arithmetic: no float rounding, extra places refused', () => {
    expect(majorToMinor('3015.00', 2)).toBe('301500');
    expect(majorToMinor('0.29', 2)).toBe('29');
    expect(majorToMinor('90071992547409.93', 2)).toBe('9007199254740993');
    expect(majorToMinor('1500', 0)).toBe('1500');
    expect(() => majorToMinor('3015.005', 2)).toThrow(/more than 2 decimal places/);
    expect(() => majorToMinor('1e3', 2)).toThrow(/decimal amount/);
  });

  it('freezes and unfreezes (admin); the same --idempotency-key replays the first answer', async () => {
    const frozen = await json(
      'adam',
      'freeze',
      '--scope',
      'asset:ETH',
      '--reason',
      'drill',
      '--idempotency-key',
      'drill-1',
    );
    expect(frozen).toMatchObject({ scope: 'asset:ETH', reason: 'drill', frozenBy: 'adam' });
    expect(Array.isArray(frozen.releasesInFlight)).toBe(true);
    const replay = await json(
      'adam',
      'freeze',
      '--scope',
      'asset:ETH',
      '--reason',
      'drill',
      '--idempotency-key',
      'drill-1',
    );
    expect(replay).toEqual(frozen);
    const listed = await otc('audrey', 'freezes');
    expect(listed.stdout).toContain('asset:ETH  since');
    expect(listed.stdout).toContain('by adam: drill');
    const lifted = await json('adam', 'unfreeze', '--scope', 'asset:ETH', '--reason', 'drill over');
    expect(lifted).toEqual({ scope: 'asset:ETH', lifted: true });
    expect((await json('audrey', 'freezes')).freezes).toEqual([]);
  });

  it('prints an API refusal as code: message (field) and exits 1; --json carries the error', async () => {
    const refused = await otc('audrey', 'freeze', '--scope', 'desk', '--reason', 'not mine');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^forbidden: /);
    const bad = await otc(
      'olivia',
      'evidence',
      '--reference',
      order.paymentReference!,
      '--bank-reference',
      'BANK-CLI-2',
      '--amount',
      '1',
      '--currency',
      'USD',
      '--transferred-at',
      new Date().toISOString(),
      '--last4',
      '!!',
      '--json',
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^invalid-request: sourceAccountLast4: .* \(sourceAccountLast4\)\n$/);
    expect(JSON.parse(bad.stdout).error).toMatchObject({
      code: 'invalid-request',
      field: 'sourceAccountLast4',
      status: 400,
    });
  });

  it('usage errors exit 2 naming the flag; an unreachable service exits 3', async () => {
    const places = await otc(
      'olivia',
      'evidence',
      '--reference',
      'X',
      '--bank-reference',
      'B',
      '--amount',
      '1.005',
      '--currency',
      'USD',
      '--transferred-at',
      '2025-01-01T00:00:00Z',
    );
    expect(places.code).toBe(2);
    expect(places.stderr).toMatch(/^usage: --amount has more than 2 decimal places/);
    const noId = await otc('olivia', 'cancel', '--reason', 'x');
    expect(noId.code).toBe(2);
    expect((await otc('olivia', 'orders', '--bogus')).stderr).toMatch(/Unknown option '--bogus'/);
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(['otc', 'orders', '--url', 'http://127.0.0.1:9', '--json'], {
      out: (s) => out.push(s),
      err: (s) => err.push(s),
      env: { COFFER_OTC_TOKEN: 'x' },
    });
    expect(code).toBe(3);
    expect(JSON.parse(out.join('')).error.code).toBe('unreachable');
  });

  it('exports trades as CSV and verifies the audit log', async () => {
    const csv = await otc('carla', 'trades', '--format', 'csv', '--all-statuses');
    expect(csv.code, csv.stderr).toBe(0);
    const lines = csv.stdout.trimEnd().split('\r\n');
    expect(lines[0]).toMatch(/^order_id,created_at,/);
    expect(lines[1]!.startsWith(`${order.id},`)).toBe(true);
    const audit = await json('audrey', 'audit', 'verify');
    expect(audit).toMatchObject({ ok: true, problems: [] });
    expect((await otc('audrey', 'audit', 'verify')).stdout).toMatch(/^audit log intact: \d+ entries, head /);
  });
});
