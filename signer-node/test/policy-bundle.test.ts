// The request bundle every node checks on its own: strict parsing that names the field, and the
// what-you-see-is-what-you-sign checks (decoded transaction vs. claimed intent vs. client description,
// sender = the threshold key's address, session message = the transaction's signing digest).
import { bitcoinSigningDigests, buildBitcoinTransfer, p2wpkhAddress } from '@coffer/chains/bitcoin';
import { buildEvmTransfer, evmAddressFromPublicKey, evmSigningDigest } from '@coffer/chains/evm';
import { buildTronTransfer, tronAddressFromPublicKey, tronSigningDigest } from '@coffer/chains/tron';
import type { TransferRequest } from '@coffer/policy/request';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import type { ChainsConfig } from '../src/config/config.ts';
import {
  BundleError,
  bundleToJson,
  checkBundle,
  childPublicKey,
  type KeyRecord,
  makeBundle,
  parseBundle,
  type RequestBundle,
} from '../src/policy/bundle.ts';

const secret = secp256k1.utils.randomSecretKey();
const key: KeyRecord = {
  scheme: 'ecdsa-secp256k1',
  publicKey: bytesToHex(secp256k1.getPublicKey(secret, true)),
  chainCode: '07'.repeat(32),
};
const chains: ChainsConfig = {
  evm: { chainId: 31337, nativeSymbol: 'ETH', maxFeeWei: 10n ** 17n, tokens: [] },
};
const network = { chainId: 31337, nativeSymbol: 'ETH', maxFeeWei: 10n ** 17n, tokens: [] };
const PAYEE = '0x1111111111111111111111111111111111111111';
const MALLORY = '0x2222222222222222222222222222222222222222';

function transfer(to: string, amount: bigint, path = 'm') {
  const from = evmAddressFromPublicKey(childPublicKey(key, path));
  return buildEvmTransfer({
    network,
    from,
    to,
    amount,
    nonce: 0,
    gas: 21_000n,
    maxFeePerGas: 1_000_000_000n,
    maxPriorityFeePerGas: 1n,
  });
}

function bundleFor(tx: ReturnType<typeof transfer>, described: { to: string; amount: bigint }, path = 'm') {
  const request: TransferRequest = {
    kind: 'transfer',
    wallet: 'hot-eth',
    operator: 'otc-desk',
    submittedAtMs: 1_700_000_000_000,
    requestId: 'order-1',
    unsignedTransaction: hexToBytes(tx.serialized.slice(2)),
    intent: tx.intent,
  };
  return makeBundle({
    id: `req-${'ab'.repeat(12)}`,
    keyId: 'cd'.repeat(32),
    path,
    request,
    description: {
      chain: 'evm',
      network: 'eip155:31337',
      asset: { kind: 'native' },
      to: described.to,
      amount: described.amount,
    },
  });
}

const roundTrip = (b: RequestBundle) => parseBundle(bundleToJson(b));

describe('request bundle', () => {
  it('round-trips through JSON and passes every check for an honest transfer', async () => {
    const tx = transfer(PAYEE, 5n);
    const b = roundTrip(bundleFor(tx, { to: PAYEE, amount: 5n }));
    expect(bundleToJson(b)).toBe(bundleToJson(bundleFor(tx, { to: PAYEE, amount: 5n })));
    const check = await checkBundle(b, { key, message: evmSigningDigest(tx.serialized), chains });
    expect(check).toMatchObject({ ok: true });
  });

  it('refuses a transaction paying someone else than the description says (description-mismatch)', async () => {
    const tx = transfer(MALLORY, 5n);
    const b = roundTrip(bundleFor(tx, { to: PAYEE, amount: 5n }));
    const check = await checkBundle(b, { key, message: evmSigningDigest(tx.serialized), chains });
    expect(check).toMatchObject({ ok: false, code: 'description-mismatch' });
    const more = transfer(PAYEE, 6n);
    const c = await checkBundle(roundTrip(bundleFor(more, { to: PAYEE, amount: 5n })), {
      key,
      message: evmSigningDigest(more.serialized),
      chains,
    });
    expect(c).toMatchObject({ ok: false, code: 'description-mismatch' });
  });

  it('refuses a claimed intent that is not what the bytes decode to, even with a matching digest', async () => {
    const tx = transfer(MALLORY, 5n);
    const honest = bundleFor(tx, { to: PAYEE, amount: 5n });
    const lying = {
      ...honest,
      request: { ...(honest.request as TransferRequest), intent: { ...tx.intent, to: PAYEE } },
    };
    const b = roundTrip(makeBundle({ ...lying, description: honest.description! }));
    const check = await checkBundle(b, { key, message: evmSigningDigest(tx.serialized), chains });
    expect(check).toMatchObject({ ok: false, code: 'description-mismatch' });
  });

  it('refuses a session message other than the signing digest, and a key that is not the sender', async () => {
    const tx = transfer(PAYEE, 5n);
    const b = roundTrip(bundleFor(tx, { to: PAYEE, amount: 5n }));
    expect(await checkBundle(b, { key, message: new Uint8Array(32).fill(1), chains })).toMatchObject({
      ok: false,
      code: 'wrong-message',
    });
    // Built for m/1 but the bundle says m: the decoder is run for m's address, which is not the sender's.
    const child = transfer(PAYEE, 5n, 'm/1');
    const wrongPath = roundTrip(bundleFor(child, { to: PAYEE, amount: 5n }, 'm'));
    const check = await checkBundle(wrongPath, { key, message: evmSigningDigest(child.serialized), chains });
    expect(check.ok).toBe(false);
    const right = roundTrip(bundleFor(child, { to: PAYEE, amount: 5n }, 'm/1'));
    expect(await checkBundle(right, { key, message: evmSigningDigest(child.serialized), chains })).toEqual({
      ok: true,
      intent: child.intent,
    });
  });

  it('refuses a request digest that does not commit to the request', async () => {
    const tx = transfer(PAYEE, 5n);
    const b = { ...bundleFor(tx, { to: PAYEE, amount: 5n }), requestDigest: 'ee'.repeat(32) };
    const check = await checkBundle(roundTrip(b), { key, message: evmSigningDigest(tx.serialized), chains });
    expect(check).toMatchObject({ ok: false, code: 'malformed-bundle' });
  });

  it('refuses a node without configuration for the chain instead of guessing the network', async () => {
    const tx = transfer(PAYEE, 5n);
    const b = roundTrip(bundleFor(tx, { to: PAYEE, amount: 5n }));
    const check = await checkBundle(b, { key, message: evmSigningDigest(tx.serialized), chains: {} });
    expect(check).toMatchObject({ ok: false, code: 'malformed-bundle' });
  });

  it('checks TRON transfers the same way (decoded by this node under its chains.tron network)', async () => {
    const tronChains: ChainsConfig = { tron: { network: 'nile', maxFeeLimitSun: 10n ** 8n, tokens: [] } };
    const from = tronAddressFromPublicKey(childPublicKey(key, 'm'));
    const payee = tronAddressFromPublicKey(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
    const mallory = tronAddressFromPublicKey(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
    const build = (to: string) =>
      buildTronTransfer({
        network: { name: 'nile', tokens: [], maxFeeLimitSun: 10n ** 8n },
        from,
        to,
        amount: 7n,
        refBlock: { number: 1, hash: '00'.repeat(32) },
        timestampMs: 1_760_000_000_000,
      });
    const bundleTo = (tx: ReturnType<typeof build>, describedTo: string) =>
      roundTrip(
        makeBundle({
          id: `req-${'ab'.repeat(12)}`,
          keyId: 'cd'.repeat(32),
          path: 'm',
          request: {
            kind: 'transfer',
            wallet: 'hot-trx',
            operator: 'otc-desk',
            submittedAtMs: 1,
            requestId: 'trx-1',
            unsignedTransaction: hexToBytes(tx.transaction.raw_data_hex),
            intent: tx.intent,
          },
          description: {
            chain: 'tron',
            network: 'nile',
            asset: { kind: 'native' },
            to: describedTo,
            amount: 7n,
          },
        }),
      );
    const honest = build(payee);
    const message = tronSigningDigest(honest.transaction.raw_data_hex);
    expect(await checkBundle(bundleTo(honest, payee), { key, message, chains: tronChains })).toMatchObject({
      ok: true,
    });
    const paysMallory = build(mallory);
    expect(
      await checkBundle(bundleTo(paysMallory, payee), {
        key,
        message: tronSigningDigest(paysMallory.transaction.raw_data_hex),
        chains: tronChains,
      }),
    ).toMatchObject({ ok: false, code: 'description-mismatch' });
    // Another TRON network than this node's: refused rather than decoded under the client's word.
    const mainnet: ChainsConfig = { tron: { network: 'mainnet', maxFeeLimitSun: 10n ** 8n, tokens: [] } };
    expect((await checkBundle(bundleTo(honest, payee), { key, message, chains: mainnet })).ok).toBe(false);
  });

  it('checks Bitcoin PSBTs: every input digest may be signed, nothing else; the payee is the decoded one', async () => {
    const btcChains: ChainsConfig = { bitcoin: { network: 'regtest' } };
    const wallet = { type: 'p2wpkh' as const, publicKey: childPublicKey(key, 'm') };
    const payee = p2wpkhAddress(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true), 'regtest');
    const mallory = p2wpkhAddress(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true), 'regtest');
    const build = (to: string) =>
      buildBitcoinTransfer({
        network: 'regtest',
        wallet,
        utxos: [
          { txid: '11'.repeat(32), vout: 0, value: 60_000n },
          { txid: '22'.repeat(32), vout: 1, value: 70_000n },
        ],
        to,
        amount: 100_000n,
        feeRateSatPerVb: 2n,
      });
    const bundleOf = (psbtBase64: string, intent: ReturnType<typeof build>['intent'], describedTo: string) =>
      roundTrip(
        makeBundle({
          id: `req-${'ab'.repeat(12)}`,
          keyId: 'cd'.repeat(32),
          path: 'm',
          request: {
            kind: 'transfer',
            wallet: 'hot-btc',
            operator: 'otc-desk',
            submittedAtMs: 1,
            requestId: 'btc-1',
            unsignedTransaction: new Uint8Array(Buffer.from(psbtBase64, 'base64')),
            intent,
          },
          description: {
            chain: 'bitcoin',
            network: 'regtest',
            asset: { kind: 'native' },
            to: describedTo,
            amount: 100_000n,
          },
        }),
      );
    const honest = build(payee);
    const digests = bitcoinSigningDigests(honest.psbtBase64, { network: 'regtest', wallet }).map(
      (d) => d.digest,
    );
    expect(digests).toHaveLength(2);
    const b = bundleOf(honest.psbtBase64, honest.intent, payee);
    for (const message of digests)
      expect(await checkBundle(b, { key, message, chains: btcChains })).toMatchObject({ ok: true });
    expect(await checkBundle(b, { key, message: new Uint8Array(32), chains: btcChains })).toMatchObject({
      ok: false,
      code: 'wrong-message',
    });
    const stolen = build(mallory);
    expect(
      await checkBundle(bundleOf(stolen.psbtBase64, stolen.intent, payee), {
        key,
        message: bitcoinSigningDigests(stolen.psbtBase64, { network: 'regtest', wallet })[0]!.digest,
        chains: btcChains,
      }),
    ).toMatchObject({ ok: false, code: 'description-mismatch' });
  });

  it.each([
    ['bundle.format', (w: Record<string, unknown>) => (w.format = 'coffer-request/2')],
    ['bundle.id', (w: Record<string, unknown>) => (w.id = 'req-1')],
    ['bundle.extra', (w: Record<string, unknown>) => (w.extra = 1)],
    ['bundle.description', (w: Record<string, unknown>) => delete w.description],
    [
      'bundle.description.amount',
      (w: Record<string, unknown>) => ((w.description as Record<string, unknown>).amount = '01'),
    ],
    [
      'bundle.request.unsignedTransaction',
      (w: Record<string, unknown>) => ((w.request as Record<string, unknown>).unsignedTransaction = '0xzz'),
    ],
    [
      'bundle.request.intent.amount',
      (w: Record<string, unknown>) =>
        (((w.request as Record<string, unknown>).intent as Record<string, unknown>).amount = '-1'),
    ],
    ['bundle.approvals[0]', (w: Record<string, unknown>) => (w.approvals = [{ approverId: 'x' }])],
  ])('rejects a malformed %s and names it', (field, mutate) => {
    const wire = JSON.parse(bundleToJson(bundleFor(transfer(PAYEE, 5n), { to: PAYEE, amount: 5n })));
    mutate(wire);
    try {
      parseBundle(JSON.stringify(wire));
    } catch (e) {
      expect(e).toBeInstanceOf(BundleError);
      expect((e as BundleError).field.startsWith(field), (e as Error).message).toBe(true);
      return;
    }
    throw new Error('bundle accepted');
  });
});
