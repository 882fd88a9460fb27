// What a signer node asks policy about: a transfer whose intent the node decoded itself from the
// unsigned transaction bytes, or a raw digest. The request digest commits to all of it, and is what
// approvers sign.

import type { TransferIntent } from '@coffer/chains/intent';
import { bytesToHex } from '@noble/hashes/utils.js';
import { taggedDigestHex } from './canonical.ts';

export interface TransferRequest {
  kind: 'transfer';
  /** Policy wallet id the transfer spends from. */
  wallet: string;
  /** The initiator (operator id the API key maps to). */
  operator: string;
  submittedAtMs: number;
  /** Idempotency key / client reference; committed to by the digest so two requests never share one. */
  requestId: string;
  /** The unsigned transaction bytes the signature will cover. */
  unsignedTransaction: Uint8Array;
  /** Decoded by this node from `unsignedTransaction` (packages/chains), never the client's description. */
  intent: TransferIntent;
}

export interface RawDigestRequest {
  kind: 'raw-digest';
  wallet: string;
  operator: string;
  submittedAtMs: number;
  requestId: string;
  digest: Uint8Array;
}

export type PolicyRequest = TransferRequest | RawDigestRequest;

export const REQUEST_DIGEST_DOMAIN = 'coffer/request/1';

/** The request's wire form (hex bytes, decimal amounts): what the digest is computed over. */
export function requestToWire(request: PolicyRequest): Record<string, unknown> {
  const common = {
    kind: request.kind,
    wallet: request.wallet,
    operator: request.operator,
    submittedAtMs: request.submittedAtMs,
    requestId: request.requestId,
  };
  if (request.kind === 'raw-digest') return { ...common, digest: bytesToHex(request.digest) };
  const { intent } = request;
  return {
    ...common,
    unsignedTransaction: bytesToHex(request.unsignedTransaction),
    intent: {
      chain: intent.chain,
      network: intent.network,
      asset: { ...intent.asset },
      from: intent.from,
      to: intent.to,
      amount: intent.amount.toString(),
      fee: intent.fee.toString(),
    },
  };
}

/** SHA-256 (hex) over the canonical request: unsigned bytes, decoded intent, wallet, initiator, time, id. */
export function requestDigest(request: PolicyRequest): string {
  return taggedDigestHex(REQUEST_DIGEST_DOMAIN, requestToWire(request));
}
