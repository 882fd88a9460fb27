// The buy order's transition table, walked whole: every (status, event, cause) triple is either the one
// edge the table lists, or refused — `invalid-transition` when no such edge exists, `forbidden` when the
// edge exists for other roles. A transition added or removed by accident fails here.
import { describe, expect, it } from 'vitest';
import { ROLES } from '../src/config/types.ts';
import { OtcError } from '../src/errors.ts';
import {
  BUY_EVENTS,
  BUY_STATUSES,
  BUY_TRANSITIONS,
  type Cause,
  nextStatus,
  TERMINAL_STATUSES,
} from '../src/orders/machine.ts';

const CAUSES: readonly Cause[] = [...ROLES, 'system'];

/** The desk's workflow as the issue names it, written out independently of the table. */
const EXPECTED: Array<[string, string, string, Cause[]]> = [
  ['quoted', 'submit', 'compliance_check', ['system']],
  ['quoted', 'cancel', 'cancelled', ['backend', 'ops-maker', 'admin']],
  ['compliance_check', 'compliance_pass', 'awaiting_payment', ['system', 'compliance']],
  ['compliance_check', 'compliance_reject', 'rejected', ['system', 'compliance']],
  ['compliance_check', 'cancel', 'cancelled', ['backend', 'ops-maker', 'admin']],
  ['awaiting_payment', 'claim_payment', 'payment_claimed', ['backend']],
  ['awaiting_payment', 'confirm_payment', 'paid', ['ops-maker', 'system']],
  ['awaiting_payment', 'expire', 'expired', ['system']],
  ['awaiting_payment', 'cancel', 'cancelled', ['backend', 'ops-maker', 'admin']],
  ['awaiting_payment', 'compliance_reject', 'rejected', ['compliance']],
  ['payment_claimed', 'confirm_payment', 'paid', ['ops-maker', 'system']],
  ['payment_claimed', 'cancel', 'cancelled', ['ops-maker', 'admin']],
  ['payment_claimed', 'compliance_reject', 'rejected', ['compliance']],
  ['paid', 'request_release', 'awaiting_release', ['ops-maker', 'system']],
  ['paid', 'cancel', 'cancelled', ['admin']],
  ['paid', 'compliance_reject', 'rejected', ['compliance']],
  ['awaiting_release', 'desk_approve', 'releasing', ['ops-checker']],
  ['awaiting_release', 'release', 'releasing', ['system']],
  ['awaiting_release', 'cancel', 'cancelled', ['admin']],
  ['awaiting_release', 'compliance_reject', 'rejected', ['compliance']],
  ['releasing', 'custody_broadcast', 'confirming', ['system']],
  ['releasing', 'custody_failed', 'release_failed', ['system']],
  ['confirming', 'custody_confirmed', 'completed', ['system']],
  ['confirming', 'custody_failed', 'release_failed', ['system']],
  ['release_failed', 'custody_broadcast', 'confirming', ['system']],
  ['release_failed', 'retry_release', 'releasing', ['admin']],
  ['release_failed', 'cancel', 'cancelled', ['admin']],
  ['completed', 'reconcile', 'reconciled', ['system', 'compliance', 'admin']],
  ['expired', 'requote_late_payment', 'paid', ['ops-maker']],
];

describe('buy order transition table', () => {
  it('walks every (status, event, cause): allowed edges lead where the workflow says, everything else is refused', () => {
    let allowed = 0;
    let refused = 0;
    for (const status of BUY_STATUSES)
      for (const event of BUY_EVENTS)
        for (const cause of CAUSES) {
          const expected = EXPECTED.find(([s, e]) => s === status && e === event);
          if (expected?.[3].includes(cause)) {
            expect(nextStatus(status, event, cause), `${status} --${event}/${cause}`).toBe(expected[2]);
            allowed++;
            continue;
          }
          let error: unknown;
          try {
            nextStatus(status, event, cause);
          } catch (e) {
            error = e;
          }
          expect(error, `${status} --${event}/${cause} must be refused`).toBeInstanceOf(OtcError);
          expect((error as OtcError).code).toBe(expected === undefined ? 'invalid-transition' : 'forbidden');
          refused++;
        }
    expect(allowed).toBe(EXPECTED.reduce((n, e) => n + e[3].length, 0));
    expect(allowed + refused).toBe(BUY_STATUSES.length * BUY_EVENTS.length * CAUSES.length);
  });

  it('lists no edge the workflow does not name', () => {
    const edges = Object.entries(BUY_TRANSITIONS).flatMap(([s, events]) =>
      Object.keys(events).map((e) => `${s}:${e}`),
    );
    expect(edges.sort()).toEqual(EXPECTED.map(([s, e]) => `${s}:${e}`).sort());
  });

  it('lets nothing leave a terminal status (a reconciled, cancelled or rejected order never moves again)', () => {
    for (const s of TERMINAL_STATUSES) expect(Object.keys(BUY_TRANSITIONS[s])).toEqual([]);
  });

  it('never lets the backend (the customer side) confirm a payment or release crypto', () => {
    for (const status of BUY_STATUSES)
      for (const event of [
        'confirm_payment',
        'desk_approve',
        'release',
        'request_release',
        'retry_release',
      ] as const)
        expect(() => nextStatus(status, event, 'backend')).toThrow(OtcError);
  });

  it('freezes the payment window once the customer claims payment (no expiry from payment_claimed)', () => {
    expect(() => nextStatus('payment_claimed', 'expire', 'system')).toThrow(/cannot take event expire/);
  });
});
