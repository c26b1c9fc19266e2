// Public entry: `Weir.init(opts)` plus a default instance behind Weir.track/identify/...
// (the IIFE bundle exposes this module as the global `Weir`).
import { WeirClient, type Stats } from './client';
import type { Fields, WeirOptions } from './types';

export { WeirClient };
export type { Stats };
export type { EventContext, Fields, StorageLike, WeirEvent, WeirOptions } from './types';

let current: WeirClient | null = null;

/** Creates the default client (replacing and shutting down an earlier one) and returns it. */
export function init(opts: WeirOptions): WeirClient {
  if (current) current.shutdown();
  current = new WeirClient(opts);
  return current;
}

function client(): WeirClient | null {
  if (!current && typeof console !== 'undefined') console.warn('[weir] call Weir.init() first');
  return current;
}

/** The default client, or null before init(). */
export function getClient(): WeirClient | null {
  return current;
}

export function track(type: string, fields?: Fields): string {
  const c = client();
  return c ? c.track(type, fields) : '';
}

export function page(fields?: Fields): string {
  const c = client();
  return c ? c.page(fields) : '';
}

export function identify(customerId: string): void {
  const c = client();
  if (c) c.identify(customerId);
}

export function reset(): void {
  const c = client();
  if (c) c.reset();
}

export function flush(): Promise<void> {
  const c = client();
  return c ? c.flush() : Promise.resolve();
}

export function shutdown(): void {
  if (current) current.shutdown();
  current = null;
}
