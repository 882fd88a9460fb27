// Bitcoin addresses and scripts: P2WPKH from a 33-byte compressed key, P2TR (key path) from a
// 32-byte x-only *output* key. Coffer's `schnorr-secp256k1-tr` public key is already the tweaked
// output key, so it is used as is — never tweaked again.
import * as ecc from '@bitcoinerlab/secp256k1';
import { address as bitcoinAddress, initEccLib, type Network, networks, payments } from 'bitcoinjs-lib';
import { ChainError } from '../errors.ts';
import { checkCompressedPublicKey } from '../signature.ts';

export type BitcoinNetworkName = 'mainnet' | 'testnet' | 'regtest';
export type BitcoinScriptType = 'p2pkh' | 'p2sh' | 'p2wpkh' | 'p2wsh' | 'p2tr';

/** The wallet that spends: its script type and public key (33-byte compressed or 32-byte x-only). */
export interface BitcoinWallet {
  type: 'p2wpkh' | 'p2tr';
  publicKey: Uint8Array;
}

const NETWORKS: Record<BitcoinNetworkName, Network> = {
  mainnet: networks.bitcoin,
  testnet: networks.testnet,
  regtest: networks.regtest,
};

let eccReady = false;
/** bitcoinjs needs an ECC backend for x-only key checks (P2TR); installed on first use. */
export function ensureEcc(): void {
  if (!eccReady) {
    initEccLib(ecc);
    eccReady = true;
  }
}

export function bitcoinNetwork(name: BitcoinNetworkName): Network {
  const network = NETWORKS[name];
  if (network === undefined)
    throw new ChainError('invalid-argument', 'network', 'must be mainnet, testnet or regtest');
  return network;
}

function checkXOnly(publicKey: Uint8Array, field: string): Uint8Array {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32 || !ecc.isXOnlyPoint(publicKey)) {
    throw new ChainError('invalid-public-key', field, 'must be a 32-byte x-only secp256k1 output key');
  }
  return publicKey;
}

/** Output script and address of the wallet. */
export function walletOutput(
  wallet: BitcoinWallet,
  network: BitcoinNetworkName,
): { address: string; script: Uint8Array } {
  ensureEcc();
  const net = bitcoinNetwork(network);
  const payment =
    wallet.type === 'p2wpkh'
      ? payments.p2wpkh({
          pubkey: checkCompressedPublicKey(wallet.publicKey, 'wallet.publicKey'),
          network: net,
        })
      : wallet.type === 'p2tr'
        ? payments.p2tr({ pubkey: checkXOnly(wallet.publicKey, 'wallet.publicKey'), network: net })
        : undefined;
  if (payment?.address === undefined || payment.output === undefined) {
    throw new ChainError('invalid-argument', 'wallet.type', 'must be p2wpkh or p2tr');
  }
  return { address: payment.address, script: payment.output };
}

export function p2wpkhAddress(publicKey: Uint8Array, network: BitcoinNetworkName): string {
  return walletOutput({ type: 'p2wpkh', publicKey }, network).address;
}

/** P2TR key-path address whose output key is `outputKey` (not tweaked again). */
export function p2trAddress(outputKey: Uint8Array, network: BitcoinNetworkName): string {
  return walletOutput({ type: 'p2tr', publicKey: outputKey }, network).address;
}

/** Standard script type of an output script, or undefined. */
export function classifyScript(script: Uint8Array): BitcoinScriptType | undefined {
  const n = script.length;
  if (
    n === 25 &&
    script[0] === 0x76 &&
    script[1] === 0xa9 &&
    script[2] === 0x14 &&
    script[23] === 0x88 &&
    script[24] === 0xac
  ) {
    return 'p2pkh';
  }
  if (n === 23 && script[0] === 0xa9 && script[1] === 0x14 && script[22] === 0x87) return 'p2sh';
  if (n === 22 && script[0] === 0x00 && script[1] === 0x14) return 'p2wpkh';
  if (n === 34 && script[0] === 0x00 && script[1] === 0x20) return 'p2wsh';
  if (n === 34 && script[0] === 0x51 && script[1] === 0x20) {
    ensureEcc();
    return ecc.isXOnlyPoint(script.subarray(2)) ? 'p2tr' : undefined;
  }
  return undefined;
}

/** Address of a standard output script on `network`. */
export function scriptToAddress(script: Uint8Array, network: BitcoinNetworkName): string {
  ensureEcc();
  return bitcoinAddress.fromOutputScript(script, bitcoinNetwork(network));
}

/** Output script of an address; an address of another network is `network-mismatch`. */
export function addressToScript(value: unknown, network: BitcoinNetworkName, field: string): Uint8Array {
  ensureEcc();
  if (typeof value !== 'string' || value.length === 0 || value.length > 100) {
    throw new ChainError('invalid-address', field, 'must be a non-empty address string');
  }
  let script: Uint8Array;
  try {
    script = bitcoinAddress.toOutputScript(value, bitcoinNetwork(network));
  } catch {
    for (const [other, net] of Object.entries(NETWORKS)) {
      if (other === network) continue;
      try {
        bitcoinAddress.toOutputScript(value, net);
        throw new ChainError('network-mismatch', field, `is a ${other} address, not ${network}`);
      } catch (error) {
        if (error instanceof ChainError) throw error;
      }
    }
    throw new ChainError('invalid-address', field, `is not a ${network} address`);
  }
  if (classifyScript(script) === undefined) {
    throw new ChainError(
      'invalid-address',
      field,
      'is not a standard P2PKH, P2SH, P2WPKH, P2WSH or P2TR address',
    );
  }
  return script;
}
