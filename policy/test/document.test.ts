import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/canonical.ts';
import { canonicalPolicyJson, parsePolicy, policyDigest, policyToWire } from '../src/document.ts';
import { PolicyError } from '../src/errors.ts';
import { policy, policyWire } from './fixture.ts';

function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reverseKeys(v)]),
  );
}

function rejects(wire: unknown, field: string): void {
  try {
    parsePolicy(wire);
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).field).toBe(field);
    return;
  }
  throw new Error(`expected the document to be refused at ${field}`);
}

describe('policy document', () => {
  it('parses the fixture and round-trips through the wire form', () => {
    const parsed = policy();
    expect(parsePolicy(policyToWire(parsed))).toEqual(parsed);
    expect(parsed.quorum[0]!.upToReference).toBe(1_000_000n);
  });

  it('refuses an unknown field, naming it (a typo must not silently drop a restriction)', () => {
    const wire = policyWire();
    (wire.rules as Record<string, unknown>[])[0]!.when = { tier: ['hot'] };
    rejects(wire, 'policy.rules[0].when.tier');
  });

  it('names the field and reason for bad values', () => {
    rejects(policyWire({ format: 'coffer-policy/2' }), 'policy.format');
    rejects(policyWire({ version: 0 }), 'policy.version');
    const badTier = policyWire();
    (badTier.wallets as Record<string, unknown>[])[1]!.tier = 'lukewarm';
    rejects(badTier, 'policy.wallets[1].tier');
    const badKey = policyWire();
    (badKey.approverGroups as { approvers: Record<string, unknown>[] }[])[0]!.approvers[1]!.publicKey = 'zz';
    rejects(badKey, 'policy.approverGroups[0].approvers[1].publicKey');
    rejects(policyWire({ quorum: [{ id: 'x', upToReference: '01' }] }), 'policy.quorum[0].upToReference');
    rejects(
      policyWire({ quorum: [{ id: 'x', approvals: { group: 'nobody', count: 1 } }] }),
      'policy.quorum[0].approvals.group',
    );
    rejects(policyWire({ limits: [{ id: 'l', scope: 'operator', windowMs: 1 }] }), 'policy.limits[0]');
  });

  it('refuses a raw-digest permission that does not name its wallets', () => {
    rejects(
      policyWire({ rules: [{ id: 'raw', rawDigest: true, when: {}, effect: { type: 'allow' } }] }),
      'policy.rules[0].when.wallets',
    );
  });

  it('refuses duplicate ids and one approver key used under two names', () => {
    const dup = policyWire();
    (dup.wallets as Record<string, unknown>[])[1]!.id = 'cold-eth';
    rejects(dup, 'policy.wallets[1]');
    const shared = policyWire();
    const groups = shared.approverGroups as { approvers: Record<string, unknown>[] }[];
    groups[1]!.approvers[0]!.publicKey = groups[0]!.approvers[0]!.publicKey;
    rejects(shared, 'policy.approverGroups[1].approvers[0].publicKey');
  });

  it('a parsed policy is frozen: nothing can change under its cited digest', () => {
    const parsed = policy();
    expect(() => {
      (parsed.addressBook[0] as { coolOffMs: number }).coolOffMs = 0;
    }).toThrow(TypeError);
    expect(Object.isFrozen(parsed.quorum[0]!.approvals)).toBe(true);
  });

  it('canonical JSON sorts keys, drops undefined and refuses floats', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: undefined })).toBe('{"a":[true,null,"x"],"b":1}');
    expect(() => canonicalJson({ amount: 1.5 })).toThrow(/amount/);
    expect(() => canonicalJson({ amount: 1n })).toThrow(/amount/);
  });

  it('the digest ignores key order but changes with any content change', () => {
    const a = policy();
    const reordered = parsePolicy(reverseKeys(policyWire()));
    expect(policyDigest(reordered)).toBe(policyDigest(a));
    expect(canonicalPolicyJson(reordered)).toBe(canonicalPolicyJson(a));
    const wire = policyWire();
    (wire.addressBook as Record<string, unknown>[])[0]!.coolOffMs = 0;
    const changed = parsePolicy(wire);
    expect(policyDigest(changed)).not.toBe(policyDigest(a));
    expect(policyDigest(a)).toMatch(/^[0-9a-f]{64}$/);
  });
});
