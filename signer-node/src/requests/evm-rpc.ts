// Builds unsigned EVM transfers from the configured JSON-RPC endpoint: chain id (checked against the
// configuration), the next nonce and EIP-1559 fees come from the node; the bytes come from
// @coffer/chains (buildEvmTransfer), which every node decodes again before it signs.

import { ChainError } from '@coffer/chains/errors';
import { buildEvmTransfer, type EvmNetwork, type UnsignedEvmTransfer } from '@coffer/chains/evm';

const QUANTITY = /^0x(0|[1-9a-f][0-9a-f]*)$/;
const NATIVE_TRANSFER_GAS = 21_000n;
/** Used when the endpoint does not implement eth_maxPriorityFeePerGas. */
const DEFAULT_PRIORITY_FEE_WEI = 1_000_000_000n;

export class EvmRpc {
  #nextId = 1;

  constructor(
    readonly url: string,
    private readonly timeoutMs = 5_000,
  ) {}

  async call(method: string, params: unknown[]): Promise<unknown> {
    const id = this.#nextId++;
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const timeout = (error as Error).name === 'TimeoutError';
      throw new ChainError(
        timeout ? 'timeout' : 'rpc-error',
        method,
        timeout ? `no answer within ${this.timeoutMs} ms` : 'endpoint unreachable',
      );
    }
    const text = await response.text();
    if (text.length > 1_000_000) throw new ChainError('rpc-error', method, 'reply too large');
    let reply: unknown;
    try {
      reply = JSON.parse(text);
    } catch {
      throw new ChainError('rpc-error', method, `HTTP ${response.status}: reply is not JSON`);
    }
    if (typeof reply !== 'object' || reply === null)
      throw new ChainError('rpc-error', method, 'not an object');
    const r = reply as { id?: unknown; error?: { message?: unknown }; result?: unknown };
    if (r.id !== id) throw new ChainError('rpc-error', method, 'reply to another request');
    if (r.error !== undefined) {
      const message = typeof r.error?.message === 'string' ? r.error.message.slice(0, 200) : 'error';
      throw new ChainError('rpc-error', method, message);
    }
    if (!('result' in r)) throw new ChainError('rpc-error', method, 'reply has no result');
    return r.result;
  }

  async quantity(method: string, params: unknown[]): Promise<bigint> {
    return parseQuantity(await this.call(method, params), method);
  }
}

export function parseQuantity(value: unknown, field: string): bigint {
  if (typeof value !== 'string' || !QUANTITY.test(value))
    throw new ChainError('rpc-error', field, 'not a hex quantity');
  return BigInt(value);
}

export interface EvmBuildRequest {
  network: EvmNetwork;
  from: string;
  to: string;
  token?: string;
  amount: bigint;
  /** Lowest nonce this node may use (one above the nonces it already handed to live requests). */
  minNonce?: number;
}

/** Asks the endpoint for chain id, nonce and fees, then builds the unsigned transaction. */
export async function buildEvmFromRpc(rpc: EvmRpc, request: EvmBuildRequest): Promise<UnsignedEvmTransfer> {
  const chainId = await rpc.quantity('eth_chainId', []);
  if (chainId !== BigInt(request.network.chainId)) {
    throw new ChainError(
      'chain-id-mismatch',
      'chains.evm.chainId',
      `the RPC endpoint serves chain ${chainId}, the node is configured for ${request.network.chainId}`,
    );
  }
  const pending = await rpc.quantity('eth_getTransactionCount', [request.from, 'pending']);
  let nonce = Number(pending);
  if (!Number.isSafeInteger(nonce))
    throw new ChainError('rpc-error', 'eth_getTransactionCount', 'out of range');
  if (request.minNonce !== undefined && request.minNonce > nonce) nonce = request.minNonce;
  const block = await rpc.call('eth_getBlockByNumber', ['latest', false]);
  if (typeof block !== 'object' || block === null)
    throw new ChainError('rpc-error', 'eth_getBlockByNumber', 'no latest block');
  const baseFee = parseQuantity((block as { baseFeePerGas?: unknown }).baseFeePerGas, 'baseFeePerGas');
  let priority: bigint;
  try {
    priority = await rpc.quantity('eth_maxPriorityFeePerGas', []);
  } catch {
    priority = DEFAULT_PRIORITY_FEE_WEI;
  }
  // Twice the base fee: the transaction stays includable through six full blocks of base-fee rises.
  const maxFeePerGas = baseFee * 2n + priority;
  let gas = NATIVE_TRANSFER_GAS;
  if (request.token !== undefined) {
    const data = `0xa9059cbb${'0'.repeat(24)}${request.to.slice(2).toLowerCase()}${request.amount
      .toString(16)
      .padStart(64, '0')}`;
    const estimate = await rpc.quantity('eth_estimateGas', [{ from: request.from, to: request.token, data }]);
    gas = (estimate * 5n) / 4n;
    if (gas < NATIVE_TRANSFER_GAS) gas = NATIVE_TRANSFER_GAS;
  }
  return buildEvmTransfer({
    network: request.network,
    from: request.from,
    to: request.to,
    ...(request.token !== undefined ? { token: request.token } : {}),
    amount: request.amount,
    nonce,
    gas,
    maxFeePerGas,
    maxPriorityFeePerGas: priority > maxFeePerGas ? maxFeePerGas : priority,
  });
}
