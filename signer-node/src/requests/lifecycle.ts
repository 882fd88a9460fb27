// The request lifecycle (signer-node/docs/policy-api.md): which status may follow which. Pure; the
// store refuses any transition this table does not list, so no code path can skip a step (for
// example go from pending-approvals straight to signing without a fresh `allow`).
import type { Outcome } from '@coffer/policy/evaluate';

export const STATUSES = [
  'submitted',
  'pending-approvals',
  'delayed',
  'approved',
  'signing',
  'signed',
  'broadcast',
  'confirmed',
  'denied',
  'cancelled',
  'expired',
  'failed',
] as const;

export type RequestStatus = (typeof STATUSES)[number];

/** Statuses after which nothing happens to a request any more. */
export const TERMINAL: readonly RequestStatus[] = ['confirmed', 'denied', 'cancelled', 'expired', 'failed'];

/** Statuses in which a request is still waiting for a policy decision (approvals, delay). */
export const WAITING: readonly RequestStatus[] = ['submitted', 'pending-approvals', 'delayed'];

const NEXT: Record<RequestStatus, readonly RequestStatus[]> = {
  submitted: ['pending-approvals', 'delayed', 'approved', 'denied', 'cancelled', 'failed'],
  // Re-evaluation after an approval, a veto or the passing of time.
  'pending-approvals': ['delayed', 'approved', 'denied', 'cancelled', 'expired', 'failed'],
  // An approval can expire during a delay, which sends the request back to waiting for approvals.
  delayed: ['pending-approvals', 'approved', 'denied', 'cancelled', 'expired', 'failed'],
  // The decision is taken again right before signing; it may have changed (approval expired, limit used).
  approved: ['signing', 'pending-approvals', 'delayed', 'denied', 'cancelled', 'failed'],
  signing: ['signed', 'denied', 'failed'],
  // `signed` is final for requests the node does not broadcast.
  signed: ['broadcast', 'failed'],
  broadcast: ['confirmed', 'failed'],
  confirmed: [],
  denied: [],
  cancelled: [],
  expired: [],
  failed: [],
};

export function canTransition(from: RequestStatus, to: RequestStatus): boolean {
  return NEXT[from].includes(to);
}

export function isStatus(value: unknown): value is RequestStatus {
  return typeof value === 'string' && (STATUSES as readonly string[]).includes(value);
}

/** Where a policy outcome sends a request that is waiting for one. */
export function statusForOutcome(outcome: Outcome): RequestStatus {
  switch (outcome) {
    case 'allow':
      return 'approved';
    case 'deny':
      return 'denied';
    case 'needs-approvals':
      return 'pending-approvals';
    case 'delayed':
      return 'delayed';
  }
}

/** A request waiting for approvals expires this long after it was submitted. */
export const APPROVAL_WAIT_MS = 24 * 60 * 60 * 1000;
