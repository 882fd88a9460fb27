// Shared by the transfer-request suites: approver keys, a tiered policy document over one threshold
// key's EVM addresses (hot at m, cold at m/1, warm at m/2), and approval signing.
import { type Approval, signApproval } from '@coffer/policy/approvals';
import { SigningKey } from '@coffer/policy/keys';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8ToBytes } from '@noble/hashes/utils.js';

export const approverKey = (label: string): SigningKey =>
  SigningKey.generate(sha256(utf8ToBytes(`coffer-requests-test/${label}`)));

export const APPROVERS = {
  alice: approverKey('alice'),
  bob: approverKey('bob'),
  carol: approverKey('carol'),
  oracle: approverKey('oracle'),
};

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const ETH = 10n ** 18n;

/** Paths of the tier wallets on the one test key. */
export const TIER_PATHS = { hot: 'm', cold: 'm/1', warm: 'm/2' } as const;

export interface PolicyAddresses {
  network: string;
  hot: string;
  cold: string;
  warm: string;
  /** External destination in the address book, past its cool-off. */
  exchange: string;
  /** External destination in the address book, still cooling off. */
  fresh: string;
}

/**
 * Hot wallet pays address-book entries; transfers above 0.1 ETH need two officers; the maker operator
 * (`otc` unless named) may move at most 0.25 ETH a day (split transfers add up); `alice` is both a
 * maker and an approver.
 */
export function requestPolicyWire(
  a: PolicyAddresses,
  options: { nowMs: number; version?: number; maker?: string },
) {
  const maker = options.maker ?? 'otc';
  const asset = `evm:${a.network}:native`;
  return {
    format: 'coffer-policy/1',
    version: options.version ?? 1,
    activatesAtMs: options.nowMs - DAY,
    reference: { currency: 'USD', decimals: 2 },
    pricing: { signers: [{ id: 'oracle', publicKey: APPROVERS.oracle.publicKey }], maxAgeMs: HOUR },
    approvals: { maxTtlMs: DAY },
    wallets: [
      { id: 'hot-eth', tier: 'hot', chain: 'evm', network: a.network, address: a.hot },
      { id: 'cold-eth', tier: 'cold', chain: 'evm', network: a.network, address: a.cold },
      { id: 'warm-eth', tier: 'warm', chain: 'evm', network: a.network, address: a.warm },
    ],
    addressBook: [
      {
        id: 'exchange-a',
        name: 'Exchange A deposit',
        chain: 'evm',
        network: a.network,
        tier: 'hot',
        address: a.exchange,
        addedAtMs: options.nowMs - 10 * DAY,
        coolOffMs: DAY,
      },
      {
        id: 'fresh-b',
        name: 'Counterparty B (added an hour ago)',
        chain: 'evm',
        network: a.network,
        tier: 'hot',
        address: a.fresh,
        addedAtMs: options.nowMs - HOUR,
        coolOffMs: DAY,
      },
    ],
    approverGroups: [
      {
        id: 'officers',
        approvers: [
          { id: 'alice', publicKey: APPROVERS.alice.publicKey },
          { id: 'bob', publicKey: APPROVERS.bob.publicKey },
          { id: 'carol', publicKey: APPROVERS.carol.publicKey },
        ],
      },
    ],
    operators: [
      { id: maker, roles: ['maker'] },
      { id: 'alice', roles: ['maker', 'approver'] },
      { id: 'bob', roles: ['approver'] },
      { id: 'carol', roles: ['approver'] },
    ],
    rules: [
      {
        id: 'hot-to-address-book',
        when: { tiers: ['hot'], destination: { kind: 'address-book' } },
        effect: { type: 'allow' },
      },
      // Allows everything the tier routes permit: the routes themselves must stop cold/warm → external.
      { id: 'anything-else', when: {}, effect: { type: 'allow' } },
    ],
    quorum: [
      { id: 'small', asset, upToBaseUnits: (ETH / 10n).toString() },
      { id: 'large', approvals: { group: 'officers', count: 2 } },
    ],
    limits: [
      {
        id: 'otc-daily',
        scope: 'operator',
        operators: [maker],
        windowMs: DAY,
        asset,
        maxBaseUnits: ((ETH * 25n) / 100n).toString(),
      },
    ],
    delays: { largeDelayMs: 0, firstTimeDestinationDelayMs: 0 },
    screening: { denylist: [] },
  };
}

export function approval(
  who: keyof typeof APPROVERS,
  requestDigest: string,
  options: { approvedAtMs: number; ttlMs?: number },
): Approval {
  return signApproval(
    {
      approverId: who,
      requestDigest,
      approvedAtMs: options.approvedAtMs,
      expiresAtMs: options.approvedAtMs + (options.ttlMs ?? HOUR),
    },
    APPROVERS[who],
  );
}
