// Local recomputation before an approval: the approver decodes the unsigned transaction and recomputes
// the request digest itself, so a node that lies about the intent (what the approver is shown) or about
// the digest (what the approver signs) is refused — the "what-you-see-is-what-you-sign" attack on
// approvers. Real EVM transactions from @coffer/chains, digests from @coffer/policy.
import { readFileSync } from 'node:fs';
import { buildEvmTransfer, type EvmNetwork } from '@coffer/chains/evm';
import { intentToWire } from '@coffer/chains/intent';
import { buildTronTransfer } from '@coffer/chains/tron';
import type { RequestView } from '@coffer/client';
import { type PolicyRequest, requestDigest } from '@coffer/policy/request';
import { describe, expect, it } from 'vitest';
import { checkRequestLocally, describeIntent, RequestCheckError } from '../src/request-check.ts';

const TOKEN = '0x5fbdb2315678afecb367f032d93f642f64180aa3';
const network: EvmNetwork = {
  chainId: 31337,
  nativeSymbol: 'ETH',
  tokens: [{ contract: TOKEN, symbol: 'USDC', decimals: 6 }],
  maxFeeWei: 10n ** 17n,
};
const from = '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266';
const to = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const attacker = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';
const fees = { nonce: 0, gas: 21_000n, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n };

function honestView(opts: { token?: boolean; recipient?: string } = {}): RequestView {
  const built = buildEvmTransfer({
    network,
    from,
    to: opts.recipient ?? to,
    amount: opts.token ? 5_000_000n : 1_500_000_000_000_000_000n,
    ...fees,
    ...(opts.token ? { token: TOKEN, gas: 65_000n } : {}),
  });
  const request: PolicyRequest = {
    kind: 'transfer',
    wallet: 'hot-eth',
    operator: 'otc-desk',
    submittedAtMs: 1_760_000_000_000,
    requestId: 'otc-order-42',
    unsignedTransaction: new Uint8Array(Buffer.from(built.serialized.slice(2), 'hex')),
    intent: built.intent,
  };
  const digest = requestDigest(request);
  return {
    id: `req-${'ab'.repeat(12)}`,
    kind: 'transfer',
    status: 'pending-approvals',
    wallet: 'hot-eth',
    keyId: 'cd'.repeat(32),
    path: 'm',
    operator: 'otc-desk',
    requestDigest: digest,
    submittedAtMs: request.submittedAtMs,
    requestId: request.requestId,
    intent: intentToWire(built.intent),
    unsignedTransaction: built.serialized,
    digest: null,
    decision: null,
    approvals: [],
    signature: null,
    signedTransaction: null,
    txHash: null,
    signers: [],
    history: [],
    error: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
}

function refusal(view: RequestView): RequestCheckError {
  try {
    checkRequestLocally(view);
  } catch (e) {
    if (e instanceof RequestCheckError) return e;
    throw e;
  }
  throw new Error('expected the request to be refused');
}

describe('checkRequestLocally', () => {
  it('accepts an honest native and token transfer and computes the same digest as the node', () => {
    for (const token of [false, true]) {
      const view = honestView({ token });
      const checked = checkRequestLocally(view);
      expect(checked.requestDigest).toBe(view.requestDigest);
      expect(checked.intent?.to.toLowerCase()).toBe(to);
      expect(describeIntent(checked.intent!).join('\n')).toContain(token ? '5 USDC' : '1.5 ETH');
    }
  });

  it('refuses a node that shows another recipient than the transaction pays (intent lie)', () => {
    const view = honestView();
    view.intent = { ...view.intent!, to: attacker };
    const e = refusal(view);
    expect([e.code, e.field]).toEqual(['intent-mismatch', 'intent.to']);
  });

  it('refuses a node that shows a smaller amount than the transaction sends', () => {
    const view = honestView();
    view.intent = { ...view.intent!, amount: '1000' };
    expect([refusal(view).code, refusal(view).field]).toEqual(['intent-mismatch', 'intent.amount']);
  });

  it('refuses a node that swaps in another transaction under the displayed intent', () => {
    const view = honestView();
    view.unsignedTransaction = honestView({ recipient: attacker }).unsignedTransaction;
    const e = refusal(view);
    expect([e.code, e.field]).toEqual(['intent-mismatch', 'intent.to']);
  });

  it('refuses a node whose digest is not the digest of the request it shows (digest lie)', () => {
    const view = honestView();
    // The digest of a request paying the attacker, shown with the honest transaction and intent.
    view.requestDigest = honestView({ recipient: attacker }).requestDigest;
    const e = refusal(view);
    expect([e.code, e.field]).toEqual(['digest-mismatch', 'requestDigest']);
  });

  it('refuses when wallet, operator, time or id were changed after the digest was computed', () => {
    for (const change of [
      (v: RequestView) => {
        v.wallet = 'cold-eth';
      },
      (v: RequestView) => {
        v.operator = 'alice';
      },
      (v: RequestView) => {
        v.submittedAtMs = v.submittedAtMs! + 1;
      },
      (v: RequestView) => {
        v.requestId = 'otc-order-43';
      },
    ]) {
      const view = honestView();
      change(view);
      expect(refusal(view).code).toBe('digest-mismatch');
    }
  });

  it('refuses a transaction for another chain id than the intent names', () => {
    const view = honestView();
    view.intent = { ...view.intent!, network: 'eip155:1' };
    const e = refusal(view);
    expect(e.code).toBe('undecodable');
    expect(e.field).toBe('unsignedTransaction.transaction.chainId');
  });

  it('refuses a view without what the digest needs, and chains it cannot decode', () => {
    const view = honestView();
    view.submittedAtMs = null;
    expect([refusal(view).code, refusal(view).field]).toEqual(['incomplete-request', 'submittedAtMs']);
    const bitcoin = honestView();
    bitcoin.intent = { ...bitcoin.intent!, chain: 'bitcoin', network: 'regtest' };
    expect([refusal(bitcoin).code, refusal(bitcoin).field]).toEqual(['undecodable', 'intent.chain']);
    // EVM bytes presented as a TRON transaction do not decode as one.
    const tron = honestView();
    tron.intent = { ...tron.intent!, chain: 'tron', network: 'nile' };
    expect(refusal(tron).code).toBe('undecodable');
  });

  it('decodes TRON transfers too: an honest TRX transfer passes, a changed amount or owner is refused', () => {
    // Published TRON addresses (test-vectors/data/chains/tron.json).
    const vectors = JSON.parse(
      readFileSync(new URL('../../../test-vectors/data/chains/tron.json', import.meta.url), 'utf8'),
    ) as { addresses: Array<{ address: string }> };
    const address = (i: number) => vectors.addresses[i]!.address;
    const owner = address(0);
    const built = buildTronTransfer({
      network: { name: 'nile', tokens: [], maxFeeLimitSun: 100_000_000n },
      from: owner,
      to: address(1),
      amount: 1_500_000n,
      refBlock: { number: 70_000_123, hash: `0000000004${'ab'.repeat(27)}` },
      timestampMs: 1_760_000_000_000,
    });
    const request: PolicyRequest = {
      kind: 'transfer',
      wallet: 'hot-trx',
      operator: 'otc-desk',
      submittedAtMs: 1_760_000_000_000,
      requestId: 'otc-order-7',
      unsignedTransaction: new Uint8Array(Buffer.from(built.transaction.raw_data_hex, 'hex')),
      intent: built.intent,
    };
    const view: RequestView = {
      ...honestView(),
      wallet: 'hot-trx',
      requestId: 'otc-order-7',
      intent: intentToWire(built.intent),
      unsignedTransaction: built.transaction.raw_data_hex,
      requestDigest: requestDigest(request),
    };
    expect(checkRequestLocally(view).requestDigest).toBe(view.requestDigest);
    expect(refusal({ ...view, intent: { ...view.intent!, amount: '1' } }).field).toBe('intent.amount');
    // Another sender than the transaction's owner: the decoder itself refuses.
    expect(refusal({ ...view, intent: { ...view.intent!, from: address(2) } }).code).toBe('undecodable');
  });

  it('recomputes raw-digest requests too', () => {
    const request: PolicyRequest = {
      kind: 'raw-digest',
      wallet: 'hot-eth',
      operator: 'ops',
      submittedAtMs: 5,
      requestId: 'raw-1',
      digest: new Uint8Array(32).fill(7),
    };
    const view: RequestView = {
      ...honestView(),
      kind: 'raw-digest',
      operator: 'ops',
      submittedAtMs: 5,
      requestId: 'raw-1',
      intent: null,
      unsignedTransaction: null,
      digest: '07'.repeat(32),
      requestDigest: requestDigest(request),
    };
    expect(checkRequestLocally(view).requestDigest).toBe(view.requestDigest);
    expect(refusal({ ...view, digest: '08'.repeat(32) }).code).toBe('digest-mismatch');
  });
});
