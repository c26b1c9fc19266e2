import type { Store } from './storage';
import type { WeirEvent } from './types';

interface Entry {
  e: WeirEvent;
  /**
   * When it was sent by beacon (ms since epoch). Not sent normally while marked: the page
   * is going away. A page that lives on, or the next load, resends it (see reclaimBeaconed).
   */
  b?: number;
}

/**
 * The offline queue: bounded, persisted on every change so a reload or a closed
 * tab loses nothing. Events leave it only once the collector has answered for them.
 *
 * Tabs of one site share the stored queue. Each change re-reads it and applies itself to
 * that (read-modify-write; a tab's script runs to completion, so no two writes interleave
 * inside one change), so a tab never overwrites another's events. Two sets keep the merge
 * honest: ids this tab removed (acknowledged or trimmed) are not taken back from a stored
 * copy written before the removal, and this tab's events that could not be stored are
 * added back from memory. A tab may send another tab's events too: the collector dedupes.
 */
export class Queue {
  private entries: Entry[] = [];
  /** Ids this tab removed; bounded, oldest forgotten first. */
  private readonly gone = new Set<string>();
  /** Ids in memory that are not (known to be) in storage: its last save failed. */
  private readonly unsaved = new Set<string>();
  dropped = 0;
  private warnedFull = false;

  constructor(
    private store: Store,
    private max: number,
    private warn: (msg: string) => void,
  ) {
    this.entries = this.merged();
  }

  get size(): number {
    return this.entries.length;
  }

  add(e: WeirEvent): void {
    this.change((list) => {
      list.push({ e });
    });
  }

  /** Up to n events to send normally: not beaconed and not already in a request. */
  sendable(n: number, busy: ReadonlySet<string>): WeirEvent[] {
    this.entries = this.merged(); // pick up other tabs' events and removals
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

  /** Events not yet beaconed, minus `exclude`; marks them beaconed at `now`. */
  takeForBeacon(exclude: ReadonlySet<string>, now: number): WeirEvent[] {
    const out: WeirEvent[] = [];
    this.change((list) => {
      for (const x of list) {
        if (!x.b && !exclude.has(x.e.id)) {
          x.b = now;
          out.push(x.e);
        }
      }
    });
    return out;
  }

  /** Makes events normal again (their unload fetch failed while the page lived on). */
  unmark(ids: Iterable<string>): void {
    const back = new Set(ids);
    this.change((list) => {
      for (const x of list) if (back.has(x.e.id)) delete x.b;
    });
  }

  /**
   * Beaconed events become normal again when beaconed at most `windowMs` ago: the beacon may
   * not have arrived, and a resend inside the collector's dedup window is harmless. Older
   * ones are dropped: a resend could write a second copy, and the beacon most likely
   * arrived. Returns how many were dropped.
   */
  reclaimBeaconed(now: number, windowMs: number): number {
    this.entries = this.merged();
    if (!this.entries.some((x) => x.b)) return 0;
    let dropped = 0;
    this.change((list) => {
      for (let i = list.length - 1; i >= 0; i--) {
        const b = list[i].b;
        if (!b) continue;
        if (now - b <= windowMs) delete list[i].b;
        else {
          this.forget(list[i].e.id);
          list.splice(i, 1);
          dropped++;
        }
      }
    });
    return dropped;
  }

  remove(ids: Iterable<string>): void {
    const gone = new Set(ids);
    for (const id of gone) this.forget(id);
    this.change(() => {}); // the merge leaves them out
  }

  private forget(id: string): void {
    this.unsaved.delete(id);
    this.gone.add(id);
    // A removed id can only come back from a copy stored before the removal; remembering
    // a few queues' worth is plenty.
    if (this.gone.size > 2 * this.max + 100) this.gone.delete(this.gone.values().next().value as string);
  }

  /** The stored queue minus this tab's removals, plus this tab's events storage lacks. */
  private merged(): Entry[] {
    const saved = this.store.get<Entry[]>('queue');
    const out: Entry[] = [];
    const seen = new Set<string>();
    for (const x of Array.isArray(saved) ? saved : []) {
      if (!x || !x.e || typeof x.e.id !== 'string' || seen.has(x.e.id) || this.gone.has(x.e.id)) continue;
      seen.add(x.e.id);
      out.push(typeof x.b === 'number' && x.b ? { e: x.e, b: x.b } : { e: x.e });
    }
    for (const x of this.entries) {
      if (this.unsaved.has(x.e.id) && !seen.has(x.e.id)) out.push(x);
    }
    return out;
  }

  /** Read, modify, trim, write. */
  private change(fn: (list: Entry[]) => void): void {
    const list = this.merged();
    fn(list);
    // Oldest first: the newest events are the most valuable once the bound is hit.
    const over = list.length - this.max;
    if (over > 0) {
      for (const x of list.splice(0, over)) this.forget(x.e.id);
      this.dropped += over;
    }
    this.entries = list;
    this.save();
  }

  private save(): void {
    if (this.store.set('queue', this.entries)) {
      this.unsaved.clear();
      return;
    }
    // The stored copy is now stale: the next page would resend acknowledged events and miss
    // newer ones. No copy is better; this page's memory stays authoritative while it lives.
    this.store.remove('queue');
    for (const x of this.entries) this.unsaved.add(x.e.id);
    if (!this.warnedFull) {
      this.warnedFull = true;
      this.warn('cannot save the event queue (storage full?); queued events will not survive a reload');
    }
  }
}
