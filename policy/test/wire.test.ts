import { describe, expect, it } from 'vitest';
import { PolicyError } from '../src/errors.ts';
import {
  approvalFromWire,
  priceSnapshotFromWire,
  signedPolicyVersionFromWire,
  vetoFromWire,
} from '../src/wire.ts';
import { approve, snapshot, transfer } from './fixture.ts';

function refusedAt(run: () => unknown, field: string): void {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).field).toBe(field);
    return;
  }
  throw new Error(`expected a refusal at ${field}`);
}

describe('wire decoders (untrusted JSON is decoded, never cast)', () => {
  it('round-trips what the signing helpers produce', () => {
    const approval = approve('bob', transfer({}));
    expect(approvalFromWire(JSON.parse(JSON.stringify(approval)))).toEqual(approval);
    const prices = snapshot();
    expect(priceSnapshotFromWire(JSON.parse(JSON.stringify(prices)))).toEqual(prices);
  });

  it('names the field of a malformed approval, veto, snapshot or signed version', () => {
    const approval = JSON.parse(JSON.stringify(approve('bob', transfer({}))));
    refusedAt(() => approvalFromWire({ ...approval, extra: 1 }), 'approval.extra');
    refusedAt(() => approvalFromWire({ ...approval, expiresAtMs: '1' }), 'approval.expiresAtMs');
    refusedAt(() => approvalFromWire({ ...approval, requestDigest: 'AB' }), 'approval.requestDigest');
    refusedAt(() => vetoFromWire({ approverId: 'bob' }), 'veto.requestDigest');
    const prices = JSON.parse(JSON.stringify(snapshot()));
    prices.prices[0].unitPrice = '1e3';
    refusedAt(() => priceSnapshotFromWire(prices), 'priceSnapshot.prices[0].unitPrice');
    refusedAt(
      () => signedPolicyVersionFromWire({ document: {}, signatures: [{ adminId: 'a' }], receivedAtMs: 0 }),
      'signedPolicy.signatures[0].signature',
    );
  });
});
