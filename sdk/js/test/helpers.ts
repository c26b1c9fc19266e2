// Test doubles: a fake clock with timers, a seeded random, a scripted collector, a tiny DOM.
import { WeirClient } from '../src/client';
import { MemoryStorage } from '../src/storage';
import type { WeirEvent, WeirOptions } from '../src/types';

/** Resolves once pending promise callbacks and I/O-free macrotasks have run (no wall-clock wait). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

/** mulberry32: a seeded PRNG so ids and jitter are reproducible. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FakeClock {
  t = Date.UTC(2026, 11, 3, 17, 0, 0);
  private seq = 0;
  timers: { id: number; at: number; fn: () => void }[] = [];
  now = (): number => this.t;
  setTimeout = (fn: () => void, ms: number): number => {
    const id = ++this.seq;
    this.timers.push({ id, at: this.t + ms, fn });
    return id;
  };
  clearTimeout = (id: unknown): void => {
    this.timers = this.timers.filter((x) => x.id !== id);
  };
  /** Moves time forward, firing due timers in order and letting their promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

export class FakeTarget {
  listeners = new Map<string, ((ev: any) => void)[]>();
  addEventListener(type: string, fn: (ev: any) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) || []), fn]);
  }
  removeEventListener(type: string, fn: (ev: any) => void): void {
    this.listeners.set(type, (this.listeners.get(type) || []).filter((f) => f !== fn));
  }
  dispatch(type: string, ev: any = {}): void {
    for (const fn of this.listeners.get(type) || []) fn(ev);
  }
}

export class FakeElement {
  parentElement: FakeElement | null = null;
  constructor(public attrs: Record<string, string> = {}, parent?: FakeElement) {
    if (parent) this.parentElement = parent;
  }
  getAttribute(name: string): string | null {
    return name in this.attrs ? this.attrs[name] : null;
  }
}

export class FakeWindow extends FakeTarget {
  location = { href: 'https://shop.example/' };
  innerWidth = 1280;
  innerHeight = 720;
  history = {
    pushState: (_state: unknown, _title: string, url: string) => {
      this.location.href = new URL(url, this.location.href).href;
    },
  };
}

export class FakeDocument extends FakeTarget {
  visibilityState = 'visible';
  referrer = 'https://search.example/';
  body: FakeElement = new FakeElement();
  meta: FakeElement | null = null;
  querySelector(sel: string): FakeElement | null {
    return sel === 'meta[name="weir:page_type"]' ? this.meta : null;
  }
}

export interface Call {
  url: string;
  init: RequestInit;
  body: { write_key?: string; sent_at: string; events: WeirEvent[] };
  at: number;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

/** 200 accepting everything in the request. */
export const acceptAll = (c: Call): Response => json(200, { accepted: c.body.events.map((e) => e.id), rejected: [] });

export const DESKTOP_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';

export interface Harness {
  client: WeirClient;
  clock: FakeClock;
  storage: MemoryStorage;
  calls: Call[];
  beacons: { url: string; data: Blob | string }[];
  win: FakeWindow;
  doc: FakeDocument;
  nav: { onLine: boolean; language: string; userAgent: string };
  /** Decides each collector answer; a thrown error is a network error. */
  respond: (c: Call) => Response;
  events: WeirEvent[];
  make: (over?: Partial<WeirOptions>) => WeirClient;
}

let harnessCount = 0;

/** A client wired to fakes; autoPageViews off unless asked, so tests count only their own events. */
export function harness(over: Partial<WeirOptions> = {}, shared?: { storage?: MemoryStorage; clock?: FakeClock }): Harness {
  const h = {
    clock: shared?.clock ?? new FakeClock(),
    storage: shared?.storage ?? new MemoryStorage(),
    calls: [] as Call[],
    beacons: [] as { url: string; data: Blob | string }[],
    win: new FakeWindow(),
    doc: new FakeDocument(),
    nav: { onLine: true, language: 'de-DE', userAgent: DESKTOP_UA },
    respond: acceptAll as (c: Call) => Response,
    events: [] as WeirEvent[],
  } as Harness;
  // A new seed per harness: two "page loads" must not draw the same ids.
  const random = seeded(42 + harnessCount++);
  h.make = (more: Partial<WeirOptions> = {}) =>
    new WeirClient({
      endpoint: 'https://collect.example/',
      writeKey: 'wk_test',
      storage: h.storage,
      now: h.clock.now,
      random,
      setTimeout: h.clock.setTimeout,
      clearTimeout: h.clock.clearTimeout,
      window: h.win,
      document: h.doc,
      navigator: h.nav,
      autoPageViews: false,
      onEvent: (e) => h.events.push(e),
      fetch: async (url: string, init: RequestInit) => {
        const c: Call = { url, init, body: JSON.parse(String(init.body)), at: h.clock.t };
        h.calls.push(c);
        return h.respond(c);
      },
      sendBeacon: (url: string, data: Blob | string) => {
        h.beacons.push({ url, data });
        return true;
      },
      ...over,
      ...more,
    });
  h.client = h.make();
  return h;
}

export const sentIds = (calls: Call[]): string[] => calls.flatMap((c) => c.body.events.map((e) => e.id));
