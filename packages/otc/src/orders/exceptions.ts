// Payment exceptions: the second axis of an order, beside its status. An exception is raised by the
// service when fiat evidence disagrees with the order (amount, time) or a claimed payment never arrives,
// and is cleared only by an ops maker choosing a resolution; each resolution names the ledger postings it
// implies (carried out by the buy service). Nothing here moves money silently.
import { OtcError } from '../errors.ts';
import type { Cause } from './machine.ts';

export const PAYMENT_EXCEPTIONS = [
  'under_payment',
  'over_payment',
  'late_payment',
  'claimed_not_received',
] as const;
export type PaymentException = (typeof PAYMENT_EXCEPTIONS)[number];

export const RESOLUTIONS = [
  'refund_and_cancel',
  'await_remainder',
  'refund_excess',
  'refund',
  'requote',
  'cancel',
  'keep_waiting',
] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

type ResolutionRule = { by: readonly Cause[]; postings: string };

export const EXCEPTION_RESOLUTIONS: Readonly<
  Record<PaymentException, Partial<Record<Resolution, ResolutionRule>>>
> = {
  under_payment: {
    // Everything received goes back; the reservation is released and the order cancelled.
    refund_and_cancel: { by: ['ops-maker'], postings: 'fiat_refund of all received; reservation voided' },
    // The customer was asked to pay the rest; further evidence is added to what was received.
    await_remainder: {
      by: ['ops-maker'],
      postings: 'none (the received amount stays on the client account)',
    },
  },
  over_payment: {
    refund_excess: { by: ['ops-maker'], postings: 'fiat_refund of the amount above the order' },
  },
  late_payment: {
    refund: { by: ['ops-maker'], postings: 'fiat_refund of all received' },
    // A new price for the money received, from a new firm quote; never the expired rate.
    requote: { by: ['ops-maker'], postings: 'new inventory reservation at the re-quoted amount' },
  },
  claimed_not_received: {
    cancel: { by: ['ops-maker'], postings: 'reservation voided (no money was received)' },
    keep_waiting: { by: ['ops-maker'], postings: 'none' },
  },
};

export function isPaymentException(value: unknown): value is PaymentException {
  return typeof value === 'string' && (PAYMENT_EXCEPTIONS as readonly string[]).includes(value);
}

export function isResolution(value: unknown): value is Resolution {
  return typeof value === 'string' && (RESOLUTIONS as readonly string[]).includes(value);
}

/** Checks that `resolution` resolves `exception` and that `by` may choose it. */
export function checkResolution(exception: PaymentException | null, resolution: Resolution, by: Cause): void {
  if (exception === null)
    throw new OtcError('invalid-transition', 'the order has no open payment exception', 'exception');
  const rule = EXCEPTION_RESOLUTIONS[exception][resolution];
  if (rule === undefined)
    throw new OtcError(
      'invalid-request',
      `${resolution} does not resolve a ${exception} exception`,
      'resolution',
    );
  if (!rule.by.includes(by))
    throw new OtcError('forbidden', `resolving ${exception} needs role ${rule.by.join(' or ')}`);
}
