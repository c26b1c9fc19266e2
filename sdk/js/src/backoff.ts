/**
 * Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(attempt-1))).
 * Full jitter spreads a crowd of clients that failed together (e.g. a collector restart).
 * A server-sent Retry-After is a floor, even above the cap: the server knows best.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(capMs, baseMs * Math.pow(2, Math.max(0, attempt - 1)));
  const jittered = Math.floor(random() * ceiling);
  return Math.max(jittered, retryAfterMs || 0);
}

/** Retry-After as ms: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(parseFloat(v) * 1000);
  const at = Date.parse(v);
  return isNaN(at) ? undefined : Math.max(0, at - now);
}
