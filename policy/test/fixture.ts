// A realistic policy and request builders shared by the policy tests. Keys are derived from labels so
// every run (and every decision digest) is reproducible.

import type { TransferIntent } from '@coffer/chains/intent';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';
import { type Approval, signApproval } from '../src/approvals.ts';
import { type PolicyDocument, parsePolicy } from '../src/document.ts';
import type { EvaluationContext } from '../src/evaluate.ts';
import { SigningKey } from '../src/keys.ts';
import { type PriceSnapshot, signPriceSnapshot } from '../src/price.ts';
import { requestDigest, type TransferRequest } from '../src/request.ts';

export const key = (label: string): SigningKey =>
  SigningKey.generate(sha256(utf8ToBytes(`coffer-test/${label}`)));

export const KEYS = {
  alice: key('alice'),
  bob: key('bob'),
  carol: key('carol'),
  dave: key('dave'),
  oracle: key('oracle'),
  admin1: key('admin1'),
  admin2: key('admin2'),
  admin3: key('admin3'),
};

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
/** Wednesday 2026-11-18 12:00:00 UTC. */
export const T0 = Date.UTC(2026, 10, 18, 12, 0, 0);
export const ETH = 10n ** 18n;
export const NETWORK = 'eip155:1';
export const ETH_KEY = 'evm:eip155:1:native';

export const ADDRESS = {
  cold: '0x1000000000000000000000000000000000000001',
  warm: '0x2000000000000000000000000000000000000002',
  hot: '0x3000000000000000000000000000000000000003',
  hot2: '0x3000000000000000000000000000000000000033',
  exchange: '0x4000000000000000000000000000000000000004',
  fresh: '0x5000000000000000000000000000000000000005',
  stranger: '0x6000000000000000000000000000000000000006',
  sanctioned: '0x7000000000000000000000000000000000000007',
};

/** The wire (JSON) form, as an admin would write it. 1 ETH = 2 000.00 USD in the default snapshot. */
export function policyWire(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    format: 'coffer-policy/1',
    version: 1,
    activatesAtMs: T0 - 30 * DAY,
    reference: { currency: 'USD', decimals: 2 },
    pricing: { signers: [{ id: 'oracle', publicKey: KEYS.oracle.publicKey }], maxAgeMs: HOUR },
    approvals: { maxTtlMs: DAY },
    wallets: [
      { id: 'cold-eth', tier: 'cold', chain: 'evm', network: NETWORK, address: ADDRESS.cold },
      { id: 'warm-eth', tier: 'warm', chain: 'evm', network: NETWORK, address: ADDRESS.warm },
      { id: 'hot-eth', tier: 'hot', chain: 'evm', network: NETWORK, address: ADDRESS.hot },
      { id: 'hot-eth-2', tier: 'hot', chain: 'evm', network: NETWORK, address: ADDRESS.hot2 },
    ],
    addressBook: [
      {
        id: 'exchange-a',
        name: 'Exchange A deposit',
        chain: 'evm',
        network: NETWORK,
        tier: 'hot',
        address: ADDRESS.exchange,
        addedAtMs: T0 - 10 * DAY,
        coolOffMs: DAY,
      },
      {
        id: 'fresh-b',
        name: 'Counterparty B (new)',
        chain: 'evm',
        network: NETWORK,
        tier: 'hot',
        address: ADDRESS.fresh,
        addedAtMs: T0 - HOUR,
        coolOffMs: DAY,
      },
    ],
    approverGroups: [
      {
        id: 'officers',
        approvers: [
          { id: 'alice', publicKey: KEYS.alice.publicKey },
          { id: 'bob', publicKey: KEYS.bob.publicKey },
          { id: 'carol', publicKey: KEYS.carol.publicKey },
        ],
      },
      { id: 'cfo', approvers: [{ id: 'dave', publicKey: KEYS.dave.publicKey }] },
    ],
    operators: [
      { id: 'otc', roles: ['maker'], tiers: ['hot'] },
      { id: 'alice', roles: ['maker', 'approver'] },
      { id: 'treasury', roles: ['maker'] },
      { id: 'auditor', roles: ['auditor'] },
    ],
    rules: [
      {
        id: 'hot-to-address-book',
        when: { tiers: ['hot'], destination: { kind: 'address-book' } },
        effect: { type: 'allow' },
      },
      { id: 'internal-moves', when: { destination: { kind: 'wallet' } }, effect: { type: 'allow' } },
    ],
    quorum: [
      // 10 000.00 USD = 1 000 000 cents; 1 000 000.00 USD = 100 000 000 cents.
      { id: 'small', upToReference: '1000000', approvals: { group: 'officers', count: 1 } },
      {
        id: 'medium',
        upToReference: '100000000',
        approvals: {
          all: [
            { group: 'officers', count: 2 },
            { group: 'cfo', count: 1 },
          ],
        },
      },
      {
        id: 'large',
        approvals: {
          all: [
            { group: 'officers', count: 3 },
            { group: 'cfo', count: 1 },
          ],
        },
        delayMs: DAY,
      },
    ],
    limits: [],
    delays: { largeDelayMs: 0, firstTimeDestinationDelayMs: 0 },
    screening: { denylist: [ADDRESS.sanctioned] },
    ...overrides,
  };
}

export function policy(overrides: Record<string, unknown> = {}): PolicyDocument {
  return parsePolicy(policyWire(overrides));
}

export const WALLET_ADDRESS: Record<string, string> = {
  'cold-eth': ADDRESS.cold,
  'warm-eth': ADDRESS.warm,
  'hot-eth': ADDRESS.hot,
  'hot-eth-2': ADDRESS.hot2,
};

export function transfer(options: {
  wallet?: string;
  to?: string;
  amount?: bigint;
  operator?: string;
  submittedAtMs?: number;
  requestId?: string;
  intent?: Partial<TransferIntent>;
}): TransferRequest {
  const wallet = options.wallet ?? 'hot-eth';
  const intent: TransferIntent = {
    chain: 'evm',
    network: NETWORK,
    asset: { kind: 'native', symbol: 'ETH', decimals: 18 },
    from: WALLET_ADDRESS[wallet] ?? ADDRESS.stranger,
    to: options.to ?? ADDRESS.exchange,
    amount: options.amount ?? ETH,
    fee: 21_000n * 30_000_000_000n,
    ...options.intent,
  };
  // Stand-in for the unsigned bytes: the digest must commit to them, whatever they are.
  const unsignedTransaction = sha256(
    utf8ToBytes(`${intent.from}>${intent.to}:${intent.amount}:${options.requestId}`),
  );
  return {
    kind: 'transfer',
    wallet,
    operator: options.operator ?? 'otc',
    submittedAtMs: options.submittedAtMs ?? T0,
    requestId: options.requestId ?? 'req-1',
    unsignedTransaction,
    intent,
  };
}

export function snapshot(
  overrides: Partial<{ asOfMs: number; unitPrice: string; signer: SigningKey }> = {},
): PriceSnapshot {
  return signPriceSnapshot(
    {
      currency: 'USD',
      asOfMs: overrides.asOfMs ?? T0 - 60_000,
      signer: 'oracle',
      prices: [{ asset: ETH_KEY, unitPrice: overrides.unitPrice ?? '2000' }],
    },
    overrides.signer ?? KEYS.oracle,
  );
}

export function approve(
  approverId: keyof typeof KEYS,
  request: TransferRequest | string,
  options: { approvedAtMs?: number; ttlMs?: number; key?: SigningKey } = {},
): Approval {
  const approvedAtMs = options.approvedAtMs ?? T0 + 60_000;
  return signApproval(
    {
      approverId,
      requestDigest: typeof request === 'string' ? request : requestDigest(request),
      approvedAtMs,
      expiresAtMs: approvedAtMs + (options.ttlMs ?? HOUR),
    },
    options.key ?? KEYS[approverId],
  );
}

/** Context at T0 + 2 min with a fresh signed price, clean screening and complete (empty) history. */
export function context(overrides: Partial<EvaluationContext> = {}): EvaluationContext {
  return {
    nowMs: T0 + 120_000,
    approvals: [],
    priceSnapshot: snapshot(),
    history: { completeFromMs: T0 - 30 * DAY, completeToMs: T0 + 120_000, receipts: [] },
    screening: { status: 'clear' },
    knownDestinations: [ADDRESS.exchange],
    ...overrides,
  };
}
