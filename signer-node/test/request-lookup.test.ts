// Looking a request up by its idempotency key (`GET /v1/requests?idempotencyKey=`, @coffer/client
// `requestByIdempotencyKey`) on three real signer-node processes: what a client whose submission timed
// out asks before it submits again. A maker key sees only its own operator's request; admin and auditor
// keys see every operator's; the peers the request was forwarded to answer too; a malformed key is
// refused naming the field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CofferApiError,
  CofferClient,
  CofferResponseError,
  type RequestView,
  type Wallet,
} from '../../packages/client/src/index.ts';
import { allowRawDigests } from '../src/dev/cluster.ts';
import { type Cluster, startCluster } from './helpers/cluster.ts';

let c: Cluster;
let wallet: Wallet;
const client = (node: number, token: 'admin' | 'auditor' | 'maker') =>
  new CofferClient({
    url: c.nodes[node]!.url,
    apiKey:
      token === 'admin'
        ? c.spec.adminToken
        : token === 'auditor'
          ? c.spec.auditorToken
          : c.spec.policy.makerToken,
  });

let makers: RequestView;
let admins: RequestView;

beforeAll(async () => {
  c = await startCluster({ roundMs: 20_000 });
  wallet = await client(0, 'admin').keygen({ scheme: 'ecdsa-secp256k1', threshold: 2, parties: 3 });
  await allowRawDigests(c.spec, [wallet]);
  // One key, two operators: the maker (operator otc-desk) and the admin (operator admin).
  makers = await client(0, 'maker').sign({
    walletId: wallet.id,
    digest: '11'.repeat(32),
    idempotencyKey: 'order-7',
  });
  admins = await client(0, 'admin').sign({
    walletId: wallet.id,
    digest: '22'.repeat(32),
    idempotencyKey: 'order-7',
  });
}, 120_000);

afterAll(async () => {
  await c?.stopAll();
});

describe('request lookup by idempotency key', () => {
  it('a maker finds its own request under the key, and only its own', async () => {
    expect(makers.id).not.toBe(admins.id);
    const found = await client(0, 'maker').requestByIdempotencyKey('order-7');
    expect(found?.id).toBe(makers.id);
    expect(found?.operator).toBe('otc-desk');
    expect(found?.requestId).toBe('order-7');
    expect((await client(0, 'maker').requests({ idempotencyKey: 'order-7' })).map((r) => r.id)).toEqual([
      makers.id,
    ]);
    // The admin's own key is invisible to the maker.
    await client(0, 'admin').sign({
      walletId: wallet.id,
      digest: '33'.repeat(32),
      idempotencyKey: 'admin-only',
    });
    expect(await client(0, 'maker').requestByIdempotencyKey('admin-only')).toBeUndefined();
    expect(await client(0, 'maker').requestByIdempotencyKey('never-used')).toBeUndefined();
  });

  it('admin and auditor keys see every operator’s request under the key and pick one by operator', async () => {
    for (const who of ['admin', 'auditor'] as const) {
      const all = await client(0, who).requests({ idempotencyKey: 'order-7' });
      expect(all.map((r) => r.id).sort()).toEqual([makers.id, admins.id].sort());
      expect((await client(0, who).requestByIdempotencyKey('order-7', { operator: 'otc-desk' }))?.id).toBe(
        makers.id,
      );
      // Two operators and none named: refused rather than one picked.
      await expect(client(0, who).requestByIdempotencyKey('order-7')).rejects.toBeInstanceOf(
        CofferResponseError,
      );
    }
  });

  it('the peers the request was forwarded to find it under the same key (a timed-out client may ask them)', async () => {
    for (const node of [1, 2])
      await expect
        .poll(async () => (await client(node, 'maker').requestByIdempotencyKey('order-7'))?.id, {
          timeout: 10_000,
        })
        .toBe(makers.id);
  });

  it('combines with a status filter', async () => {
    expect(makers.status).toBe('signed');
    const signed = await client(0, 'maker').requests({ idempotencyKey: 'order-7', status: 'signed' });
    expect(signed.map((r) => r.id)).toEqual([makers.id]);
    expect(await client(0, 'maker').requests({ idempotencyKey: 'order-7', status: 'failed' })).toEqual([]);
  });

  it('refuses a malformed key naming the field, in the client and on the node', async () => {
    await expect(client(0, 'maker').requests({ idempotencyKey: 'has space' })).rejects.toThrow(TypeError);
    await expect(client(0, 'maker').requestByIdempotencyKey('x'.repeat(129))).rejects.toThrow(TypeError);
    const res = await fetch(`${c.nodes[0]!.url}/v1/requests?idempotencyKey=${encodeURIComponent('a b')}`, {
      headers: { authorization: `Bearer ${c.spec.policy.makerToken}` },
    });
    const body = (await res.json()) as { code: string; field?: string };
    expect([res.status, body.code]).toEqual([400, 'invalid-request']);
    expect(body.field).toMatch(/idempotencyKey/);
    // Unauthenticated lookups are refused like every other /v1 route.
    const anonymous = new CofferClient({ url: c.nodes[0]!.url });
    const refused = await anonymous.requestByIdempotencyKey('order-7').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CofferApiError);
    expect((refused as CofferApiError).status).toBe(401);
  });
});
