import { pageFields, watchClicks, watchNavigation } from './autotrack';
import { backoffDelay } from './backoff';
import { collectContext } from './context';
import { uuidGenerator } from './ids';
import { Queue } from './queue';
import { Identity } from './session';
import { defaultStorage, MemoryStorage, Store } from './storage';
import { beaconBodies, post, sendBeacon, type Outcome } from './transport';
import type {
  DocumentLike,
  FetchLike,
  Fields,
  NavigatorLike,
  SendBeaconLike,
  WeirEvent,
  WeirOptions,
  WindowLike,
} from './types';

const BASE_BACKOFF_MS = 500;
const BEACON_MAX_BYTES = 60000; // under the 64 KiB a page may have in flight as beacons

export interface Stats {
  /** Events in the offline queue (including ones beaconed by this page). */
  queued: number;
  /** Events dropped because the queue was full. */
  dropped: number;
  /** Consecutive failed attempts (0 when healthy). */
  attempt: number;
  /** When the next retry may happen (ms since epoch), 0 if none is pending. */
  retryAt: number;
}

function warn(msg: string, ...rest: unknown[]): void {
  if (typeof console !== 'undefined') console.warn('[weir] ' + msg, ...rest);
}

function global<T>(name: string): T | undefined {
  return (globalThis as Record<string, unknown>)[name] as T | undefined;
}

export class WeirClient {
  private readonly endpoint: string;
  private readonly writeKey: string;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxBackoffMs: number;
  private readonly beaconResendWindowMs: number;
  private readonly onEvent?: (e: WeirEvent) => void;
  private readonly fetchFn?: FetchLike;
  private readonly beacon?: SendBeaconLike;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly newId: () => string;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (h: unknown) => void;
  private readonly win?: WindowLike;
  private readonly doc?: DocumentLike;
  private readonly nav?: NavigatorLike;
  private readonly queue: Queue;
  private readonly identity: Identity;

  /** Ids in the request in flight: they are not put in a second normal request. */
  private readonly inFlight = new Set<string>();
  private draining: Promise<void> | null = null;
  private flushTimer: unknown = null;
  private retryTimer: unknown = null;
  private attempt = 0;
  private retryAt = 0;
  /** HTTP status of the last retryable failure; 0 = network error. */
  private lastFailure = 0;
  private stopped = false;
  /** Made without endpoint or writeKey: every call is a no-op. */
  private disabled = false;
  private readonly cleanups: (() => void)[] = [];

  constructor(opts: WeirOptions) {
    if (!opts || !opts.endpoint || !opts.writeKey) {
      // A typo in the snippet must not break the host page's script: warn and do nothing.
      warn(`init() needs ${opts && opts.endpoint ? 'writeKey' : 'endpoint'}; events will not be sent`);
      this.disabled = true;
      opts = { endpoint: '-', writeKey: '-', storage: null, window: null, document: null, navigator: null, useBeacon: false };
    }
    this.endpoint = opts.endpoint;
    this.writeKey = opts.writeKey;
    this.batchSize = Math.max(1, opts.batchSize ?? 20);
    this.flushIntervalMs = Math.max(0, opts.flushIntervalMs ?? 1000);
    this.maxBackoffMs = Math.max(BASE_BACKOFF_MS, opts.maxBackoffMs ?? 60000);
    this.beaconResendWindowMs = Math.max(0, opts.beaconResendWindowMs ?? 50 * 60 * 1000);
    this.onEvent = opts.onEvent;
    this.now = opts.now ?? (() => Date.now());
    this.random = opts.random ?? Math.random;
    this.newId = uuidGenerator(opts.random);
    this.setTimer = opts.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimeout ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
    this.win = opts.window === null ? undefined : opts.window ?? global<WindowLike>('window');
    this.doc = opts.document === null ? undefined : opts.document ?? global<DocumentLike>('document');
    this.nav = opts.navigator === null ? undefined : opts.navigator ?? global<NavigatorLike>('navigator');

    const f = opts.fetch ?? global<FetchLike>('fetch');
    this.fetchFn = f ? (url, init) => f(url, init) : undefined; // unbound window.fetch throws "Illegal invocation"
    if (opts.useBeacon !== false) {
      const nav = this.nav;
      if (opts.sendBeacon) this.beacon = opts.sendBeacon;
      else if (opts.sendBeacon !== null && nav && typeof nav.sendBeacon === 'function') {
        this.beacon = (url, data) => (nav.sendBeacon as NonNullable<NavigatorLike['sendBeacon']>).call(nav, url, data);
      }
    }

    const storage = opts.storage === null ? new MemoryStorage() : opts.storage ?? defaultStorage();
    const store = new Store(storage, opts.storagePrefix ?? 'weir_');
    this.identity = new Identity(store, this.newId, this.now, opts.sessionTimeoutMs ?? 30 * 60 * 1000);
    this.queue = new Queue(store, Math.max(1, opts.maxQueue ?? 1000), warn);
    // What an earlier page only beaconed goes out again: the beacon may not have arrived.
    this.reclaimBeaconed();
    const hadQueued = this.queue.size > 0;

    this.listen(this.win, 'online', this.onOnline);
    this.listen(this.win, 'pagehide', this.onPageHide);
    this.listen(this.win, 'pageshow', this.onShow); // back from the bfcache
    this.listen(this.doc, 'visibilitychange', this.onVisibility);
    if (opts.autoClicks !== false && this.doc) {
      this.cleanups.push(watchClicks(this.doc, (type, fields) => this.track(type, fields), warn));
    }
    if (opts.autoPageViews !== false && this.win) {
      this.page();
      this.cleanups.push(watchNavigation(this.win, (prev) => this.page({ referrer: prev })));
    }
    // Events a previous page left behind (offline, closed, only beaconed) go out now.
    if (hadQueued) void this.drain();
    if (this.disabled) this.stopped = true;
  }

  private listen(t: WindowLike | DocumentLike | undefined, type: string, fn: () => void): void {
    if (!t) return;
    // Never throw into the host page's event dispatch (least of all at pagehide).
    const guarded = () => {
      try {
        fn();
      } catch (err) {
        warn(`${type} handler failed`, err);
      }
    };
    t.addEventListener(type, guarded);
    this.cleanups.push(() => t.removeEventListener(type, guarded));
  }

  /** Enqueues an event; returns its id (reused by every retry, so the collector dedupes). */
  track(type: string, fields: Fields = {}): string {
    if (this.disabled) return '';
    if (this.stopped) {
      warn('track() after shutdown() is ignored');
      return '';
    }
    if (!type || typeof type !== 'string') {
      warn('track() needs an event type');
      return '';
    }
    // A deep copy now: later changes by the app do not alter the event, and a BigInt or a
    // cycle is refused here instead of failing every send (and blocking the queue) later.
    let copy: Fields;
    try {
      copy = fields && typeof fields === 'object' ? JSON.parse(JSON.stringify(fields)) : {};
    } catch (err) {
      warn(`track("${type}"): fields are not JSON (a BigInt or a cycle?); event not sent`, err);
      return '';
    }
    const t = this.now();
    const e: WeirEvent = {
      id: this.newId(),
      type,
      time: new Date(t).toISOString(),
      anonymous_id: this.identity.anonymousId,
      session_id: this.identity.touchSession(),
      context: collectContext(this.win, this.doc, this.nav),
      fields: copy,
    };
    const customer = this.identity.customerId;
    if (customer) e.customer_id = customer;
    this.queue.add(e);
    if (this.onEvent) {
      try {
        this.onEvent(JSON.parse(JSON.stringify(e)));
      } catch (err) {
        warn('onEvent threw', err);
      }
    }
    this.schedule();
    return e.id;
  }

  /** Sends a page_view for the current page; `fields` override what is read from the DOM. */
  page(fields: Fields = {}): string {
    return this.track('page_view', { ...pageFields(this.win, this.doc), ...fields });
  }

  /** Later events carry this customer id (persisted across reloads). */
  identify(customerId: string): void {
    if (!customerId) return warn('identify() needs a customer id');
    this.identity.identify(String(customerId));
  }

  /** New anonymous id and session, no customer id (e.g. on sign-out). */
  reset(): void {
    this.identity.reset();
  }

  /**
   * Sends what is queued now, in batches, one request at a time. Resolves when the
   * queue is empty or delivery has to wait (offline, backoff); never rejects.
   */
  flush(): Promise<void> {
    return this.drain();
  }

  /** Stops timers and listeners. Queued events stay in storage for the next page. */
  shutdown(): void {
    this.stopped = true;
    this.clearTimers();
    while (this.cleanups.length) (this.cleanups.pop() as () => void)();
  }

  stats(): Stats {
    return { queued: this.queue.size, dropped: this.queue.dropped, attempt: this.attempt, retryAt: this.retryAt };
  }

  get anonymousId(): string {
    return this.identity.anonymousId;
  }

  private clearTimers(): void {
    if (this.flushTimer != null) this.clearTimer(this.flushTimer);
    if (this.retryTimer != null) this.clearTimer(this.retryTimer);
    this.flushTimer = this.retryTimer = null;
  }

  /** Count trigger flushes at once; otherwise the oldest unsent event waits at most flushIntervalMs. */
  private schedule(): void {
    if (this.queue.countSendable() >= this.batchSize) {
      void this.drain();
    } else if (this.flushTimer == null) {
      this.flushTimer = this.setTimer(() => {
        this.flushTimer = null;
        void this.drain();
      }, this.flushIntervalMs);
    }
  }

  private canSend(): boolean {
    if (this.stopped || !this.fetchFn) return false;
    if (this.nav && this.nav.onLine === false) return false; // the 'online' event resumes
    return this.now() >= this.retryAt;
  }

  private drain(): Promise<void> {
    if (!this.draining) this.draining = this.drainLoop();
    return this.draining;
  }

  private async drainLoop(): Promise<void> {
    // Yield once so `draining` is assigned before the loop can finish and clear it.
    await null;
    try {
      for (;;) {
        if (!this.canSend()) return;
        const batch = this.queue.sendable(this.batchSize, this.inFlight);
        if (!batch.length) return;
        if (!(await this.sendBatch(batch))) return;
      }
    } finally {
      this.draining = null;
    }
  }

  /** One request (two or more after a 413). False when delivery must wait for a retry. */
  private async sendBatch(batch: WeirEvent[]): Promise<boolean> {
    for (const e of batch) this.inFlight.add(e.id);
    let o: Outcome;
    try {
      o = await post(this.fetchFn as FetchLike, this.endpoint, this.writeKey, batch, new Date(this.now()).toISOString(), this.now());
    } finally {
      for (const e of batch) this.inFlight.delete(e.id);
    }
    if (o.kind === 'split') {
      if (batch.length === 1) {
        this.settle(batch, { kind: 'drop', status: 413, reason: 'event too large' });
        return true;
      }
      const mid = Math.ceil(batch.length / 2);
      return (await this.sendBatch(batch.slice(0, mid))) && (await this.sendBatch(batch.slice(mid)));
    }
    this.settle(batch, o);
    if (o.kind !== 'retry') return !this.stopped;
    this.lastFailure = o.status;
    this.scheduleRetry(o.retryAfterMs);
    return false;
  }

  /** Applies a final outcome: removes answered events, warns about the lost ones. */
  private settle(batch: WeirEvent[], o: Outcome): void {
    if (o.kind === 'retry' || o.kind === 'split') return;
    this.queue.remove(batch.map((e) => e.id));
    this.attempt = 0;
    if (o.kind === 'drop') {
      warn(`collector refused ${batch.length} event(s) (HTTP ${o.status}: ${o.reason}); dropped`);
      return;
    }
    for (const r of o.rejected) warn(`event ${r.id} rejected (${r.field || ''}: ${r.error || ''}); dropped`);
    if (o.unlisted.length) warn(`collector did not answer for ${o.unlisted.length} event(s) of a 400; dropped`);
  }

  private scheduleRetry(retryAfterMs?: number): void {
    this.attempt++;
    const delay = backoffDelay(this.attempt, BASE_BACKOFF_MS, this.maxBackoffMs, this.random, retryAfterMs);
    this.retryAt = this.now() + delay;
    if (this.retryTimer != null) this.clearTimer(this.retryTimer);
    this.retryTimer = this.setTimer(() => {
      this.retryTimer = null;
      this.retryAt = 0; // timers may fire a hair early; the wait is over
      void this.drain();
    }, delay);
  }

  private onOnline = (): void => {
    // Connectivity is back: earlier network errors say nothing about now. A collector's
    // answer (429/5xx, Retry-After) still holds, so its wait is kept.
    if (this.lastFailure === 0) {
      this.attempt = 0;
      this.retryAt = 0;
      if (this.retryTimer != null) this.clearTimer(this.retryTimer);
      this.retryTimer = null;
    }
    // A beacon sent while the connection was down (navigator.onLine lags) may be lost.
    this.reclaimBeaconed();
    void this.drain();
  };

  /** The page lives on after a hide: what it beaconed goes out again by fetch (the collector dedupes). */
  private onShow = (): void => {
    if (this.stopped) return;
    this.reclaimBeaconed();
    void this.drain();
  };

  private reclaimBeaconed(): void {
    const n = this.queue.reclaimBeaconed(this.now(), this.beaconResendWindowMs);
    if (n) warn(`${n} event(s) beaconed over ${Math.round(this.beaconResendWindowMs / 60000)} min ago not resent (the beacon most likely arrived; a resend could be written twice)`);
  }

  private onVisibility = (): void => {
    // Hidden may be the last moment we run (mobile kills hidden tabs without pagehide).
    // A request already in flight will likely finish, so its events are left to it.
    if (!this.doc) return;
    if (this.doc.visibilityState === 'hidden') this.sendAtUnload(this.inFlight);
    else if (this.doc.visibilityState === 'visible') this.onShow();
  };

  private onPageHide = (): void => {
    // The page is going away: also beacon events whose fetch may now be cancelled
    // (a duplicate is harmless, the collector dedupes by id).
    this.sendAtUnload(new Set());
  };

  /**
   * Sends every queued event not yet beaconed with sendBeacon (text/plain, key in the
   * body), or fetch keepalive when a beacon is refused. The events stay in the queue,
   * marked with the time, so this page does not send them again while hidden; it resends
   * them when visible again, and so does the next page load (within beaconResendWindowMs).
   */
  private sendAtUnload(exclude: ReadonlySet<string>): void {
    if (this.stopped) return;
    // Offline a beacon is lost: keep them queued normally for 'online' or the next load.
    if (this.nav && this.nav.onLine === false) return;
    const events = this.queue.takeForBeacon(exclude, this.now());
    if (!events.length) return;
    const sentAt = new Date(this.now()).toISOString();
    for (const chunk of beaconBodies(events, this.writeKey, sentAt, BEACON_MAX_BYTES)) {
      if (this.beacon && sendBeacon(this.beacon, this.endpoint, chunk.body)) continue;
      const ids = chunk.events.map((e) => e.id);
      if (!this.fetchFn) {
        this.queue.unmark(ids); // nothing carried them: they are ordinary queued events
        continue;
      }
      // If the page survives (it was only hidden), the answer is handled like any other.
      void post(this.fetchFn, this.endpoint, this.writeKey, chunk.events, sentAt, this.now(), true).then((o) => {
        if (o.kind === 'retry' || o.kind === 'split') {
          // Not delivered: back to normal sending (a 413 splits there), or they sit until a reload.
          this.queue.unmark(ids);
          this.schedule();
        } else this.settle(chunk.events, o);
      });
    }
  }
}
