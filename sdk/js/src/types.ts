/** Context the SDK attaches to every event (see the collector contract). */
export interface EventContext {
  locale?: string;
  viewport?: string;
  timezone?: string;
  device_type?: 'MOBILE' | 'TABLET' | 'DESKTOP' | 'OTHER';
  os?: string;
  user_agent?: string;
  page_url?: string;
  referrer?: string;
}

export type Fields = Record<string, unknown>;

/** One event exactly as it is sent to POST /v1/events. */
export interface WeirEvent {
  id: string;
  type: string;
  time: string;
  anonymous_id: string;
  customer_id?: string;
  session_id: string;
  context: EventContext;
  fields: Fields;
}

/** The subset of the Web Storage API the SDK uses (window.localStorage by default). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export type Listener = (ev: any) => void;

export interface EventTargetLike {
  addEventListener(type: string, fn: Listener, options?: boolean | AddEventListenerOptions): void;
  removeEventListener(type: string, fn: Listener, options?: boolean | EventListenerOptions): void;
}

/** What the SDK reads from `window`; injectable so tests need no DOM. */
export interface WindowLike extends EventTargetLike {
  location: { href: string };
  history?: { pushState: (...args: any[]) => void };
  innerWidth?: number;
  innerHeight?: number;
}

export interface ElementLike {
  getAttribute(name: string): string | null;
  parentElement?: ElementLike | null;
  parentNode?: unknown;
}

export interface DocumentLike extends EventTargetLike {
  visibilityState?: string;
  referrer?: string;
  body?: ElementLike | null;
  querySelector?(selector: string): ElementLike | null;
}

export interface NavigatorLike {
  onLine?: boolean;
  language?: string;
  userAgent?: string;
  sendBeacon?: (url: string, data?: BodyInit | null) => boolean;
}

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;
export type SendBeaconLike = (url: string, data: string | Blob) => boolean;

export interface WeirOptions {
  /** Collector base URL, e.g. "https://collect.example.com" (required). */
  endpoint: string;
  /** Write key sent as X-Weir-Write-Key (or in the body for beacons) (required). */
  writeKey: string;
  /** Events per request; reaching it flushes at once. Default 20. */
  batchSize?: number;
  /** Longest time an event waits before a flush. Default 1000 ms. */
  flushIntervalMs?: number;
  /** Offline queue bound; when full the OLDEST event is dropped (counted in stats().dropped). Default 1000. */
  maxQueue?: number;
  /** Inactivity after which a new session id starts. Default 30 min. */
  sessionTimeoutMs?: number;
  /** Send a page_view on init and on SPA navigation (pushState/popstate). Default true. */
  autoPageViews?: boolean;
  /** Track clicks on elements with data-weir-event. Default true. */
  autoClicks?: boolean;
  /** Cap of the exponential retry backoff. Default 60000 ms. */
  maxBackoffMs?: number;
  /** Send the queue with navigator.sendBeacon when the page is hidden/closed. Default true. */
  useBeacon?: boolean;
  /**
   * Beaconed events stay queued; a later page load resends those beaconed at most this long
   * ago (the beacon may not have arrived) and drops older ones (it most likely did, and the
   * collector dedupes ids for only 1 h). Keep it under the collector's dedup window.
   * Default 50 min.
   */
  beaconResendWindowMs?: number;
  /** Called with each event when it is enqueued. */
  onEvent?: (event: WeirEvent) => void;
  /** Key prefix in storage. Default "weir_". */
  storagePrefix?: string;

  // Injectables (tests, non-browser hosts). Defaults are the browser globals.
  storage?: StorageLike | null;
  fetch?: FetchLike;
  sendBeacon?: SendBeaconLike | null;
  now?: () => number;
  /** Uniform [0,1) source for ids and jitter; when set, ids are derived from it (seedable). */
  random?: () => number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  window?: WindowLike | null;
  document?: DocumentLike | null;
  navigator?: NavigatorLike | null;
}
