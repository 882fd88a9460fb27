// The outbound webhook retry schedule: exponential backoff (5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h),
// then every 6 h, for up to three days of schedule; after the last attempt that starts within those three
// days the event is marked failed (an operator can resend it). Jitter (±10 %) spreads the retries of many
// events that failed together, so a recovering receiver is not hit by all of them in the same second.

export const RETRY_DELAYS_MS: readonly number[] = [
  5_000,
  30_000,
  2 * 60_000,
  10 * 60_000,
  30 * 60_000,
  60 * 60_000,
  2 * 60 * 60_000,
];
export const LATER_RETRY_DELAY_MS = 6 * 60 * 60_000;
export const DELIVERY_WINDOW_MS = 3 * 24 * 60 * 60_000;
export const JITTER_FRACTION = 0.1;

/** The nominal wait after failed attempt `attempt` (1-based), before jitter. */
export function retryDelayMs(attempt: number): number {
  if (!Number.isSafeInteger(attempt) || attempt < 1) throw new RangeError('attempt must be an integer ≥ 1');
  return RETRY_DELAYS_MS[attempt - 1] ?? LATER_RETRY_DELAY_MS;
}

/** Attempts that start within the window on the nominal schedule: the first at 0, the next after each delay. */
export const MAX_DELIVERY_ATTEMPTS: number = (() => {
  let startMs = 0;
  let attempts = 1;
  while (startMs + retryDelayMs(attempts) <= DELIVERY_WINDOW_MS) startMs += retryDelayMs(attempts++);
  return attempts;
})();

/** The wait after failed attempt `attempt` with jitter; `random` in [0, 1) (0.5 gives the nominal delay). */
export function jitteredDelayMs(attempt: number, random: number): number {
  const r = Math.min(Math.max(random, 0), 1);
  return Math.round(retryDelayMs(attempt) * (1 - JITTER_FRACTION + 2 * JITTER_FRACTION * r));
}

// The schedule's shape is part of the contract with the desk's backend: keep it checked where it is defined.
if (MAX_DELIVERY_ATTEMPTS < RETRY_DELAYS_MS.length + 1)
  throw new Error('delivery window shorter than the backoff');
