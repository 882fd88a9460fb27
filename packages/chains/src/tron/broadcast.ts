// TRON broadcaster over the full node's HTTP API: /wallet/broadcasttransaction,
// /wallet/gettransactioninfobyid, /wallet/gettransactionbyid and /wallet/getnowblock.
import type { Broadcaster, TransactionStatus } from '../broadcast/confirm.ts';
import { checkEndpoint, type EndpointConfig, httpRequest, isRecord, parseJson } from '../broadcast/http.ts';
import { ChainError } from '../errors.ts';
import type { SignedTronTransaction } from './transfer.ts';

const TXID = /^[0-9a-f]{64}$/;

function decodeMessage(message: unknown): string {
  if (typeof message !== 'string') return 'rejected';
  // The API hex-encodes its error text.
  return /^([0-9a-fA-F]{2})+$/.test(message) ? Buffer.from(message, 'hex').toString('utf8') : message;
}

export class TronBroadcaster implements Broadcaster<SignedTronTransaction> {
  readonly #endpoint: Required<EndpointConfig>;

  constructor(endpoint: EndpointConfig) {
    this.#endpoint = checkEndpoint(endpoint);
  }

  async #post(path: string, body: unknown): Promise<Record<string, unknown>> {
    const answer = await httpRequest(this.#endpoint, path, { method: 'POST', body: JSON.stringify(body) });
    if (answer.status !== 200) throw new ChainError('rpc-error', path, `HTTP ${answer.status}`);
    const reply = parseJson(answer.body, path);
    if (!isRecord(reply)) throw new ChainError('rpc-error', path, 'not a JSON object');
    return reply;
  }

  async broadcast(signed: SignedTronTransaction): Promise<string> {
    if (!TXID.test(signed.txID))
      throw new ChainError('invalid-argument', 'txID', 'must be 64 lowercase hex digits');
    const reply = await this.#post('/wallet/broadcasttransaction', signed);
    if (reply.result !== true) {
      const code = typeof reply.code === 'string' ? reply.code : 'ERROR';
      throw new ChainError(
        'broadcast-rejected',
        '/wallet/broadcasttransaction',
        `${code}: ${decodeMessage(reply.message)}`,
      );
    }
    if (reply.txid !== undefined && reply.txid !== signed.txID) {
      throw new ChainError('rpc-error', '/wallet/broadcasttransaction.txid', 'differs from the local txID');
    }
    return signed.txID;
  }

  async status(txid: string): Promise<TransactionStatus> {
    if (!TXID.test(txid)) throw new ChainError('invalid-argument', 'txid', 'must be 64 lowercase hex digits');
    const info = await this.#post('/wallet/gettransactioninfobyid', { value: txid });
    if (Object.keys(info).length === 0) {
      const transaction = await this.#post('/wallet/gettransactionbyid', { value: txid });
      return { state: Object.keys(transaction).length === 0 ? 'unknown' : 'pending', confirmations: 0 };
    }
    const blockNumber = info.blockNumber;
    if (typeof blockNumber !== 'number' || !Number.isSafeInteger(blockNumber) || blockNumber < 0) {
      throw new ChainError(
        'rpc-error',
        'gettransactioninfobyid.blockNumber',
        'must be a non-negative integer',
      );
    }
    const receipt = isRecord(info.receipt) ? info.receipt : {};
    const failed = info.result === 'FAILED' || (receipt.result !== undefined && receipt.result !== 'SUCCESS');
    const now = await this.#post('/wallet/getnowblock', {});
    const header =
      isRecord(now.block_header) && isRecord(now.block_header.raw_data) ? now.block_header.raw_data : {};
    const head = header.number;
    if (typeof head !== 'number' || !Number.isSafeInteger(head)) {
      throw new ChainError('rpc-error', 'getnowblock.block_header.raw_data.number', 'must be an integer');
    }
    return {
      state: failed ? 'failed' : 'confirmed',
      confirmations: Math.max(0, head - blockNumber + 1),
      blockNumber,
    };
  }
}
