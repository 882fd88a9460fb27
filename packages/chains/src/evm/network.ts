// An EVM network as the adapters need it: the chain id is always explicit (EIP-155 replay
// protection), and the native asset's symbol and the fee cap come from configuration.
import { ChainError } from '../errors.ts';
import type { TokenInfo } from '../intent.ts';
import { parseEvmAddress } from './address.ts';

export interface EvmNetwork {
  chainId: number;
  /** Native asset symbol, e.g. ETH. Native amounts always have 18 decimals. */
  nativeSymbol: string;
  /** ERC-20 tokens the decoder may recognise; any other contract is refused. */
  tokens: readonly TokenInfo[];
  /** Refuse transactions whose fee upper bound (gas × maxFeePerGas) exceeds this, in wei. */
  maxFeeWei: bigint;
  /** Refuse gas limits above this (default 30 000 000, a block). */
  maxGas?: bigint;
}

export const NATIVE_DECIMALS = 18;

export function networkName(network: EvmNetwork): string {
  return `eip155:${network.chainId}`;
}

export function checkEvmNetwork(network: EvmNetwork): void {
  if (!Number.isSafeInteger(network.chainId) || network.chainId <= 0) {
    throw new ChainError('invalid-argument', 'network.chainId', 'must be a positive safe integer');
  }
  if (typeof network.maxFeeWei !== 'bigint' || network.maxFeeWei <= 0n) {
    throw new ChainError('invalid-argument', 'network.maxFeeWei', 'must be a positive bigint');
  }
}

/** The configured token at `contract`, or undefined. */
export function findToken(network: EvmNetwork, contract: string): TokenInfo | undefined {
  const wanted = contract.toLowerCase();
  return network.tokens.find((token, index) => {
    parseEvmAddress(token.contract, `network.tokens[${index}].contract`);
    return token.contract.toLowerCase() === wanted;
  });
}
