import { describe, expect, it } from 'vitest';
import { policyToWire } from '../src/document.ts';
import {
  activePolicyAt,
  evaluateUnderGovernance,
  type GovernanceConfig,
  type SignedPolicyVersion,
  signPolicy,
  verifyPolicyVersion,
} from '../src/governance.ts';
import { approve, context, DAY, HOUR, KEYS, key, policy, T0, transfer } from './fixture.ts';

const config: GovernanceConfig = {
  admins: [
    { id: 'admin1', publicKey: KEYS.admin1.publicKey },
    { id: 'admin2', publicKey: KEYS.admin2.publicKey },
    { id: 'admin3', publicKey: KEYS.admin3.publicKey },
  ],
  threshold: 2,
  timelockMs: DAY,
};

function signed(
  overrides: Record<string, unknown>,
  admins: ('admin1' | 'admin2' | 'admin3')[],
  receivedAtMs: number,
): SignedPolicyVersion {
  const document = policy(overrides);
  return {
    document: policyToWire(document),
    signatures: admins.map((id) => signPolicy(document, id, KEYS[id])),
    receivedAtMs,
  };
}

const v1 = signed({ version: 1, activatesAtMs: 0 }, ['admin1', 'admin2'], T0 - 10 * DAY);

describe('governance', () => {
  it('a version signed by m admins is active once its timelock has passed', () => {
    const check = verifyPolicyVersion(config, v1);
    expect(check).toMatchObject({ ok: true, signers: ['admin1', 'admin2'], activeFromMs: T0 - 9 * DAY });
    expect(activePolicyAt(config, [v1], T0)?.policy.version).toBe(1);
  });

  it('fewer than m admin signatures: not active (one admin, or one admin signing twice)', () => {
    const one = signed({ version: 1 }, ['admin1'], 0);
    expect(verifyPolicyVersion(config, one)).toMatchObject({ ok: false });
    expect(activePolicyAt(config, [one], T0)).toBeUndefined();
    const twice = { ...one, signatures: [one.signatures[0]!, one.signatures[0]!] };
    expect(activePolicyAt(config, [twice], T0)).toBeUndefined();
  });

  it('a signature by a key that is not a configured admin does not count', () => {
    const document = policy({ version: 1 });
    const forged: SignedPolicyVersion = {
      document: policyToWire(document),
      signatures: [
        signPolicy(document, 'admin1', KEYS.admin1),
        signPolicy(document, 'admin2', key('mallory')),
      ],
      receivedAtMs: 0,
    };
    expect(activePolicyAt(config, [forged], T0)).toBeUndefined();
  });

  it('before the timelock: not active (neither receivedAt + timelock nor activatesAtMs reached)', () => {
    const v2 = signed({ version: 2, activatesAtMs: 0 }, ['admin1', 'admin3'], T0 - HOUR);
    expect(activePolicyAt(config, [v1, v2], T0)?.policy.version).toBe(1);
    expect(activePolicyAt(config, [v1, v2], T0 - HOUR + DAY)?.policy.version).toBe(2);
    const scheduled = signed(
      { version: 2, activatesAtMs: T0 + 2 * DAY },
      ['admin1', 'admin3'],
      T0 - 10 * DAY,
    );
    expect(activePolicyAt(config, [v1, scheduled], T0 + DAY)?.policy.version).toBe(1);
    expect(activePolicyAt(config, [v1, scheduled], T0 + 2 * DAY)?.policy.version).toBe(2);
  });

  it('a tampered document fails its signatures (an address-book entry slipped in after signing)', () => {
    const tampered = structuredClone(v1) as SignedPolicyVersion & {
      document: { addressBook: { coolOffMs: number }[] };
    };
    tampered.document.addressBook[1]!.coolOffMs = 0;
    const check = verifyPolicyVersion(config, tampered);
    expect(check).toMatchObject({ ok: false, reason: '0 valid admin signatures, 2 required' });
    expect(activePolicyAt(config, [tampered], T0)).toBeUndefined();
  });

  it('two different documents claiming the same version number are ambiguous and neither is used', () => {
    const a = signed({ version: 2, activatesAtMs: 0 }, ['admin1', 'admin2'], T0 - 5 * DAY);
    const b = signed({ version: 2, activatesAtMs: 0, rules: [] }, ['admin1', 'admin2'], T0 - 5 * DAY);
    expect(activePolicyAt(config, [v1, a], T0)?.policy.version).toBe(2);
    expect(activePolicyAt(config, [v1, a, b], T0)).toBeUndefined();
  });

  it('a request is evaluated under the version active when it was submitted', () => {
    // v2 forbids everything; it becomes active one day after T0 - HOUR.
    const v2 = signed({ version: 2, activatesAtMs: 0, rules: [] }, ['admin2', 'admin3'], T0 - HOUR);
    const request = transfer({});
    const decision = evaluateUnderGovernance(
      config,
      [v1, v2],
      request,
      context({ approvals: [approve('bob', request)] }),
    );
    expect(decision).toMatchObject({ outcome: 'allow', policyVersion: 1 });
    const later = transfer({ submittedAtMs: T0 + DAY });
    const laterDecision = evaluateUnderGovernance(config, [v1, v2], later, context({}));
    expect(laterDecision).toMatchObject({ outcome: 'deny', policyVersion: 2 });
    const none = evaluateUnderGovernance(config, [], request, context({}));
    expect(none.reasons[0]?.code).toBe('no-active-policy');
  });

  it('refuses a governance configuration whose threshold exceeds its admins', () => {
    expect(() => verifyPolicyVersion({ ...config, threshold: 4 }, v1)).toThrow(/governance.threshold/);
  });
});
