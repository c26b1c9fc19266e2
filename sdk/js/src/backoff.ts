/**
 * Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(attempt-1))).
 * Full jitter spreads a crowd of clients that failed together (e.g. a collector restart).
 * A server-sent Retry-After is added to the jitter, not a floor for it: the server knows
 * when to come back, and a floor would bring every client back at exactly that instant.
 * So the wait is in [retryAfter, retryAfter + min(cap, ...)).
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(capMs, baseMs * Math.pow(2, Math.max(0, attempt - 1)));
  return (retryAfterMs || 0) + Math.floor(random() * ceiling);
}

/** Retry-After as ms: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(parseFloat(v) * 1000);
  const at = Date.parse(v);
  return isNaN(at) ? undefined : Math.max(0, at - now);
}
