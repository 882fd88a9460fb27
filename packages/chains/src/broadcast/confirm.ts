// The broadcaster interface shared by every chain, and bounded confirmation tracking.
import { ChainError } from '../errors.ts';
import { sleep } from './http.ts';

export type TransactionState = 'unknown' | 'pending' | 'confirmed' | 'failed';

export interface TransactionStatus {
  state: TransactionState;
  /** Blocks including and above the one that holds the transaction; 0 unless confirmed or failed. */
  confirmations: number;
  blockNumber?: number;
}

export interface Broadcaster<Signed> {
  /** Submits a signed transaction; returns its id, checked against the id computed locally. */
  broadcast(signed: Signed): Promise<string>;
  status(txid: string): Promise<TransactionStatus>;
}

export interface WaitOptions {
  /** Confirmations required (≥ 1). */
  confirmations: number;
  pollIntervalMs: number;
  timeoutMs: number;
}

/**
 * Polls `status` until the transaction has `confirmations`, at most ⌈timeoutMs / pollIntervalMs⌉ + 1
 * times. A failed (reverted) transaction throws `transaction-failed`; running out of polls throws
 * `timeout` naming the last state seen.
 */
export async function waitForConfirmations<Signed>(
  broadcaster: Broadcaster<Signed>,
  txid: string,
  options: WaitOptions,
): Promise<TransactionStatus> {
  if (!Number.isInteger(options.confirmations) || options.confirmations < 1) {
    throw new ChainError('invalid-argument', 'confirmations', 'must be a positive integer');
  }
  if (options.pollIntervalMs <= 0 || options.timeoutMs <= 0) {
    throw new ChainError('invalid-argument', 'timeoutMs', 'poll interval and timeout must be positive');
  }
  const polls = Math.ceil(options.timeoutMs / options.pollIntervalMs) + 1;
  let last: TransactionStatus = { state: 'unknown', confirmations: 0 };
  for (let poll = 0; poll < polls; poll++) {
    if (poll > 0) await sleep(options.pollIntervalMs);
    last = await broadcaster.status(txid);
    if (last.state === 'failed')
      throw new ChainError('transaction-failed', 'txid', `${txid} failed on chain`);
    if (last.state === 'confirmed' && last.confirmations >= options.confirmations) return last;
  }
  throw new ChainError(
    'timeout',
    'txid',
    `${txid} has ${last.confirmations}/${options.confirmations} confirmations (${last.state}) after ${options.timeoutMs} ms`,
  );
}
