// The buy order workflow as one table: every (status, event) pair that is allowed, the roles that may
// cause it, and the status it leads to. Nothing else moves an order: the service looks the transition
// up here and refuses anything the table does not list (tests walk every pair, allowed or not).
// Payment exceptions (under, over, late payment; claimed but not received) are a separate axis, in
// exceptions.ts; they never change the status by themselves.
import type { Role } from '../config/types.ts';
import { OtcError } from '../errors.ts';

export const BUY_STATUSES = [
  'quoted',
  'compliance_check',
  'awaiting_payment',
  'payment_claimed',
  'paid',
  'awaiting_release',
  'releasing',
  'confirming',
  'completed',
  'reconciled',
  'cancelled',
  'expired',
  'rejected',
  'release_failed',
] as const;
export type BuyStatus = (typeof BUY_STATUSES)[number];

export const BUY_EVENTS = [
  'submit',
  'compliance_pass',
  'compliance_reject',
  'claim_payment',
  'confirm_payment',
  'expire',
  'cancel',
  'request_release',
  'desk_approve',
  'release',
  'custody_broadcast',
  'custody_confirmed',
  'custody_failed',
  'retry_release',
  'reconcile',
  'requote_late_payment',
] as const;
export type BuyEvent = (typeof BUY_EVENTS)[number];

/** Who causes an event: a role, or the service itself (workers, the fiat-rail webhook, compliance checks). */
export type Cause = Role | 'system';

type Edge = { to: BuyStatus; by: readonly Cause[] };

/** Staff who may cancel an order before money has moved; after fiat has arrived only an admin may (refund). */
const CANCEL_EARLY: readonly Cause[] = ['backend', 'ops-maker', 'admin'];

export const BUY_TRANSITIONS: Readonly<Record<BuyStatus, Partial<Record<BuyEvent, Edge>>>> = {
  quoted: {
    submit: { to: 'compliance_check', by: ['system'] },
    cancel: { to: 'cancelled', by: CANCEL_EARLY },
  },
  compliance_check: {
    compliance_pass: { to: 'awaiting_payment', by: ['system', 'compliance'] },
    compliance_reject: { to: 'rejected', by: ['system', 'compliance'] },
    cancel: { to: 'cancelled', by: CANCEL_EARLY },
  },
  awaiting_payment: {
    claim_payment: { to: 'payment_claimed', by: ['backend'] },
    confirm_payment: { to: 'paid', by: ['ops-maker', 'system'] },
    // The payment window ends; the rate is no longer held.
    expire: { to: 'expired', by: ['system'] },
    cancel: { to: 'cancelled', by: CANCEL_EARLY },
    compliance_reject: { to: 'rejected', by: ['compliance'] },
  },
  // Once the customer says they paid, the window is frozen: no expiry, and only staff may cancel.
  payment_claimed: {
    confirm_payment: { to: 'paid', by: ['ops-maker', 'system'] },
    cancel: { to: 'cancelled', by: ['ops-maker', 'admin'] },
    compliance_reject: { to: 'rejected', by: ['compliance'] },
  },
  paid: {
    request_release: { to: 'awaiting_release', by: ['ops-maker', 'system'] },
    cancel: { to: 'cancelled', by: ['admin'] },
    compliance_reject: { to: 'rejected', by: ['compliance'] },
  },
  awaiting_release: {
    // Four eyes on the desk side: an ops checker approves orders that need it (service checks the
    // checker is not the maker who confirmed the payment).
    desk_approve: { to: 'releasing', by: ['ops-checker'] },
    // Orders that need no desk approval are released by the service.
    release: { to: 'releasing', by: ['system'] },
    cancel: { to: 'cancelled', by: ['admin'] },
    compliance_reject: { to: 'rejected', by: ['compliance'] },
  },
  releasing: {
    custody_broadcast: { to: 'confirming', by: ['system'] },
    custody_failed: { to: 'release_failed', by: ['system'] },
  },
  confirming: {
    custody_confirmed: { to: 'completed', by: ['system'] },
    custody_failed: { to: 'release_failed', by: ['system'] },
  },
  // Never a blind re-sign: an admin who has looked at the failure retries (a new node request only once
  // the failed one is known never to have been broadcast) or cancels and refunds.
  release_failed: {
    // A transaction the nodes reported as failed that the chain included after all.
    custody_broadcast: { to: 'confirming', by: ['system'] },
    retry_release: { to: 'releasing', by: ['admin'] },
    cancel: { to: 'cancelled', by: ['admin'] },
  },
  completed: {
    reconcile: { to: 'reconciled', by: ['system', 'compliance', 'admin'] },
  },
  reconciled: {},
  cancelled: {},
  // A payment that arrives after the window is a late-payment exception; an ops maker may re-quote it at
  // the current price (the order is paid at the new rate), or refund it.
  expired: {
    requote_late_payment: { to: 'paid', by: ['ops-maker'] },
  },
  rejected: {},
};

export const TERMINAL_STATUSES: readonly BuyStatus[] = ['reconciled', 'cancelled', 'rejected'];

/** Statuses in which the order's inventory reservation is held. */
export const RESERVED_STATUSES: readonly BuyStatus[] = [
  'quoted',
  'compliance_check',
  'awaiting_payment',
  'payment_claimed',
  'paid',
  'awaiting_release',
  'releasing',
  'confirming',
  'release_failed',
];

export function isBuyStatus(value: unknown): value is BuyStatus {
  return typeof value === 'string' && (BUY_STATUSES as readonly string[]).includes(value);
}

/**
 * The status `event` leads to from `from` when caused by `by`; throws `invalid-transition` when the table
 * has no such edge, `forbidden` when it has one but not for this role.
 */
export function nextStatus(from: BuyStatus, event: BuyEvent, by: Cause): BuyStatus {
  const edge = BUY_TRANSITIONS[from][event];
  if (edge === undefined)
    throw new OtcError(
      'invalid-transition',
      `an order in status ${from} cannot take event ${event}`,
      'status',
      {
        status: from,
        event,
      },
    );
  if (!edge.by.includes(by))
    throw new OtcError(
      'forbidden',
      `event ${event} in status ${from} needs role ${edge.by.join(' or ')}`,
      undefined,
      {
        status: from,
        event,
      },
    );
  return edge.to;
}
