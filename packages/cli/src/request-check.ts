// What an approver checks on their own machine before signing (signer-node/docs/policy-api.md,
// "Approver keys"): the node's request view is only a claim. The unsigned transaction is decoded here
// with @coffer/chains, the decoded intent must equal the node's, and the PolicyRequest is rebuilt and
// its requestDigest recomputed with @coffer/policy; the approver signs the digest computed here, and
// only when it equals the node's. A node that lies about the intent or the digest is refused.

import { formatBaseUnits, MAX_INT64, MAX_UINT256 } from '@coffer/chains/amounts';
import { ChainError } from '@coffer/chains/errors';
import { decodeEvmTransfer, type EvmNetwork } from '@coffer/chains/evm';
import { intentFromWire, intentToWire, type TokenInfo, type TransferIntent } from '@coffer/chains/intent';
import { decodeTronTransfer } from '@coffer/chains/tron';
import type { RequestView } from '@coffer/client';
import { canonicalJson } from '@coffer/policy/canonical';
import { type PolicyRequest, requestDigest } from '@coffer/policy/request';
import { RequestCheckError } from './errors.ts';

export { RequestCheckError };

export type CheckedRequest = {
  request: PolicyRequest;
  /** Computed here; equal to the node's. */
  requestDigest: string;
  /** Decoded here from the unsigned transaction (transfers only). */
  intent: TransferIntent | null;
};

const HEX = /^(0x)?([0-9a-fA-F]{2})+$/;

function hexBytes(hex: string, field: string): Uint8Array {
  if (!HEX.test(hex)) throw new RequestCheckError('undecodable', field, `${field} is not hex`);
  return new Uint8Array(Buffer.from(hex.replace(/^0x/, ''), 'hex'));
}

function need<T>(value: T | null, field: string): T {
  if (value === null)
    throw new RequestCheckError(
      'incomplete-request',
      field,
      `the node's request view has no ${field}; the request digest cannot be recomputed`,
    );
  return value;
}

/** The token the node names, as the only one the local decoder will recognise. */
function claimedTokens(claimed: TransferIntent): TokenInfo[] {
  const { asset } = claimed;
  return asset.kind === 'token' && asset.contract !== undefined
    ? [{ contract: asset.contract, symbol: asset.symbol, decimals: asset.decimals }]
    : [];
}

function chainFailure(e: unknown): never {
  if (e instanceof ChainError)
    throw new RequestCheckError(
      'undecodable',
      `unsignedTransaction${e.field ? `.${e.field}` : ''}`,
      `the unsigned transaction does not decode: ${e.message}`,
    );
  throw e;
}

/**
 * Decodes the unsigned transaction itself. Only what the bytes say is trusted: recipient, amount,
 * token contract, chain id (EVM; the decoder refuses another) and fee. Symbol and decimals are labels
 * the node supplied; they are part of the digest, so honest nodes, which label with their own token
 * list, would not count an approval of a mislabelled request. The `from` of an EVM transaction is not in
 * its bytes; every node derives it from the key and checks it against the policy wallet.
 */
function decodeLocally(unsignedTransaction: string, claimed: TransferIntent): TransferIntent {
  if (claimed.chain === 'evm') {
    const chainId = /^eip155:([1-9][0-9]{0,15})$/.exec(claimed.network);
    if (!chainId)
      throw new RequestCheckError('undecodable', 'intent.network', 'EVM network must be eip155:<chainId>');
    const network: EvmNetwork = {
      chainId: Number(chainId[1]),
      nativeSymbol: claimed.asset.kind === 'native' ? claimed.asset.symbol : 'ETH',
      tokens: claimedTokens(claimed),
      maxFeeWei: MAX_UINT256,
    };
    const hex = `0x${unsignedTransaction.replace(/^0x/, '').toLowerCase()}`;
    try {
      return decodeEvmTransfer(hex, { network, from: claimed.from }).intent;
    } catch (e) {
      return chainFailure(e);
    }
  }
  if (claimed.chain === 'tron') {
    // TRON transactions name their sender (owner_address); the decoder requires it to be `from`.
    try {
      return decodeTronTransfer(unsignedTransaction.replace(/^0x/, '').toLowerCase(), {
        network: { name: claimed.network, tokens: claimedTokens(claimed), maxFeeLimitSun: MAX_INT64 },
        from: claimed.from,
      }).intent;
    } catch (e) {
      return chainFailure(e);
    }
  }
  throw new RequestCheckError(
    'undecodable',
    'intent.chain',
    `${claimed.chain} transactions cannot be decoded here yet; refusing to approve what this machine cannot check`,
  );
}

function firstDifference(a: Record<string, unknown>, b: Record<string, unknown>, at: string): string {
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const x = a[k];
    const y = b[k];
    if (typeof x === 'object' && x !== null && typeof y === 'object' && y !== null) {
      const d = firstDifference(x as Record<string, unknown>, y as Record<string, unknown>, `${at}.${k}`);
      if (d) return d;
    } else if (x !== y) return `${at}.${k}`;
  }
  return '';
}

/**
 * Rebuilds the request from the node's view, decoding and digesting it here. Throws RequestCheckError
 * when the view is incomplete, the transaction does not decode, or the node's intent or digest differ.
 */
export function checkRequestLocally(view: RequestView): CheckedRequest {
  const common = {
    wallet: view.wallet,
    operator: view.operator,
    submittedAtMs: need(view.submittedAtMs, 'submittedAtMs'),
    requestId: need(view.requestId, 'requestId'),
  };
  let request: PolicyRequest;
  let intent: TransferIntent | null = null;
  if (view.kind === 'transfer') {
    const unsigned = need(view.unsignedTransaction, 'unsignedTransaction');
    let claimed: TransferIntent;
    try {
      claimed = intentFromWire(need(view.intent, 'intent'));
    } catch (e) {
      if (e instanceof ChainError)
        throw new RequestCheckError(
          'incomplete-request',
          e.field ?? 'intent',
          `the node's intent: ${e.message}`,
        );
      throw e;
    }
    intent = decodeLocally(unsigned, claimed);
    const mine = intentToWire(intent) as unknown as Record<string, unknown>;
    const theirs = intentToWire(claimed) as unknown as Record<string, unknown>;
    if (canonicalJson(mine) !== canonicalJson(theirs)) {
      const field = firstDifference(mine, theirs, 'intent');
      throw new RequestCheckError(
        'intent-mismatch',
        field,
        `the node's intent differs from the unsigned transaction at ${field}: refusing to approve`,
      );
    }
    request = {
      kind: 'transfer',
      ...common,
      unsignedTransaction: hexBytes(unsigned, 'unsignedTransaction'),
      intent,
    };
  } else {
    request = { kind: 'raw-digest', ...common, digest: hexBytes(need(view.digest, 'digest'), 'digest') };
  }
  const digest = requestDigest(request);
  if (digest !== view.requestDigest)
    throw new RequestCheckError(
      'digest-mismatch',
      'requestDigest',
      `the node's request digest ${view.requestDigest.slice(0, 16)}… differs from the one computed here ${digest.slice(0, 16)}…: refusing to approve`,
    );
  if (view.decision !== null && view.decision.requestDigest !== digest)
    throw new RequestCheckError(
      'digest-mismatch',
      'decision.requestDigest',
      "the node's decision was made for another request digest: refusing to approve",
    );
  return { request, requestDigest: digest, intent };
}

/** One line a person can check against what they expect, e.g. "1.5 ETH to 0x… (…)". */
export function describeIntent(intent: TransferIntent): string[] {
  const asset =
    intent.asset.kind === 'native'
      ? intent.asset.symbol
      : `${intent.asset.symbol} (token ${intent.asset.contract})`;
  return [
    `send     ${formatBaseUnits(intent.amount, intent.asset.decimals)} ${asset}  [${intent.amount} base units]`,
    `from     ${intent.from}`,
    `to       ${intent.to}`,
    `network  ${intent.chain} ${intent.network}`,
    `fee      at most ${intent.fee} base units of the native asset`,
  ];
}
