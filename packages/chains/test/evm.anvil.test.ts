// EVM end to end against a real anvil: fund a wallet derived from a local key, broadcast a signed
// EIP-1559 native transfer and an ERC-20 transfer (token deployed from bytecode here), track
// confirmations, and check balances on chain.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { type Hex, hexToBigInt } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForConfirmations } from '../src/broadcast/index.ts';
import {
  attachEvmSignature,
  buildEvmTransfer,
  decodeEvmTransfer,
  EvmBroadcaster,
  type EvmNetwork,
  evmAddressFromPublicKey,
  evmSigningDigest,
} from '../src/evm/index.ts';
import { type Anvil, minimalTokenInitCode, startAnvil } from './anvil.ts';
import { expectChainError, signRecoverable } from './helpers.ts';

// anvil's first default account (unlocked), used only to fund the wallet and deploy the token.
const FUNDER = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
const RECIPIENT = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';
const walletKey = secp256k1.utils.randomSecretKey(new Uint8Array(48).fill(0x42));
const wallet = evmAddressFromPublicKey(secp256k1.getPublicKey(walletKey, true));
const fees = { gas: 21_000n, maxFeePerGas: 10_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n };

let anvil: Anvil;
let broadcaster: EvmBroadcaster;
let token: Hex;
let network: EvmNetwork;

const balance = async (address: string) =>
  hexToBigInt((await anvil.rpc('eth_getBalance', [address, 'latest'])) as Hex);
const tokenBalance = async (address: string) =>
  hexToBigInt(
    (await anvil.rpc('eth_call', [
      { to: token, data: `0x70a08231${'0'.repeat(24)}${address.slice(2).toLowerCase()}` },
      'latest',
    ])) as Hex,
  );
const nonceOf = async (address: string) =>
  Number(hexToBigInt((await anvil.rpc('eth_getTransactionCount', [address, 'latest'])) as Hex));

/** anvil mines right after answering, not before: wait (bounded) for the receipt. */
async function receiptOf(hash: Hex): Promise<{ contractAddress: Hex; status: Hex }> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const receipt = (await anvil.rpc('eth_getTransactionReceipt', [hash])) as {
      contractAddress: Hex;
      status: Hex;
    } | null;
    if (receipt) return receipt;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no receipt for ${hash} after 5 s`);
}

async function signAndSend(serialized: Hex): Promise<string> {
  // What every node does: decode the unsigned bytes itself before signing.
  decodeEvmTransfer(serialized, { network, from: wallet });
  const signature = signRecoverable(evmSigningDigest(serialized), walletKey);
  const signed = await attachEvmSignature(serialized, signature, { from: wallet });
  return broadcaster.broadcast(signed);
}

beforeAll(async () => {
  anvil = await startAnvil();
  broadcaster = new EvmBroadcaster({ url: anvil.url, timeoutMs: 5_000, retries: 1 });
  await receiptOf(
    (await anvil.rpc('eth_sendTransaction', [
      { from: FUNDER, to: wallet, value: '0xde0b6b3a7640000' },
    ])) as Hex,
  ); // 1 ETH
  const deploy = (await anvil.rpc('eth_sendTransaction', [
    { from: FUNDER, data: minimalTokenInitCode(10n ** 12n), gas: '0x100000' },
  ])) as Hex;
  token = (await receiptOf(deploy)).contractAddress;
  network = {
    chainId: 31337,
    nativeSymbol: 'ETH',
    tokens: [{ contract: token, symbol: 'TST', decimals: 6 }],
    maxFeeWei: 10n ** 16n,
  };
  const credit = `0xa9059cbb${'0'.repeat(24)}${wallet.slice(2).toLowerCase()}${5_000_000n.toString(16).padStart(64, '0')}`;
  await receiptOf(
    (await anvil.rpc('eth_sendTransaction', [{ from: FUNDER, to: token, data: credit }])) as Hex,
  );
}, 30_000);

afterAll(async () => {
  await anvil?.stop();
});

describe('EVM on anvil', () => {
  it('the chain id the network reports is the one the decoder enforces', async () => {
    expect(Number(hexToBigInt((await anvil.rpc('eth_chainId')) as Hex))).toBe(network.chainId);
    expect(await tokenBalance(wallet)).toBe(5_000_000n);
  });

  it('broadcasts a signed EIP-1559 native transfer and tracks confirmations', async () => {
    const before = await balance(RECIPIENT);
    const walletBefore = await balance(wallet);
    const built = buildEvmTransfer({
      network,
      from: wallet,
      to: RECIPIENT,
      amount: 12_345n,
      nonce: await nonceOf(wallet),
      ...fees,
    });
    const txid = await signAndSend(built.serialized);
    const first = await waitForConfirmations(broadcaster, txid, {
      confirmations: 1,
      pollIntervalMs: 50,
      timeoutMs: 5_000,
    });
    expect(first.state).toBe('confirmed');
    await anvil.rpc('anvil_mine', ['0x2']);
    const third = await waitForConfirmations(broadcaster, txid, {
      confirmations: 3,
      pollIntervalMs: 50,
      timeoutMs: 5_000,
    });
    expect(third.confirmations).toBeGreaterThanOrEqual(3);
    expect(await balance(RECIPIENT)).toBe(before + 12_345n);
    const spent = walletBefore - (await balance(wallet));
    expect(spent).toBeGreaterThan(12_345n);
    expect(spent).toBeLessThanOrEqual(12_345n + built.intent.fee);
  });

  it('broadcasts a signed ERC-20 transfer and moves exactly the decoded amount', async () => {
    const built = buildEvmTransfer({
      network,
      from: wallet,
      to: RECIPIENT,
      token,
      amount: 1_250_000n,
      nonce: await nonceOf(wallet),
      ...fees,
      gas: 80_000n,
    });
    const txid = await signAndSend(built.serialized);
    await waitForConfirmations(broadcaster, txid, { confirmations: 1, pollIntervalMs: 50, timeoutMs: 5_000 });
    expect(await tokenBalance(RECIPIENT)).toBe(1_250_000n);
    expect(await tokenBalance(wallet)).toBe(3_750_000n);
  });

  it('reports a reverted token transfer as failed', async () => {
    const built = buildEvmTransfer({
      network,
      from: wallet,
      to: RECIPIENT,
      token,
      amount: 10n ** 11n, // more than the wallet holds: the token reverts
      nonce: await nonceOf(wallet),
      ...fees,
      gas: 80_000n,
    });
    const txid = await signAndSend(built.serialized);
    await expectChainError(
      () =>
        waitForConfirmations(broadcaster, txid, { confirmations: 1, pollIntervalMs: 50, timeoutMs: 5_000 }),
      'transaction-failed',
    );
  });

  it('the node rejects a replayed nonce and the broadcaster says so', async () => {
    const built = buildEvmTransfer({ network, from: wallet, to: RECIPIENT, amount: 1n, nonce: 0, ...fees });
    await expectChainError(
      () => signAndSend(built.serialized),
      'broadcast-rejected',
      'eth_sendRawTransaction',
    );
  });

  it('an unknown transaction id is unknown, and waiting for it times out', async () => {
    const txid = `0x${'ab'.repeat(32)}`;
    expect((await broadcaster.status(txid)).state).toBe('unknown');
    await expectChainError(
      () => waitForConfirmations(broadcaster, txid, { confirmations: 1, pollIntervalMs: 20, timeoutMs: 100 }),
      'timeout',
    );
  });
});
