// Bitcoin broadcaster over an Esplora-style HTTP API: POST /tx, GET /tx/:txid/status,
// GET /blocks/tip/height.
import { Transaction } from 'bitcoinjs-lib';
import type { Broadcaster, TransactionStatus } from '../broadcast/confirm.ts';
import { checkEndpoint, type EndpointConfig, httpRequest, isRecord, parseJson } from '../broadcast/http.ts';
import { ChainError, wrapErrors } from '../errors.ts';

const TXID = /^[0-9a-f]{64}$/;

export class EsploraBroadcaster implements Broadcaster<string> {
  readonly #endpoint: Required<EndpointConfig>;

  constructor(endpoint: EndpointConfig) {
    this.#endpoint = checkEndpoint(endpoint);
  }

  /** Submits raw transaction hex; returns the txid, which must match the one computed locally. */
  async broadcast(rawHex: string): Promise<string> {
    if (typeof rawHex !== 'string' || !/^([0-9a-f]{2})+$/.test(rawHex)) {
      throw new ChainError('invalid-argument', 'rawHex', 'must be lowercase hex');
    }
    const expected = wrapErrors('malformed-transaction', 'rawHex', () => Transaction.fromHex(rawHex).getId());
    const answer = await httpRequest(this.#endpoint, '/tx', {
      method: 'POST',
      body: rawHex,
      contentType: 'text/plain',
    });
    if (answer.status !== 200)
      throw new ChainError(
        'broadcast-rejected',
        '/tx',
        `HTTP ${answer.status}: ${answer.body.slice(0, 200)}`,
      );
    const txid = answer.body.trim();
    if (txid !== expected)
      throw new ChainError('rpc-error', '/tx', `returned ${txid.slice(0, 80)}, expected ${expected}`);
    return txid;
  }

  async status(txid: string): Promise<TransactionStatus> {
    if (!TXID.test(txid)) throw new ChainError('invalid-argument', 'txid', 'must be 64 lowercase hex digits');
    const answer = await httpRequest(this.#endpoint, `/tx/${txid}/status`, { method: 'GET' });
    if (answer.status === 404) return { state: 'unknown', confirmations: 0 };
    if (answer.status !== 200) throw new ChainError('rpc-error', '/tx/status', `HTTP ${answer.status}`);
    const status = parseJson(answer.body, '/tx/status');
    if (!isRecord(status) || typeof status.confirmed !== 'boolean') {
      throw new ChainError('rpc-error', '/tx/status.confirmed', 'must be a boolean');
    }
    if (!status.confirmed) return { state: 'pending', confirmations: 0 };
    const height = status.block_height;
    if (typeof height !== 'number' || !Number.isSafeInteger(height) || height < 0) {
      throw new ChainError('rpc-error', '/tx/status.block_height', 'must be a non-negative integer');
    }
    const tipAnswer = await httpRequest(this.#endpoint, '/blocks/tip/height', { method: 'GET' });
    const tip = Number(tipAnswer.body.trim());
    if (tipAnswer.status !== 200 || !/^[0-9]+$/.test(tipAnswer.body.trim()) || !Number.isSafeInteger(tip)) {
      throw new ChainError('rpc-error', '/blocks/tip/height', 'not a block height');
    }
    return { state: 'confirmed', confirmations: Math.max(0, tip - height + 1), blockNumber: height };
  }
}
