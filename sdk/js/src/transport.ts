import { parseRetryAfter } from './backoff';
import type { FetchLike, SendBeaconLike, WeirEvent } from './types';

export interface Rejected {
  id: string;
  field?: string;
  error?: string;
}

/** What the client does with a batch after one request. */
export type Outcome =
  /** Collector answered for every event (200, or 400 with lists): remove them all. */
  | { kind: 'done'; rejected: Rejected[]; unlisted: string[] }
  /** Will never succeed as is (401, 403, malformed 400, other 4xx): remove and warn. */
  | { kind: 'drop'; status: number; reason: string }
  /** 413: too large; split and resend the halves. */
  | { kind: 'split' }
  /** 429, 5xx or network error: nothing was accepted; keep and retry later. */
  | { kind: 'retry'; status: number; retryAfterMs?: number };

export function eventsUrl(endpoint: string): string {
  return endpoint.replace(/\/+$/, '') + '/v1/events';
}

export function body(events: WeirEvent[], sentAt: string, writeKey?: string): string {
  return JSON.stringify(writeKey ? { write_key: writeKey, sent_at: sentAt, events } : { sent_at: sentAt, events });
}

async function readJson(res: Response): Promise<any> {
  try {
    return await res.json();
  } catch {
    return undefined;
  }
}

/** Maps a collector response to an Outcome (contract: "Responses"). */
export async function classify(res: Response, batch: WeirEvent[], now: number): Promise<Outcome> {
  const s = res.status;
  if (s === 200 || s === 400) {
    const j = await readJson(res);
    const hasLists = j && Array.isArray(j.accepted) && Array.isArray(j.rejected);
    if (s === 200 || hasLists) {
      const rejected: Rejected[] = hasLists ? j.rejected.filter((r: any) => r && typeof r.id === 'string') : [];
      const listed = new Set<string>(hasLists ? [...j.accepted, ...rejected.map((r) => r.id)] : []);
      // A 200 means every event is in Kafka; on a 400 anything unlisted is reported, then dropped.
      const unlisted = s === 200 ? [] : batch.map((e) => e.id).filter((id) => !listed.has(id));
      return { kind: 'done', rejected, unlisted };
    }
    return { kind: 'drop', status: s, reason: (j && j.error) || 'malformed request' };
  }
  if (s === 413) return { kind: 'split' };
  if (s === 429 || s >= 500) {
    return { kind: 'retry', status: s, retryAfterMs: parseRetryAfter(res.headers.get('Retry-After'), now) };
  }
  if (s >= 200 && s < 300) return { kind: 'done', rejected: [], unlisted: [] };
  const reason = s === 401 ? 'unknown or missing write key' : s === 403 ? 'origin not allowed' : `HTTP ${s}`;
  return { kind: 'drop', status: s, reason };
}

/** One normal delivery: JSON, write key in a header, no cookies. Never throws. */
export async function post(
  fetchFn: FetchLike,
  endpoint: string,
  writeKey: string,
  batch: WeirEvent[],
  sentAt: string,
  now: number,
  keepalive = false,
): Promise<Outcome> {
  let res: Response;
  try {
    res = await fetchFn(eventsUrl(endpoint), {
      method: 'POST',
      // At unload (keepalive) send like a beacon: text/plain with the key in the body is a
      // "simple" CORS request, so no preflight has to finish while the page goes away.
      headers: keepalive
        ? { 'Content-Type': 'text/plain;charset=UTF-8' }
        : { 'Content-Type': 'application/json', 'X-Weir-Write-Key': writeKey },
      body: body(batch, sentAt, keepalive ? writeKey : undefined),
      credentials: 'omit',
      mode: 'cors',
      keepalive,
    });
  } catch {
    return { kind: 'retry', status: 0 };
  }
  return classify(res, batch, now);
}

const encoder = typeof TextEncoder !== 'undefined' ? new TextEncoder() : undefined;
function byteLength(s: string): number {
  return encoder ? encoder.encode(s).length : s.length * 3; // worst case UTF-8 without an encoder
}

/**
 * Splits events into beacon bodies of at most maxBytes (browsers cap a page's
 * beacons at 64 KiB in flight). An event too big on its own still gets a body.
 * Never throws: an event that cannot be serialised is left out.
 */
export function beaconBodies(events: WeirEvent[], writeKey: string, sentAt: string, maxBytes: number): { body: string; events: WeirEvent[] }[] {
  const out: { body: string; events: WeirEvent[] }[] = [];
  const overhead = byteLength(body([], sentAt, writeKey));
  let cur: WeirEvent[] = [];
  let size = overhead;
  for (const e of events) {
    let n: number;
    try {
      n = byteLength(JSON.stringify(e)) + 1; // +1 for the comma
    } catch {
      continue; // not JSON (cannot come from track()); skipping beats throwing at unload
    }
    if (cur.length && size + n > maxBytes) {
      out.push({ body: body(cur, sentAt, writeKey), events: cur });
      cur = [];
      size = overhead;
    }
    cur.push(e);
    size += n;
  }
  if (cur.length) out.push({ body: body(cur, sentAt, writeKey), events: cur });
  return out;
}

/**
 * Beacon as text/plain: a "simple" CORS request, so no preflight is needed at unload.
 * Returns false when the browser refused to queue it.
 */
export function sendBeacon(beacon: SendBeaconLike, endpoint: string, bodyText: string): boolean {
  try {
    const data = typeof Blob !== 'undefined' ? new Blob([bodyText], { type: 'text/plain;charset=UTF-8' }) : bodyText;
    return beacon(eventsUrl(endpoint), data);
  } catch {
    return false;
  }
}
