// The OTC bench's pure parts: its settings, the lost / duplicated transfer count over the end-to-end
// orders, and the targets built from the figures (a missing or failed figure is never a target met).
import { describe, expect, it } from 'vitest';
import { checkTransfers, otcSettings, otcTargets, type TransferFacts } from './otc.ts';

const HOT = `0x${'aa'.repeat(20)}`;
const A = `0x${'01'.repeat(20)}`;
const B = `0x${'02'.repeat(20)}`;

function facts(over: Partial<TransferFacts> = {}): TransferFacts {
  return {
    orders: [
      { id: 'ord_1', amount: 10n, destination: A, txHash: '0x01', nodeRequestIds: ['req-1', 'req-1'] },
      { id: 'ord_2', amount: 20n, destination: B, txHash: '0x02', nodeRequestIds: ['req-2'] },
    ],
    chain: {
      '0x01': { from: HOT, to: A, value: 10n },
      '0x02': { from: HOT.toUpperCase().replace('0X', '0x'), to: B, value: 20n },
    },
    hotAddress: HOT,
    sent: 2,
    ...over,
  };
}

describe('otcSettings', () => {
  it('has short defaults and reads every BENCH_OTC_ setting', () => {
    expect(otcSettings({})).toMatchObject({ orders: 10, databases: ['pglite', 'postgres'], concurrency: 4 });
    const s = otcSettings({
      BENCH_OTC_ORDERS: '0',
      BENCH_OTC_DATABASES: 'postgres',
      BENCH_OTC_QUOTE_SECONDS: '20',
      BENCH_OTC_TRANSITIONS: '1000',
    });
    expect(s).toMatchObject({ orders: 0, databases: ['postgres'], quoteSeconds: 20, transitions: 1000 });
  });

  it('names the setting it refuses', () => {
    expect(() => otcSettings({ BENCH_OTC_DATABASES: 'sqlite' })).toThrow(/BENCH_OTC_DATABASES/);
    expect(() => otcSettings({ BENCH_OTC_SIGNINGS: '-1' })).toThrow(/BENCH_OTC_SIGNINGS/);
  });
});

describe('checkTransfers', () => {
  it('counts nothing when every order has one node request (seen on several nodes) and its own payment', () => {
    expect(checkTransfers(facts())).toEqual({ orders: 2, onChain: 2, lost: 0, duplicated: 0, problems: [] });
  });

  it('counts a second node request under one release key as a duplicated transfer', () => {
    const f = facts();
    f.orders[0]!.nodeRequestIds = ['req-1', 'req-9'];
    expect(checkTransfers(f)).toMatchObject({ lost: 0, duplicated: 1 });
  });

  it('counts transactions the hot wallet sent beyond the orders as duplicated', () => {
    expect(checkTransfers(facts({ sent: 3 }))).toMatchObject({ lost: 0, duplicated: 1 });
  });

  it('counts an order without a node request, without a transaction, or paid wrongly as lost', () => {
    const f = facts({ sent: 0 });
    f.orders[0]!.nodeRequestIds = [];
    f.orders[1]!.txHash = null;
    expect(checkTransfers(f)).toMatchObject({ lost: 2, duplicated: 0 });
    const wrong = facts({
      chain: { '0x01': { from: HOT, to: A, value: 11n }, '0x02': facts().chain['0x02'] },
    });
    expect(checkTransfers(wrong)).toMatchObject({ lost: 1 });
  });

  it('counts one transaction claimed by two orders as duplicated', () => {
    const f = facts({ sent: 1 });
    f.orders[1] = { ...f.orders[0]!, id: 'ord_3' };
    expect(checkTransfers(f)).toMatchObject({ duplicated: 1 });
  });
});

describe('otcTargets', () => {
  const side = (rate: number) => ({ quotesPerSecond: rate, answered: 1, failures: 0, seconds: 1 });
  const latency = (p50: number) => ({
    count: 1,
    p50Ms: p50,
    p99Ms: p50,
    meanMs: p50,
    minMs: p50,
    maxMs: p50,
  });

  it('compares each ratio with its bound and reports a failed case as not met', () => {
    const t = otcTargets(
      { pglite: { service: side(60), bare: side(100), ratio: 0.6 }, postgres: { error: 'server down' } },
      {
        pglite: {
          transition: 'claim_payment',
          service: { latency: latency(5), perSecond: 1 },
          bareSql: { latency: latency(2), perSecond: 1 },
          p50Ratio: 2.5,
          setupOrders: 2,
        },
      },
      { skipped: 'BENCH_OTC_ORDERS=0' },
    );
    expect(t['otcQuotesVsBare pglite']).toMatchObject({ value: 0.6, met: true, comparison: '>=' });
    expect(t['otcQuotesVsBare postgres']).toMatchObject({ value: null, met: false, note: 'server down' });
    expect(t['otcTransitionVsBareSql pglite']).toMatchObject({ value: 2.5, met: false });
    expect(Object.keys(t).some((k) => k.startsWith('otcE2e'))).toBe(false);
  });

  it('needs every end-to-end order completed before zero lost transfers counts as met', () => {
    const e2eCase = {
      orders: 3,
      completed: 2,
      toBroadcast: latency(90),
      steps: {},
      transfers: { orders: 3, onChain: 2, lost: 0, duplicated: 0, problems: [] },
    };
    const t = otcTargets(
      {},
      {},
      {
        setup: {},
        presigned: { latency: latency(30), signings: 1, failures: 0, presignedSignings: 1 },
        cases: { pglite: e2eCase },
      },
    );
    expect(t['otcE2eVsPresigned pglite']).toMatchObject({ value: 3, met: true });
    expect(t['otcTransfers pglite']).toMatchObject({ value: 0, met: false, note: '2 of 3 orders completed' });
  });
});
