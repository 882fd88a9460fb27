// Lookups derived from one policy version, built once per parsed document: a node evaluates many
// requests under the same active version. Only a frozen document (what parsePolicy returns) is indexed
// and kept, so nothing can change under the index; anything else is indexed anew on every call.
// Each lookup answers exactly what the linear scan it replaces did (first match in document order).
import type { Chain } from '@coffer/chains/intent';
import type { AddressBookEntry, ApproverGroup, Operator, PolicyDocument, Rule, Wallet } from './document.ts';

/** EVM addresses compare case-insensitively (checksum casing is presentation); other chains exactly. */
export function addressKey(chain: Chain, address: string): string {
  return chain === 'evm' ? address.toLowerCase() : address;
}

export interface IndexedRule {
  rule: Rule;
  /** The rule has a condition only a decoded transfer intent can meet (raw digests never match it). */
  intentConditions: boolean;
}

export interface PolicyIndex {
  wallets: ReadonlyMap<string, Wallet>;
  operators: ReadonlyMap<string, Operator>;
  groups: ReadonlyMap<string, ApproverGroup>;
  /** Approver id → public key, from the first group that lists the id. */
  approverKeys: ReadonlyMap<string, string>;
  /** First wallet by chain, network and address key. */
  walletAt(chain: Chain, network: string, address: string): Wallet | undefined;
  /** First address-book entry by chain, network, tier and address key. */
  entryAt(chain: Chain, network: string, tier: string, address: string): AddressBookEntry | undefined;
  /** Whether `address`, compared as on `chain`, is on the local denylist. */
  denylisted(chain: Chain, address: string): boolean;
  rules: readonly IndexedRule[];
  /** Per limit (document order), its operator and wallet lists as sets: receipts are tested against them. */
  limits: readonly { operators?: ReadonlySet<string>; wallets?: ReadonlySet<string> }[];
}

/** An unambiguous map key of several strings (each length-prefixed, whatever characters they hold). */
function tupleKey(...parts: string[]): string {
  let key = '';
  for (const part of parts) key += `${part.length}:${part}`;
  return key;
}

function firstBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T> {
  const map = new Map<string, T>();
  for (const item of items) {
    const k = key(item);
    if (!map.has(k)) map.set(k, item);
  }
  return map;
}

function build(policy: PolicyDocument): PolicyIndex {
  const byAddress = firstBy(policy.wallets, (w) =>
    tupleKey(w.chain, w.network, addressKey(w.chain, w.address)),
  );
  const entries = firstBy(policy.addressBook, (e) =>
    tupleKey(e.chain, e.network, e.tier, addressKey(e.chain, e.address)),
  );
  const denyExact = new Set(policy.screening.denylist);
  const denyLower = new Set(policy.screening.denylist.map((a) => a.toLowerCase()));
  const approverKeys = new Map<string, string>();
  for (const group of policy.approverGroups) {
    for (const approver of group.approvers) {
      if (!approverKeys.has(approver.id)) approverKeys.set(approver.id, approver.publicKey);
    }
  }
  return {
    wallets: firstBy(policy.wallets, (w) => w.id),
    operators: firstBy(policy.operators, (o) => o.id),
    groups: firstBy(policy.approverGroups, (g) => g.id),
    approverKeys,
    walletAt: (chain, network, address) =>
      byAddress.get(tupleKey(chain, network, addressKey(chain, address))),
    entryAt: (chain, network, tier, address) =>
      entries.get(tupleKey(chain, network, tier, addressKey(chain, address))),
    denylisted: (chain, address) =>
      chain === 'evm' ? denyLower.has(address.toLowerCase()) : denyExact.has(address),
    limits: policy.limits.map((limit) => ({
      ...(limit.operators !== undefined ? { operators: new Set(limit.operators) } : {}),
      ...(limit.wallets !== undefined ? { wallets: new Set(limit.wallets) } : {}),
    })),
    rules: policy.rules.map((rule) => {
      const c = rule.when;
      const intentConditions =
        c.chains !== undefined ||
        c.assets !== undefined ||
        c.destination !== undefined ||
        c.minBaseUnits !== undefined ||
        c.maxBaseUnits !== undefined ||
        c.minReference !== undefined ||
        c.maxReference !== undefined;
      return { rule, intentConditions };
    }),
  };
}

const indexes = new WeakMap<PolicyDocument, PolicyIndex>();

export function policyIndex(policy: PolicyDocument): PolicyIndex {
  const cached = indexes.get(policy);
  if (cached !== undefined) return cached;
  const index = build(policy);
  if (Object.isFrozen(policy)) indexes.set(policy, index);
  return index;
}
