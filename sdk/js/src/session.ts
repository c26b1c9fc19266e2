import type { Store } from './storage';

interface SessionRecord {
  id: string;
  last: number; // last activity, ms since epoch
}

/**
 * Identity kept across reloads: anonymous id, customer id, and a session id that
 * rolls over after `timeoutMs` without activity. Last activity lives in storage so
 * a reload inside the window keeps the session.
 */
export class Identity {
  private anon: string;
  private customer: string | undefined;
  private session: SessionRecord | undefined; // fallback when storage cannot be written

  constructor(
    private store: Store,
    private newId: () => string,
    private now: () => number,
    private timeoutMs: number,
  ) {
    this.anon = store.get<string>('anonymous_id') || this.freshAnon();
    this.customer = store.get<string>('customer_id') || undefined;
  }

  private freshAnon(): string {
    const id = this.newId();
    this.store.set('anonymous_id', id);
    return id;
  }

  get anonymousId(): string {
    return this.anon;
  }

  get customerId(): string | undefined {
    return this.customer;
  }

  identify(customerId: string): void {
    this.customer = customerId;
    this.store.set('customer_id', customerId);
  }

  /** Session id for an event happening now; counts as activity. */
  touchSession(): string {
    const t = this.now();
    // Storage first: another tab of the same site shares the session.
    const cur = this.store.get<SessionRecord>('session') || this.session;
    const id = cur && typeof cur.id === 'string' && t - cur.last <= this.timeoutMs ? cur.id : this.newId();
    this.session = { id, last: t };
    this.store.set('session', this.session);
    return id;
  }

  /** Forget the person: new anonymous id and session, no customer id. */
  reset(): void {
    this.customer = undefined;
    this.store.remove('customer_id');
    this.store.remove('session');
    this.session = undefined;
    this.anon = this.freshAnon();
  }
}
