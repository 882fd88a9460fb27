// Configuration validation and the peer envelope format: strict, field-naming errors; signatures that
// bind every header field; ciphertexts that cannot be moved to another envelope.
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/config/config.ts';
import { EncryptionKey } from '../src/config/keys.ts';
import {
  decodeEnvelope,
  decodeProtocolPayload,
  decryptPayload,
  type Envelope,
  encodeProtocolPayload,
  encryptPayload,
  MAX_PROTOCOL_MESSAGES,
  newEnvelopeId,
  payloadKey,
  sealEnvelope,
  verifyEnvelopeSignature,
  xchachaOpen,
  xchachaSeal,
} from '../src/transport/envelope.ts';
import { PeerTransport } from '../src/transport/peers.ts';
import { Metrics } from '../src/util/metrics.ts';

const hex32 = 'ab'.repeat(32);
const valid = () => ({
  nodeId: 'node-a',
  listen: { host: '127.0.0.1', port: 7001 },
  dataDir: 'data',
  kek: { backend: 'software', passphrase: { env: 'PASS' } },
  peers: [{ id: 'node-b', url: 'http://127.0.0.1:7002/', identityKey: hex32, encryptionKey: hex32 }],
  apiKeys: [{ id: 'admin', scopes: ['admin'], sha256: 'cd'.repeat(32) }],
});

function fieldOf(mutate: (c: Record<string, unknown>) => void): string {
  const c = valid() as unknown as Record<string, unknown>;
  mutate(c);
  try {
    parseConfig(c, '/etc/coffer');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).field;
  }
  throw new Error('config was accepted');
}

describe('node configuration', () => {
  it('accepts a valid file, resolves relative paths and applies default timeouts', () => {
    const c = parseConfig(valid(), '/etc/coffer');
    expect(c.dataDir).toBe('/etc/coffer/data');
    expect(c.peers[0]!.url).toBe('http://127.0.0.1:7002');
    expect(c.timeouts.roundMs).toBe(30_000);
  });

  it('durability defaults to "critical", accepts "full" and names the field otherwise', () => {
    expect(parseConfig(valid(), '/etc/coffer').durability).toBe('critical');
    expect(parseConfig({ ...valid(), durability: 'full' }, '/etc/coffer').durability).toBe('full');
    expect(fieldOf((c) => (c.durability = 'off'))).toBe('durability');
  });

  it('shareCacheMs defaults to one minute, 0 turns the cache off, and names the field otherwise', () => {
    expect(parseConfig(valid(), '/etc/coffer').shareCacheMs).toBe(60_000);
    expect(parseConfig({ ...valid(), shareCacheMs: 0 }, '/etc/coffer').shareCacheMs).toBe(0);
    expect(fieldOf((c) => (c.shareCacheMs = -1))).toBe('shareCacheMs');
    expect(fieldOf((c) => (c.shareCacheMs = '60s'))).toBe('shareCacheMs');
  });

  it.each([
    ['nodeId', (c: Record<string, unknown>) => (c.nodeId = 'Node A')],
    ['listen.port', (c: Record<string, unknown>) => (c.listen = { host: 'x', port: 70000 })],
    ['kek.backend', (c: Record<string, unknown>) => (c.kek = { backend: 'vault' })],
    [
      'kek.passphrase',
      (c: Record<string, unknown>) => (c.kek = { backend: 'software', passphrase: 'hunter2hunter2' }),
    ],
    [
      'kek.pin',
      (c: Record<string, unknown>) =>
        (c.kek = { backend: 'pkcs11', libraryPath: '/x.so', tokenLabel: 't', pin: {} }),
    ],
    [
      'peers[0].identityKey',
      (c: Record<string, unknown>) => ((c.peers as Array<Record<string, unknown>>)[0]!.identityKey = 'zz'),
    ],
    [
      'peers[0].url',
      (c: Record<string, unknown>) => ((c.peers as Array<Record<string, unknown>>)[0]!.url = 'ftp://x'),
    ],
    [
      'peers[0].id',
      (c: Record<string, unknown>) => ((c.peers as Array<Record<string, unknown>>)[0]!.id = 'node-a'),
    ],
    [
      'apiKeys[0].scopes[0]',
      (c: Record<string, unknown>) => ((c.apiKeys as Array<Record<string, unknown>>)[0]!.scopes = ['root']),
    ],
    [
      'apiKeys[0].sha256',
      (c: Record<string, unknown>) =>
        ((c.apiKeys as Array<Record<string, unknown>>)[0]!.sha256 = 'plain-token'),
    ],
    ['$.extra', (c: Record<string, unknown>) => (c.extra = 1)],
    [
      'apiKeys[0].operator',
      (c: Record<string, unknown>) => ((c.apiKeys as Array<Record<string, unknown>>)[0]!.scopes = ['maker']),
    ],
    [
      'apiKeys[0].operator',
      (c: Record<string, unknown>) =>
        ((c.apiKeys as Array<Record<string, unknown>>)[0]!.operator = 'Not An Id'),
    ],
    [
      'apiKeys[1].id',
      (c: Record<string, unknown>) =>
        (c.apiKeys as unknown[]).push({ id: 'admin', scopes: ['auditor'], sha256: 'ef'.repeat(32) }),
    ],
    ['policy.governance', (c: Record<string, unknown>) => (c.policy = {})],
    [
      'policy.governance.threshold',
      (c: Record<string, unknown>) => (c.policy = { governance: { ...governance(), threshold: 3 } }),
    ],
    [
      'policy.governance.timelockMs',
      (c: Record<string, unknown>) => (c.policy = { governance: { ...governance(), timelockMs: -1 } }),
    ],
    [
      'policy.governance.admins[1].publicKey',
      (c: Record<string, unknown>) =>
        (c.policy = {
          governance: {
            ...governance(),
            admins: [
              { id: 'a1', publicKey: hex32 },
              { id: 'a2', publicKey: hex32 },
            ],
          },
        }),
    ],
    [
      'policy.governance.admins[0].publicKey',
      (c: Record<string, unknown>) =>
        (c.policy = { governance: { ...governance(), admins: [{ id: 'a1', publicKey: 'AB' }] } }),
    ],
    ['policy.extra', (c: Record<string, unknown>) => (c.policy = { governance: governance(), extra: 1 })],
    ['chains.evm.chainId', (c: Record<string, unknown>) => (c.chains = { evm: { chainId: 0 } })],
    [
      'chains.evm.maxFeeWei',
      (c: Record<string, unknown>) => (c.chains = { evm: { chainId: 1, maxFeeWei: '1e18' } }),
    ],
    ['chains.tron.network', (c: Record<string, unknown>) => (c.chains = { tron: { network: 'moon' } })],
    ['chains.solana', (c: Record<string, unknown>) => (c.chains = { solana: {} })],
    ['chains.bitcoin.network', (c: Record<string, unknown>) => (c.chains = { bitcoin: { network: 'moon' } })],
  ])('rejects a bad %s and names it', (field, mutate) => {
    expect(fieldOf(mutate)).toBe(field);
  });

  it('reads the policy and chains sections and the scopes of the policy contract', () => {
    const raw = valid() as unknown as Record<string, unknown>;
    raw.policy = {
      governance: governance(),
      initialVersionFile: 'policy-v1.json',
      denylistFile: '/x/deny.txt',
    };
    raw.chains = { evm: { rpcUrl: 'http://127.0.0.1:8545/', chainId: 31337 } };
    raw.apiKeys = [
      { id: 'otc', scopes: ['maker'], operator: 'otc-desk', sha256: 'cd'.repeat(32) },
      { id: 'alice', scopes: ['approver'], sha256: 'ce'.repeat(32) },
      { id: 'admins', scopes: ['policy-admin'], sha256: 'cf'.repeat(32) },
    ];
    const c = parseConfig(raw, '/etc/coffer');
    expect(c.policy?.initialVersionFile).toBe('/etc/coffer/policy-v1.json');
    expect(c.policy?.denylistFile).toBe('/x/deny.txt');
    expect(c.policy?.governance.threshold).toBe(2);
    expect(c.policy?.historyTimeoutMs).toBe(3_000);
    expect(c.chains.evm).toEqual({
      rpcUrl: 'http://127.0.0.1:8545',
      chainId: 31337,
      nativeSymbol: 'ETH',
      maxFeeWei: 10n ** 17n,
      tokens: [],
    });
    expect(c.apiKeys[0]!.operator).toBe('otc-desk');
    expect(c.apiKeys.map((k) => k.scopes[0])).toEqual(['maker', 'approver', 'policy-admin']);
    expect(parseConfig(valid(), '/etc/coffer').policy).toBeUndefined();
  });
});

function governance() {
  return {
    admins: [
      { id: 'admin-1', publicKey: '01'.repeat(32) },
      { id: 'admin-2', publicKey: '02'.repeat(32) },
    ],
    threshold: 2,
    timelockMs: 0,
  };
}

describe('peer envelopes', () => {
  const seed = ed25519.utils.randomSecretKey();
  const sign = async (m: Uint8Array) => ed25519.sign(m, seed);
  const pub = ed25519.getPublicKey(seed);
  const base: Envelope = {
    kind: 'protocol',
    id: newEnvelopeId(),
    session: 'sg-1',
    round: 2,
    from: 'node-a',
    to: 'node-b',
    encrypted: false,
    payload: Uint8Array.of(1, 2, 3),
  };

  it('round-trips and verifies under the sender key only', async () => {
    const bytes = await sealEnvelope(base, sign);
    const d = decodeEnvelope(bytes);
    expect(d.envelope).toEqual(base);
    expect(verifyEnvelopeSignature(d.signed, d.signature, pub)).toBe(true);
    expect(
      verifyEnvelopeSignature(d.signed, d.signature, ed25519.getPublicKey(ed25519.utils.randomSecretKey())),
    ).toBe(false);
  });

  it('a flipped bit anywhere in the signed part breaks the signature or the decoding', async () => {
    const bytes = await sealEnvelope(base, sign);
    for (let i = 0; i < bytes.length - 64; i++) {
      const t = bytes.slice();
      t[i]! ^= 1;
      let ok = false;
      try {
        const d = decodeEnvelope(t);
        ok = verifyEnvelopeSignature(d.signed, d.signature, pub);
      } catch {
        ok = false;
      }
      expect(ok, `byte ${i}`).toBe(false);
    }
  });

  it('rejects trailing bytes and truncation', async () => {
    const bytes = await sealEnvelope(base, sign);
    expect(() => decodeEnvelope(Uint8Array.from([...bytes, 0]))).toThrow(/trailing/);
    expect(() => decodeEnvelope(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/);
  });

  it('encrypts to the recipient; the ciphertext does not open under another header', () => {
    const a = x25519.utils.randomSecretKey();
    const b = x25519.utils.randomSecretKey();
    const kab = payloadKey(x25519.getSharedSecret(a, x25519.getPublicKey(b)), 'node-a', 'node-b');
    const kba = payloadKey(x25519.getSharedSecret(b, x25519.getPublicKey(a)), 'node-a', 'node-b');
    const head = { ...base, encrypted: true };
    const ct = encryptPayload(kab, head, Uint8Array.of(9, 9, 9));
    expect(decryptPayload(kba, { ...head, payload: ct })).toEqual(Uint8Array.of(9, 9, 9));
    expect(() => decryptPayload(kba, { ...head, round: 3, payload: ct })).toThrow(/does not decrypt/);
  });

  it('XChaCha20-Poly1305 gives the draft-irtf-cfrg-xchacha-03 A.3.1 vector and the same bytes as noble', () => {
    const key = hexToBytes('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = hexToBytes('404142434445464748494a4b4c4d4e4f5051525354555657');
    const aad = hexToBytes('50515253c0c1c2c3c4c5c6c7');
    const text = utf8ToBytes(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const sealed = xchachaSeal(key, nonce, aad, text);
    expect(bytesToHex(sealed)).toBe(
      'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e' +
        'c0875924c1c7987947deafd8780acf49',
    );
    expect(xchachaOpen(key, nonce, aad, sealed)).toEqual(text);
    // Sizes around the 64-byte block and Poly1305's 16-byte boundaries, both directions against noble.
    for (const size of [0, 1, 15, 16, 17, 63, 64, 65, 1000, 70_000]) {
      const k = x25519.utils.randomSecretKey();
      const n = ed25519.utils.randomSecretKey().subarray(0, 24);
      const a = Uint8Array.from({ length: size % 40 }, (_, i) => i);
      const m = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
      const ours = xchachaSeal(k, n, a, m);
      expect(ours).toEqual(xchacha20poly1305(k, n, a).encrypt(m));
      expect(xchachaOpen(k, n, a, xchacha20poly1305(k, n, a).encrypt(m))).toEqual(m);
    }
  });

  it('XChaCha20-Poly1305 refuses an altered ciphertext, tag, associated data or nonce', () => {
    const key = x25519.utils.randomSecretKey();
    const nonce = new Uint8Array(24).fill(5);
    const aad = Uint8Array.of(1, 2, 3);
    const sealed = xchachaSeal(key, nonce, aad, new Uint8Array(100).fill(8));
    for (const at of [0, 50, 99, 100, 115]) {
      const t = sealed.slice();
      t[at]! ^= 0x80;
      expect(xchachaOpen(key, nonce, aad, t), `byte ${at}`).toBeUndefined();
    }
    expect(xchachaOpen(key, nonce, Uint8Array.of(1, 2, 4), sealed)).toBeUndefined();
    const otherNonce = nonce.slice();
    otherNonce[3]! ^= 1;
    expect(xchachaOpen(key, otherNonce, aad, sealed)).toBeUndefined();
    expect(xchachaOpen(key, nonce, aad, sealed.subarray(0, 15))).toBeUndefined();
  });

  it('transport drops and counts unpinned, forged, misrouted and replayed envelopes', async () => {
    const metrics = new Metrics();
    const bSeed = ed25519.utils.randomSecretKey();
    const transport = new PeerTransport({
      nodeId: 'node-b',
      peers: [
        {
          id: 'node-a',
          url: 'http://127.0.0.1:1',
          identityKey: Buffer.from(pub).toString('hex'),
          encryptionKey: hex32,
        },
      ],
      encryption: new EncryptionKey(x25519.utils.randomSecretKey()),
      sign: async (m) => ed25519.sign(m, bSeed),
      metrics,
      requestTimeoutMs: 100,
    });
    const good = await sealEnvelope(base, sign);
    expect(transport.accept(good).ok).toBe(true);
    expect(transport.accept(good)).toMatchObject({ ok: false, reason: 'replay' });
    const forged = await sealEnvelope({ ...base, id: newEnvelopeId() }, async (m) => ed25519.sign(m, bSeed));
    expect(transport.accept(forged)).toMatchObject({ ok: false, reason: 'bad-signature' });
    const unpinned = await sealEnvelope({ ...base, id: newEnvelopeId(), from: 'mallory' }, sign);
    expect(transport.accept(unpinned)).toMatchObject({ ok: false, reason: 'unpinned-sender' });
    const misrouted = await sealEnvelope({ ...base, id: newEnvelopeId(), to: 'node-c' }, sign);
    expect(transport.accept(misrouted)).toMatchObject({ ok: false, reason: 'misrouted' });
    expect(transport.accept(Uint8Array.of(1, 2, 3))).toMatchObject({ ok: false, reason: 'malformed' });
    for (const reason of ['replay', 'bad-signature', 'unpinned-sender', 'misrouted', 'malformed'])
      expect(metrics.get('coffer_peer_envelopes_dropped_total', { reason }), reason).toBe(1);
    expect(metrics.render()).toContain('coffer_peer_envelopes_dropped_total{reason="replay"} 1');
  });

  it("a protocol payload carries one round's messages for a peer in order, and decodes strictly", () => {
    const messages = [Uint8Array.of(1, 2, 3), new Uint8Array(0), Uint8Array.of(9)];
    const payload = encodeProtocolPayload(messages);
    expect(decodeProtocolPayload(payload)).toEqual(messages);
    expect(() => decodeProtocolPayload(Uint8Array.of(...payload, 0))).toThrow(/trailing|payload/);
    expect(() => decodeProtocolPayload(payload.subarray(0, payload.length - 1))).toThrow(/messages\[2\]/);
    expect(() => decodeProtocolPayload(Uint8Array.of(0))).toThrow(/count: 0/);
    expect(() => decodeProtocolPayload(Uint8Array.of(MAX_PROTOCOL_MESSAGES + 1))).toThrow(/count/);
    expect(() => encodeProtocolPayload([])).toThrow(/0 messages/);
    expect(() =>
      encodeProtocolPayload(Array.from({ length: MAX_PROTOCOL_MESSAGES + 1 }, () => Uint8Array.of(1))),
    ).toThrow(/messages/);
  });
});
