// What the desk reads from an EVM chain itself (it never sends a transaction): how deep a release's
// transaction is, and balances for reconciliation. Every call is bounded by a timeout, every answer is
// checked before use, and no error names the endpoint (RPC URLs often carry a provider key).
import { EvmBroadcaster } from '@coffer/chains/evm';
import { invalid, OtcError } from '../errors.ts';

const TX_HASH = /^0x[0-9a-f]{64}$/;
const ADDRESS = /^0x[0-9a-f]{40}$/;
const QUANTITY = /^0x(0|[1-9a-f][0-9a-f]*)$/;
const WORD = /^0x[0-9a-f]{64}$/;
const BALANCE_OF = '0x70a08231';

/** A transaction as the chain sees it; `reverted` moved nothing. */
export type ChainTransaction =
  | { state: 'unknown' }
  | { state: 'pending' }
  | { state: 'included' | 'reverted'; confirmations: number; blockNumber: number };

export class EvmReader {
  readonly #url: string;
  readonly #timeoutMs: number;
  readonly #status: EvmBroadcaster;
  #nextId = 1;

  constructor(url: string, timeoutMs: number) {
    this.#url = url;
    this.#timeoutMs = timeoutMs;
    // One attempt: the caller polls again on its own schedule.
    this.#status = new EvmBroadcaster({ url, timeoutMs, retries: 0 });
  }

  toJSON() {
    return { evmRpcUrl: '<redacted>' };
  }

  async transaction(txHash: string): Promise<ChainTransaction> {
    if (!TX_HASH.test(txHash)) throw invalid('txHash', 'must be 0x and 64 lowercase hex digits');
    let s: Awaited<ReturnType<EvmBroadcaster['status']>>;
    try {
      s = await this.#status.status(txHash);
    } catch (e) {
      throw rpcFailure('transaction status', e);
    }
    if (s.state === 'unknown' || s.state === 'pending') return { state: s.state };
    return {
      state: s.state === 'confirmed' ? 'included' : 'reverted',
      confirmations: s.confirmations,
      blockNumber: s.blockNumber ?? 0,
    };
  }

  /** What the transaction cost its sender in wei (gasUsed × effectiveGasPrice); undefined before it is mined. */
  async fee(txHash: string): Promise<bigint | undefined> {
    if (!TX_HASH.test(txHash)) throw invalid('txHash', 'must be 0x and 64 lowercase hex digits');
    const receipt = (await this.#call('eth_getTransactionReceipt', [txHash])) as Record<
      string,
      unknown
    > | null;
    if (receipt === null) return undefined;
    return quantity(receipt.gasUsed, 'gasUsed') * quantity(receipt.effectiveGasPrice, 'effectiveGasPrice');
  }

  /** Native balance in wei. */
  async balance(address: string): Promise<bigint> {
    const holder = checkAddress(address, 'address');
    return quantity(await this.#call('eth_getBalance', [holder, 'latest']), 'eth_getBalance');
  }

  /** ERC-20 `balanceOf(holder)` in the token's base units. */
  async tokenBalance(contract: string, address: string): Promise<bigint> {
    const token = checkAddress(contract, 'asset.contract');
    const holder = checkAddress(address, 'address');
    const data = `${BALANCE_OF}${holder.slice(2).padStart(64, '0')}`;
    const result = await this.#call('eth_call', [{ to: token, data }, 'latest']);
    if (typeof result !== 'string' || !WORD.test(result.toLowerCase()))
      throw new OtcError(
        'custody-error',
        'chain RPC eth_call balanceOf: not one 32-byte word',
        'asset.contract',
      );
    return BigInt(result);
  }

  async #call(method: string, params: unknown[]): Promise<unknown> {
    const id = this.#nextId++;
    let reply: unknown;
    try {
      const res = await fetch(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        signal: AbortSignal.timeout(this.#timeoutMs),
        redirect: 'error',
      });
      reply = JSON.parse(await res.text());
    } catch (e) {
      throw rpcFailure(method, e);
    }
    if (typeof reply !== 'object' || reply === null || (reply as { id?: unknown }).id !== id)
      throw new OtcError('custody-error', `chain RPC ${method}: not a JSON-RPC reply to this call`);
    const r = reply as { result?: unknown; error?: { message?: unknown } };
    if (r.error !== undefined)
      throw new OtcError(
        'custody-error',
        `chain RPC ${method}: ${typeof r.error.message === 'string' ? r.error.message.slice(0, 200) : 'error'}`,
      );
    return r.result;
  }
}

export function checkAddress(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ADDRESS.test(value.toLowerCase()))
    throw invalid(field, 'must be an EVM address (0x and 40 hex digits)');
  return value.toLowerCase();
}

function quantity(value: unknown, method: string): bigint {
  if (typeof value !== 'string' || !QUANTITY.test(value.toLowerCase()))
    throw new OtcError('custody-error', `chain RPC ${method}: not a hex quantity`);
  return BigInt(value);
}

/** The failure's kind only: a fetch error's text may carry the endpoint URL. */
function rpcFailure(what: string, e: unknown): OtcError {
  const err = e as { name?: string; code?: unknown };
  const kind =
    err.name === 'TimeoutError' || err.code === 'timeout'
      ? 'no answer in time'
      : err.name === 'SyntaxError'
        ? 'the answer is not JSON'
        : typeof err.code === 'string'
          ? err.code
          : 'unreachable';
  return new OtcError('custody-error', `chain RPC ${what}: ${kind}`, 'custody.evmRpcUrl');
}
