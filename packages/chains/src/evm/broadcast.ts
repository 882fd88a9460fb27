// EVM broadcaster over JSON-RPC (eth_sendRawTransaction, eth_getTransactionReceipt, eth_blockNumber).
import { type Hex, keccak256 } from 'viem';
import type { Broadcaster, TransactionStatus } from '../broadcast/confirm.ts';
import { checkEndpoint, type EndpointConfig, httpRequest, isRecord, parseJson } from '../broadcast/http.ts';
import { ChainError } from '../errors.ts';

const HASH = /^0x[0-9a-f]{64}$/;
const QUANTITY = /^0x(0|[1-9a-f][0-9a-f]*)$/;

function quantity(value: unknown, field: string): number {
  if (typeof value !== 'string' || !QUANTITY.test(value))
    throw new ChainError('rpc-error', field, 'not a hex quantity');
  const number = Number.parseInt(value.slice(2), 16);
  if (!Number.isSafeInteger(number)) throw new ChainError('rpc-error', field, 'out of range');
  return number;
}

export class EvmBroadcaster implements Broadcaster<Hex> {
  readonly #endpoint: Required<EndpointConfig>;
  #nextId = 1;

  constructor(endpoint: EndpointConfig) {
    this.#endpoint = checkEndpoint(endpoint);
  }

  async #call(method: string, params: unknown[]): Promise<unknown> {
    const id = this.#nextId++;
    const answer = await httpRequest(this.#endpoint, '', {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
    });
    const reply = parseJson(answer.body, method);
    if (!isRecord(reply) || reply.jsonrpc !== '2.0' || reply.id !== id) {
      throw new ChainError('rpc-error', method, 'not a JSON-RPC 2.0 reply to this request');
    }
    if (reply.error !== undefined) {
      const message =
        isRecord(reply.error) && typeof reply.error.message === 'string' ? reply.error.message : 'error';
      throw new ChainError(
        method === 'eth_sendRawTransaction' ? 'broadcast-rejected' : 'rpc-error',
        method,
        message,
      );
    }
    if (!('result' in reply)) throw new ChainError('rpc-error', method, 'reply has neither result nor error');
    return reply.result;
  }

  async broadcast(signed: Hex): Promise<string> {
    if (typeof signed !== 'string' || !/^0x([0-9a-f]{2})+$/.test(signed)) {
      throw new ChainError('invalid-argument', 'signed', 'must be lowercase 0x-prefixed hex');
    }
    const expected = keccak256(signed);
    let result: unknown;
    try {
      result = await this.#call('eth_sendRawTransaction', [signed]);
    } catch (error) {
      // A retried submission the node already holds is a success.
      if (error instanceof ChainError && /already known/i.test(error.message)) return expected;
      throw error;
    }
    if (typeof result !== 'string' || !HASH.test(result) || result !== expected) {
      throw new ChainError(
        'rpc-error',
        'eth_sendRawTransaction',
        `returned ${String(result)}, expected ${expected}`,
      );
    }
    return expected;
  }

  async status(txid: string): Promise<TransactionStatus> {
    if (!HASH.test(txid))
      throw new ChainError('invalid-argument', 'txid', 'must be a 0x-prefixed 32-byte hash');
    const receipt = await this.#call('eth_getTransactionReceipt', [txid]);
    if (receipt === null) {
      const transaction = await this.#call('eth_getTransactionByHash', [txid]);
      return { state: transaction === null ? 'unknown' : 'pending', confirmations: 0 };
    }
    if (!isRecord(receipt)) throw new ChainError('rpc-error', 'eth_getTransactionReceipt', 'not an object');
    const blockNumber = quantity(receipt.blockNumber, 'receipt.blockNumber');
    const head = quantity(await this.#call('eth_blockNumber', []), 'eth_blockNumber');
    const confirmations = Math.max(0, head - blockNumber + 1);
    const status = quantity(receipt.status, 'receipt.status');
    return { state: status === 1 ? 'confirmed' : 'failed', confirmations, blockNumber };
  }
}
