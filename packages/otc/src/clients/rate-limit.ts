// Per-client rate limits shared by every service instance on one database: fixed windows counted in
// otc_rate_limits with one atomic upsert, so two instances behind a load balancer enforce one limit
// (pitfall: weak rate limits let one client overwhelm the quote engine).
import type { Queryable } from '../db/database.ts';
import { invalid, OtcError } from '../errors.ts';

export type RateLimitTake = { bucket: string; limit: number; windowMs: number; now: number };

/**
 * Counts one request in `bucket`'s current window; over `limit` → `rate-limited` with
 * `retryAfterSeconds` (when the window ends). Returns the count so far in this window.
 */
export async function takeRateLimit(q: Queryable, take: RateLimitTake): Promise<number> {
  const { bucket, limit, windowMs, now } = take;
  if (bucket.length === 0 || bucket.length > 200) throw invalid('bucket', 'must be 1 to 200 characters');
  if (!Number.isSafeInteger(limit) || limit < 0) throw invalid('limit', 'must be a non-negative integer');
  if (!Number.isSafeInteger(windowMs) || windowMs <= 0)
    throw invalid('windowMs', 'must be a positive integer');
  if (!Number.isSafeInteger(now) || now < 0) throw invalid('now', 'must be a time in milliseconds');
  const windowStart = now - (now % windowMs);
  const r = await q.query<{ count: number }>(
    `INSERT INTO otc_rate_limits (bucket, window_start, count) VALUES ($1, $2, 1)
     ON CONFLICT (bucket, window_start) DO UPDATE SET count = otc_rate_limits.count + 1
     RETURNING count`,
    [bucket, new Date(windowStart)],
  );
  const count = Number(r.rows[0]!.count);
  // The first request of a window clears this bucket's earlier windows: old rows never pile up.
  if (count === 1)
    await q.query('DELETE FROM otc_rate_limits WHERE bucket = $1 AND window_start < $2', [
      bucket,
      new Date(windowStart),
    ]);
  if (count > limit) {
    const retryAfterSeconds = Math.max(1, Math.ceil((windowStart + windowMs - now) / 1000));
    throw new OtcError(
      'rate-limited',
      `more than ${limit} requests in ${windowMs} ms for ${bucket}`,
      undefined,
      {
        retryAfterSeconds,
      },
    );
  }
  return count;
}
