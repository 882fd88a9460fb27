// TRON adapter: tronweb-derived address vectors, build → decode round trips for TRX and TRC-20,
// tronweb's own deserialiser and signer as oracles, Trx.ecRecover on the signed transaction, and one
// test per decoder rejection (raw protobuf assembled by hand to break one thing at a time).
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { Trx, type Types, utils } from 'tronweb';
import { describe, expect, it } from 'vitest';
import {
  attachTronSignature,
  buildTronTransfer,
  decodeTronTransfer,
  parseTronAddress,
  type TronNetwork,
  tronAddressFromPublicKey,
  tronSigningDigest,
} from '../src/tron/index.ts';
import { expectChainError, loadVectors, signRecoverable, unhex } from './helpers.ts';

type TronVectors = {
  addresses: Array<{ privateKey: string; publicKey: string; address: string }>;
  contracts: Array<{ base58: string; hex: string }>;
};
const vectors = loadVectors<TronVectors>('tron.json');
const USDT = vectors.contracts[0]!.base58;
const network: TronNetwork = {
  name: 'mainnet',
  tokens: [{ contract: USDT, symbol: 'USDT', decimals: 6 }],
  maxFeeLimitSun: 100_000_000n,
};
const wallet = vectors.addresses[1]!;
const recipient = vectors.addresses[2]!.address;
const refBlock = { number: 70_000_123, hash: `0000000004${'ab'.repeat(27)}` };
const base = { network, from: wallet.address, to: recipient, refBlock, timestampMs: 1_760_000_000_000 };

describe('TRON known answers', () => {
  it.each(vectors.addresses)('address $address', (vector) => {
    expect(tronAddressFromPublicKey(unhex(vector.publicKey))).toBe(vector.address);
  });

  it('Base58Check contract address ↔ hex', () => {
    for (const contract of vectors.contracts)
      expect(bytesToHex(parseTronAddress(contract.base58, 'c'))).toBe(contract.hex);
  });

  it('rejects a bad checksum and a non-TRON prefix', async () => {
    const broken = `${wallet.address.slice(0, -1)}${wallet.address.endsWith('a') ? 'b' : 'a'}`;
    await expectChainError(() => parseTronAddress(broken, 'to'), 'invalid-address', 'to');
    await expectChainError(
      () => parseTronAddress('0x70997970C51812dc3A010C7d01b50e0d17dc79C8', 'to'),
      'invalid-address',
      'to',
    );
  });
});

describe.each([
  ['TRX', { amount: 1_500_000n }],
  ['TRC-20', { token: USDT, amount: 25_000_000n, feeLimitSun: 30_000_000n }],
] as const)('TRON %s round trip', (kind, extra) => {
  it('build → decode equals the request', () => {
    const built = buildTronTransfer({ ...base, ...extra });
    const decoded = decodeTronTransfer(built.transaction.raw_data_hex, { network, from: wallet.address });
    expect(decoded.intent).toEqual(built.intent);
    expect(decoded.intent.from).toBe(wallet.address);
    expect(decoded.intent.to).toBe(recipient);
    expect(decoded.intent.amount).toBe(extra.amount);
    expect(decoded.intent.asset.symbol).toBe(kind === 'TRX' ? 'TRX' : 'USDT');
    if (kind === 'TRC-20') expect(decoded.intent.fee).toBe(30_000_000n);
    expect(decoded.txID).toBe(built.transaction.txID);
  });

  it("agrees with tronweb's own deserialiser and txID", () => {
    const built = buildTronTransfer({ ...base, ...extra });
    const type = kind === 'TRX' ? 'TransferContract' : 'TriggerSmartContract';
    const parsed = utils.deserializeTx.deserializeTransaction(type, built.transaction.raw_data_hex);
    expect(parsed.contract[0].parameter.value.owner_address.toLowerCase()).toBe(
      bytesToHex(parseTronAddress(wallet.address, 'w')),
    );
    const pb = utils.transaction.txJsonToPb(built.transaction);
    expect(utils.transaction.txPbToTxID(pb).replace(/^0x/, '')).toBe(built.transaction.txID);
    expect(bytesToHex(sha256(hexToBytes(built.transaction.raw_data_hex)))).toBe(built.transaction.txID);
  });

  it('signed with a local key: Trx.ecRecover returns the wallet and tronweb signs identically', () => {
    const built = buildTronTransfer({ ...base, ...extra });
    const digest = tronSigningDigest(built.transaction.raw_data_hex);
    const signed = attachTronSignature(built.transaction, signRecoverable(digest, unhex(wallet.privateKey)), {
      network,
      from: wallet.address,
    });
    expect(Trx.ecRecover(signed as unknown as Types.SignedTransaction)).toBe(wallet.address);
    const oracle = utils.crypto.signTransaction(
      wallet.privateKey,
      structuredClone(built.transaction) as never,
    );
    expect(signed.signature.map((s) => s.toLowerCase())).toEqual(
      oracle.signature.map((s) => s.toLowerCase()),
    );
  });

  it('refuses a signature by another key', async () => {
    const built = buildTronTransfer({ ...base, ...extra });
    const digest = tronSigningDigest(built.transaction.raw_data_hex);
    const other = unhex(vectors.addresses[0]!.privateKey);
    await expectChainError(
      () =>
        attachTronSignature(built.transaction, signRecoverable(digest, other), {
          network,
          from: wallet.address,
        }),
      'invalid-signature',
      'signature',
    );
  });
});

// Minimal protobuf writer for hand-made rejection cases.
const varint = (value: bigint): number[] => {
  const out: number[] = [];
  let v = value;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
};
const vField = (n: number, value: bigint) => [...varint(BigInt(n << 3)), ...varint(value)];
const bField = (n: number, bytes: ArrayLike<number>) => [
  ...varint(BigInt((n << 3) | 2)),
  ...varint(BigInt(bytes.length)),
  ...Array.from(bytes),
];
const text = (s: string) => Array.from(new TextEncoder().encode(s));
const owner = Array.from(parseTronAddress(wallet.address, 'w'));
const to = Array.from(parseTronAddress(recipient, 'r'));
const usdt = Array.from(parseTronAddress(USDT, 'u'));

function rawTx(options: {
  type?: number;
  typeUrl?: string;
  value: number[];
  extraContract?: number[];
  extraRaw?: number[];
  contracts?: number;
  feeLimit?: bigint;
}): string {
  const parameter = [
    ...bField(1, text(options.typeUrl ?? 'type.googleapis.com/protocol.TransferContract')),
    ...bField(2, options.value),
  ];
  const contract = [
    ...vField(1, BigInt(options.type ?? 1)),
    ...bField(2, parameter),
    ...(options.extraContract ?? []),
  ];
  const raw = [
    ...bField(1, [0x01, 0x02]),
    ...bField(4, new Array(8).fill(7)),
    ...vField(8, 1_760_000_060_000n),
    ...Array.from({ length: options.contracts ?? 1 }, () => bField(11, contract)).flat(),
    ...vField(14, 1_760_000_000_000n),
    ...(options.feeLimit === undefined ? [] : vField(18, options.feeLimit)),
    ...(options.extraRaw ?? []),
  ];
  return bytesToHex(Uint8Array.from(raw));
}
const transferValue = (amount = 5n, from = owner) => [
  ...bField(1, from),
  ...bField(2, to),
  ...vField(3, amount),
];
const triggerValue = (data: string, extra: number[] = [], contract = usdt) => [
  ...bField(1, owner),
  ...bField(2, contract),
  ...bField(4, hexToBytes(data)),
  ...extra,
];
const transferCall = (amount: bigint, selector = 'a9059cbb') =>
  `${selector}${'0'.repeat(24)}${bytesToHex(Uint8Array.from(to.slice(1)))}${amount.toString(16).padStart(64, '0')}`;
const TRIGGER_URL = 'type.googleapis.com/protocol.TriggerSmartContract';

describe('TRON decoder rejections', () => {
  const decode = (hex: string) => decodeTronTransfer(hex, { network, from: wallet.address });

  it('accepts the hand-made baseline (so each case below breaks exactly one thing)', () => {
    expect(decode(rawTx({ value: transferValue() })).intent.amount).toBe(5n);
    const trc20 = rawTx({
      type: 31,
      typeUrl: TRIGGER_URL,
      value: triggerValue(transferCall(9n)),
      feeLimit: 1_000_000n,
    });
    expect(decode(trc20).intent.amount).toBe(9n);
  });

  it('several contracts in one transaction', async () => {
    await expectChainError(
      () => decode(rawTx({ value: transferValue(), contracts: 2 })),
      'unsupported-transaction',
      'raw_data.contract',
    );
  });

  it('a contract type that is not a transfer (FreezeBalanceV2)', async () => {
    await expectChainError(
      () => decode(rawTx({ type: 54, value: transferValue() })),
      'unsupported-transaction',
      'raw_data.contract[0].type',
    );
  });

  it('spending from another account', async () => {
    await expectChainError(
      () => decode(rawTx({ value: transferValue(5n, to) })),
      'wrong-sender',
      'raw_data.contract[0].parameter.value.owner_address',
    );
  });

  it('a memo (raw_data.data) it cannot account for', async () => {
    await expectChainError(
      () => decode(rawTx({ value: transferValue(), extraRaw: bField(10, text('hi')) })),
      'unexpected-field',
      'raw_data.data',
    );
  });

  it('a multi-signature permission id', async () => {
    await expectChainError(
      () => decode(rawTx({ value: transferValue(), extraContract: vField(5, 2n) })),
      'unexpected-field',
      'raw_data.contract[0].Permission_id',
    );
  });

  it('an unknown protobuf field', async () => {
    await expectChainError(
      () => decode(rawTx({ value: transferValue(), extraRaw: vField(99, 1n) })),
      'unexpected-field',
      'raw_data#99',
    );
  });

  it('a zero TRX amount', async () => {
    await expectChainError(
      () => decode(rawTx({ value: transferValue(0n) })),
      'invalid-amount',
      'raw_data.contract[0].parameter.value.amount',
    );
  });

  it('truncated bytes', async () => {
    const hex = rawTx({ value: transferValue() });
    await expectChainError(() => decode(hex.slice(0, -4)), 'malformed-transaction');
  });

  it('a type URL that does not match the contract type', async () => {
    await expectChainError(
      () => decode(rawTx({ typeUrl: TRIGGER_URL, value: transferValue() })),
      'malformed-transaction',
      'raw_data.contract[0].parameter.type_url',
    );
  });

  it('an unknown contract call (approve)', async () => {
    const hex = rawTx({
      type: 31,
      typeUrl: TRIGGER_URL,
      value: triggerValue(transferCall(9n, '095ea7b3')),
      feeLimit: 1_000_000n,
    });
    await expectChainError(
      () => decode(hex),
      'unknown-contract-call',
      'raw_data.contract[0].parameter.value.data',
    );
  });

  it('a TRC-20 transfer on an unconfigured contract', async () => {
    const hex = rawTx({
      type: 31,
      typeUrl: TRIGGER_URL,
      value: triggerValue(transferCall(9n), [], to),
      feeLimit: 1_000_000n,
    });
    await expectChainError(
      () => decode(hex),
      'unknown-token',
      'raw_data.contract[0].parameter.value.contract_address',
    );
  });

  it('TRX sent along with a token call', async () => {
    const hex = rawTx({
      type: 31,
      typeUrl: TRIGGER_URL,
      value: triggerValue(transferCall(9n), vField(3, 1n)),
      feeLimit: 1_000_000n,
    });
    await expectChainError(
      () => decode(hex),
      'unaccounted-value',
      'raw_data.contract[0].parameter.value.call_value',
    );
  });

  it('a fee limit above the cap', async () => {
    const hex = rawTx({
      type: 31,
      typeUrl: TRIGGER_URL,
      value: triggerValue(transferCall(9n)),
      feeLimit: 100_000_001n,
    });
    await expectChainError(() => decode(hex), 'fee-too-high', 'raw_data.fee_limit');
  });

  it('a TRC-20 transfer without a fee limit', async () => {
    const hex = rawTx({ type: 31, typeUrl: TRIGGER_URL, value: triggerValue(transferCall(9n)) });
    await expectChainError(() => decode(hex), 'malformed-transaction', 'raw_data.fee_limit');
  });

  it('an already-expired validity window (expiration before timestamp)', async () => {
    const hex = rawTx({ value: transferValue(), extraRaw: [] }).replace(
      bytesToHex(Uint8Array.from(vField(8, 1_760_000_060_000n))),
      bytesToHex(Uint8Array.from(vField(8, 1_759_999_000_000n))),
    );
    await expectChainError(() => decode(hex), 'malformed-transaction', 'raw_data.expiration');
  });

  it('a builder request for an unconfigured token or a zero amount', async () => {
    await expectChainError(
      () => buildTronTransfer({ ...base, token: recipient, amount: 1n, feeLimitSun: 1n }),
      'unknown-token',
      'token',
    );
    await expectChainError(() => buildTronTransfer({ ...base, amount: 0n }), 'invalid-amount', 'amount');
  });
});
