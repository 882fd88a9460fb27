// Three real signer-node processes (SoftHSM2-backed where installed, one software-backed), each with
// its own SQLite file: key generation and signing for every scheme over the network, independent
// verification, node failures, hostile envelopes, API input validation, shares never at rest in
// plaintext, refusal to start with a wrong passphrase or a tampered sealed key.
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSoftwareKeystore } from '@coffer/hsm';
import { KeyShare } from '@coffer/tss';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowRawDigests, MAIN } from '../src/dev/cluster.ts';
import { newEnvelopeId, sealEnvelope } from '../src/transport/envelope.ts';
import { api, type Cluster, metric, startCluster, verifySignature } from './helpers/cluster.ts';

const SCHEMES = ['schnorr-secp256k1-tr', 'eddsa-ed25519', 'ecdsa-secp256k1'] as const;
let c: Cluster;
const wallets = new Map<string, { id: string; publicKey: string; addresses: Record<string, string> }>();
const digest = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
const TSX = import.meta.resolve('tsx');

beforeAll(async () => {
  c = await startCluster({ roundMs: 20_000 });
}, 120_000);

afterAll(async () => {
  await c?.stopAll();
});

async function sign(nodeIndex: number, walletId: string, d: string) {
  return api(c.nodes[nodeIndex]!, 'POST', '/v1/sign', {
    token: c.spec.adminToken,
    body: { walletId, digest: d },
  });
}

describe('three signer-node processes', () => {
  it('generate a 2-of-3 key for every scheme and sign with it; noble verifies each signature', async () => {
    for (const [i, scheme] of SCHEMES.entries()) {
      const kg = await api(c.nodes[i]!, 'POST', '/v1/keys', {
        token: c.spec.adminToken,
        body: { scheme, threshold: 2, parties: 3, label: `test ${scheme}` },
      });
      expect(kg.status, JSON.stringify(kg.body)).toBe(201);
      const w = kg.body as {
        id: string;
        publicKey: string;
        participants: string[];
        addresses: Record<string, string>;
      };
      expect(w.participants).toEqual(['node-a', 'node-b', 'node-c']);
      wallets.set(scheme, w);
      await allowRawDigests(c.spec, [w]);
      // Every node holds a share of the same key.
      for (const n of c.nodes) {
        const got = await api(n, 'GET', `/v1/wallets/${w.id}`, { token: c.spec.auditorToken });
        expect(got.body.publicKey).toBe(w.publicKey);
      }
      const s = await sign((i + 1) % 3, w.id, digest(i + 1));
      expect(s.status, JSON.stringify(s.body)).toBe(200);
      expect(s.body.status).toBe('signed');
      expect((s.body.signers as string[]).length).toBe(2);
      expect(verifySignature(scheme, w.publicKey, digest(i + 1), s.body.signature as string)).toBe(true);
      expect(verifySignature(scheme, w.publicKey, digest(99), s.body.signature as string)).toBe(false);
      const req = await api(c.nodes[(i + 1) % 3]!, 'GET', `/v1/requests/${s.body.id}`, {
        token: c.spec.auditorToken,
      });
      expect(req.body.signature).toBe(s.body.signature);
    }
    expect(Object.keys(wallets.get('ecdsa-secp256k1')!.addresses).sort()).toEqual([
      'bitcoinP2wpkh',
      'evm',
      'tron',
    ]);
    expect(wallets.get('schnorr-secp256k1-tr')!.addresses.bitcoinP2tr).toMatch(/^bc1p/);
    // Every node reports the CPU time it spent (the bench divides it by the signings).
    for (const n of c.nodes) expect(await metric(n, 'process_cpu_seconds_total')).toBeGreaterThan(0.1);
  });

  it('drops and counts forged, unpinned-sender and replayed envelopes while a session completes', async () => {
    const target = c.nodes[1]!; // node-b
    const head = {
      kind: 'control' as const,
      session: 'sg-hostile',
      round: 0,
      from: 'node-a',
      to: 'node-b',
      encrypted: false,
    };
    const payload = new TextEncoder().encode('{"type":"abort","reason":"x"}');
    const post = (bytes: Uint8Array) =>
      fetch(`${target.url}/v1/peer/envelope`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes,
      });
    const mallory = ed25519.utils.randomSecretKey();
    const forged = await sealEnvelope({ ...head, id: newEnvelopeId(), payload }, async (m) =>
      ed25519.sign(m, mallory),
    );
    const unpinned = await sealEnvelope(
      { ...head, id: newEnvelopeId(), from: 'mallory', payload },
      async (m) => ed25519.sign(m, mallory),
    );
    // A validly signed envelope from node-c (software keystore: the test can open it), sent twice.
    const nodeC = c.spec.nodes[2]!;
    const ks = await openSoftwareKeystore({
      directory: join(nodeC.dir, 'data', 'keystore'),
      passphrase: { file: join(nodeC.dir, 'passphrase') },
    });
    const genuine = await sealEnvelope({ ...head, from: 'node-c', id: newEnvelopeId(), payload }, (m) =>
      ks.identity.sign(m),
    );
    await ks.close();
    const before = {
      forged: await metric(target, 'coffer_peer_envelopes_dropped_total{reason="bad-signature"}'),
      unpinned: await metric(target, 'coffer_peer_envelopes_dropped_total{reason="unpinned-sender"}'),
      replay: await metric(target, 'coffer_peer_envelopes_dropped_total{reason="replay"}'),
    };
    const w = wallets.get('eddsa-ed25519')!;
    const signing = sign(0, w.id, digest(7));
    const answers = await Promise.all([post(forged), post(unpinned), post(genuine), post(forged)]);
    expect(answers.map((a) => a.status)).toEqual([400, 400, 202, 400]);
    expect((await post(genuine)).status).toBe(400);
    const s = await signing;
    expect(s.status, JSON.stringify(s.body)).toBe(200);
    expect(verifySignature('eddsa-ed25519', w.publicKey, digest(7), s.body.signature as string)).toBe(true);
    expect(await metric(target, 'coffer_peer_envelopes_dropped_total{reason="bad-signature"}')).toBe(
      before.forged + 2,
    );
    expect(await metric(target, 'coffer_peer_envelopes_dropped_total{reason="unpinned-sender"}')).toBe(
      before.unpinned + 1,
    );
    expect(await metric(target, 'coffer_peer_envelopes_dropped_total{reason="replay"}')).toBe(
      before.replay + 1,
    );
  });

  it('rejects malformed API input with 400 and the field named, and unauthorised calls with 401/403', async () => {
    const a = c.nodes[0]!;
    const t = c.spec.adminToken;
    const w = wallets.get('schnorr-secp256k1-tr')!;
    const cases: Array<[unknown, string]> = [
      [{ scheme: 'rsa', threshold: 2, parties: 3 }, 'scheme'],
      [{ scheme: 'eddsa-ed25519', threshold: '2', parties: 3 }, 'threshold'],
      [{ scheme: 'eddsa-ed25519', parties: 3 }, 'threshold'],
      [{ scheme: 'eddsa-ed25519', threshold: 3, parties: 2 }, 'threshold'],
      [{ scheme: 'eddsa-ed25519', threshold: 2, parties: 3, admin: true }, 'admin'],
    ];
    for (const [body, field] of cases) {
      const r = await api(a, 'POST', '/v1/keys', { token: t, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body).toMatchObject({ code: 'invalid-request', field });
    }
    const signCases: Array<[unknown, string]> = [
      [{ walletId: w.id, digest: 'xyz' }, 'digest'],
      [{ walletId: 'nope', digest: digest(1) }, 'walletId'],
      [{ walletId: w.id, digest: digest(1), path: "m/0'" }, 'path'],
      [{ walletId: w.id, digest: 'abcd' }, 'digest'],
    ];
    for (const [body, field] of signCases) {
      const r = await api(a, 'POST', '/v1/sign', { token: t, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body).toMatchObject({ field });
    }
    const bad = await api(a, 'POST', '/v1/sign', { token: t, raw: '{"walletId": ' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).not.toMatch(/at \w+ \(|node_modules/);
    expect((await api(a, 'POST', '/v1/sign', { body: { walletId: w.id, digest: digest(1) } })).status).toBe(
      401,
    );
    expect((await api(a, 'POST', '/v1/sign', { token: 'wrong', body: {} })).status).toBe(401);
    const forbidden = await api(a, 'POST', '/v1/sign', {
      token: c.spec.auditorToken,
      body: { walletId: w.id, digest: digest(1) },
    });
    expect(forbidden).toMatchObject({ status: 403, body: { code: 'forbidden' } });
    expect((await api(a, 'GET', '/healthz')).status).toBe(200);
    const docs = await api(a, 'GET', '/docs');
    expect(Object.keys(docs.body.paths as object)).toContain('/v1/sign');
  });

  it('signs 2-of-3 with one node down (also one that died since it was last heard from) and refuses with "not enough signers" with two down', async () => {
    const [a, b, cc] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0], (typeof c.nodes)[0]];
    const w = wallets.get('schnorr-secp256k1-tr')!;
    await cc.kill9();
    const s = await sign(0, w.id, digest(11));
    expect(s.status, JSON.stringify(s.body)).toBe(200);
    expect(s.body.signers).toEqual(['node-a', 'node-b']);
    expect(verifySignature('schnorr-secp256k1-tr', w.publicKey, digest(11), s.body.signature as string)).toBe(
      true,
    );
    await b.kill9();
    const refused = await sign(0, w.id, digest(12));
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('not-enough-signers');
    expect(refused.body.message).toMatch(/not enough signers.*down: node-b, node-c/);
    await Promise.all([b.start(), cc.start()]);
    const again = await sign(2, w.id, digest(13));
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    // node-a takes a peer it heard from within the last seconds as up without probing it. Right after a
    // signing with node-b, node-b dies: the start cannot reach it, node-a probes afresh and signs with
    // node-c instead of failing the request.
    const warm = await sign(0, w.id, digest(14));
    expect(warm.body.signers).toEqual(['node-a', 'node-b']);
    await b.kill9();
    const rerouted = await sign(0, w.id, digest(15));
    expect(rerouted.status, JSON.stringify(rerouted.body)).toBe(200);
    expect(rerouted.body.signers).toEqual(['node-a', 'node-c']);
    expect(
      verifySignature('schnorr-secp256k1-tr', w.publicKey, digest(15), rerouted.body.signature as string),
    ).toBe(true);
    await b.start();
    expect(
      (
        await api(a, 'GET', `/v1/requests/${refused.body.id ?? 'req-000000000000000000000000'}`, {
          token: c.spec.adminToken,
        })
      ).status,
    ).toBe(404);
  });

  it('keeps every share sealed: neither the data directory nor the SQLite file contains share bytes', async () => {
    const node = c.spec.nodes[2]!; // software backend: the test can unseal with the passphrase file
    const dataDir = join(node.dir, 'data');
    const db = new Database(join(dataDir, 'node.sqlite'), { readonly: true });
    const rows = db
      .prepare('SELECT s.key_id, s.sealed, w.share_index FROM sealed_shares s JOIN wallets w USING (key_id)')
      .all() as Array<{
      key_id: string;
      sealed: Buffer;
      share_index: number;
    }>;
    db.close();
    expect(rows.length).toBe(3);
    const ks = await openSoftwareKeystore({
      directory: join(dataDir, 'keystore'),
      passphrase: { file: join(node.dir, 'passphrase') },
    });
    const files = walk(dataDir).map((f) => readFileSync(f));
    for (const r of rows) {
      const plain = (
        await ks.unseal(new Uint8Array(r.sealed), `share:${r.key_id}:${r.share_index}`)
      ).expose();
      expect(KeyShare.fromBytes(plain).index).toBe(r.share_index);
      for (let off = 0; off + 32 <= plain.length; off += 16) {
        const window = Buffer.from(plain.subarray(off, off + 32));
        for (const f of files)
          expect(f.indexOf(window), `share bytes at offset ${off} found at rest`).toBe(-1);
      }
    }
    await ks.close();
    // API responses never carry share material either.
    const list = await api(c.nodes[2]!, 'GET', '/v1/wallets', { token: c.spec.adminToken });
    expect(JSON.stringify(list.body)).not.toMatch(/secret|share_index|sealed/);
  });

  it('keeps an intact, verifiable audit log on every node', async () => {
    for (const n of c.nodes) {
      const v = await api(n, 'GET', '/v1/audit/verify', { token: c.spec.auditorToken });
      expect(v.body, n.spec.id).toMatchObject({ ok: true, problems: [] });
      expect(v.body.entries as number).toBeGreaterThan(5);
    }
  });

  it('refuses to start with a wrong passphrase or a tampered sealed key, and overwrites nothing', () => {
    const node = c.spec.nodes[2]!;
    const copy = join(c.dir, 'copy-c');
    cpSync(node.dir, copy, { recursive: true });
    const cfgPath = join(copy, 'config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as {
      dataDir: string;
      listen: { port: number };
      kek: { passphrase: { file: string } };
    };
    cfg.dataDir = join(copy, 'data');
    cfg.listen.port = 0;
    writeFileSync(join(copy, 'wrong'), 'not-the-passphrase\n');
    cfg.kek.passphrase = { file: join(copy, 'wrong') };
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const run = () =>
      spawnSync(process.execPath, ['--import', TSX, MAIN, 'start', '--config', cfgPath], {
        encoding: 'utf8',
        timeout: 30_000,
      });
    const before = snapshot(join(copy, 'data'));
    const wrong = run();
    expect(snapshot(join(copy, 'data'))).toEqual(before);
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/coffer-node: cannot start: .*passphrase.*\[wrong-passphrase\]/);
    expect(snapshot(join(copy, 'data'))).toEqual(before);
    cfg.kek.passphrase = { file: join(copy, 'passphrase') };
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const sealedKey = join(copy, 'data', 'x25519.sealed');
    const blob = readFileSync(sealedKey);
    blob[blob.length - 3]! ^= 0x01;
    writeFileSync(sealedKey, blob);
    const tampered = run();
    expect(tampered.status).toBe(2);
    expect(tampered.stderr).toMatch(/coffer-node: cannot start: .*\[blob-authentication-failed\]/);
    expect(readFileSync(sealedKey)).toEqual(blob);
  });
});

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(walk(dir).map((f) => [f, bytesToHex(readFileSync(f))]));
}
