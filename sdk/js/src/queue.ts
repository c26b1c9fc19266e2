import type { Store } from './storage';
import type { WeirEvent } from './types';

interface Entry {
  e: WeirEvent;
  /** Sent by beacon from this page; only the next page load resends it (the collector dedupes by id). */
  b?: 1;
}

/**
 * The offline queue: bounded, persisted on every change so a reload or a closed
 * tab loses nothing. Events leave it only once the collector has answered for them.
 */
export class Queue {
  private entries: Entry[];
  dropped = 0;
  private warnedFull = false;

  constructor(
    private store: Store,
    private max: number,
    private warn: (msg: string) => void,
  ) {
    const saved = store.get<Entry[]>('queue');
    // A new page resends what an earlier page only beaconed: the beacon may not have arrived.
    this.entries = Array.isArray(saved)
      ? saved.filter((x) => x && x.e && typeof x.e.id === 'string').map((x) => ({ e: x.e }))
      : [];
    this.trim();
    this.save();
  }

  get size(): number {
    return this.entries.length;
  }

  add(e: WeirEvent): void {
    this.entries.push({ e });
    this.trim();
    this.save();
  }

  /** Oldest first: the newest events are the most valuable once the bound is hit. */
  private trim(): void {
    const over = this.entries.length - this.max;
    if (over > 0) {
      this.entries.splice(0, over);
      this.dropped += over;
    }
  }

  /** Up to n events to send normally: not beaconed and not already in a request. */
  sendable(n: number, busy: ReadonlySet<string>): WeirEvent[] {
    const out: WeirEvent[] = [];
    for (const x of this.entries) {
      if (out.length >= n) break;
      if (!x.b && !busy.has(x.e.id)) out.push(x.e);
    }
    return out;
  }

  countSendable(): number {
    let n = 0;
    for (const x of this.entries) if (!x.b) n++;
    return n;
  }

  /** Events not yet beaconed, minus `exclude`; marks them beaconed. */
  takeForBeacon(exclude: ReadonlySet<string>): WeirEvent[] {
    const out: WeirEvent[] = [];
    for (const x of this.entries) {
      if (!x.b && !exclude.has(x.e.id)) {
        x.b = 1;
        out.push(x.e);
      }
    }
    if (out.length) this.save();
    return out;
  }

  /** Makes events normal again (their unload fetch failed while the page lived on). */
  unmark(ids: Iterable<string>): void {
    const back = new Set(ids);
    for (const x of this.entries) if (back.has(x.e.id)) delete x.b;
    this.save();
  }

  remove(ids: Iterable<string>): void {
    const gone = new Set(ids);
    const before = this.entries.length;
    this.entries = this.entries.filter((x) => !gone.has(x.e.id));
    if (this.entries.length !== before) this.save();
  }

  private save(): void {
    if (this.store.set('queue', this.entries)) return;
    // The stored copy is now stale: the next page would resend acknowledged events and miss
    // newer ones. No copy is better; this page's memory stays authoritative while it lives.
    this.store.remove('queue');
    if (!this.warnedFull) {
      this.warnedFull = true;
      this.warn('cannot save the event queue (storage full?); queued events will not survive a reload');
    }
  }
}
