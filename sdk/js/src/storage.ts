import type { StorageLike } from './types';

/** In-memory stand-in when localStorage is missing or throws (private mode, disabled cookies). */
export class MemoryStorage implements StorageLike {
  private m = new Map<string, string>();
  getItem(k: string): string | null {
    return this.m.has(k) ? (this.m.get(k) as string) : null;
  }
  setItem(k: string, v: string): void {
    this.m.set(k, v);
  }
  removeItem(k: string): void {
    this.m.delete(k);
  }
}

/** JSON get/set that never throws: a full or blocked storage must not break the host page. */
export class Store {
  constructor(private s: StorageLike, private prefix: string) {}

  get<T>(key: string): T | undefined {
    try {
      const raw = this.s.getItem(this.prefix + key);
      return raw == null ? undefined : (JSON.parse(raw) as T);
    } catch {
      return undefined;
    }
  }

  /** False when the value could not be written (quota exceeded, storage blocked). */
  set(key: string, value: unknown): boolean {
    try {
      this.s.setItem(this.prefix + key, JSON.stringify(value));
      return true;
    } catch {
      return false;
    }
  }

  remove(key: string): void {
    try {
      this.s.removeItem(this.prefix + key);
    } catch {
      /* ignore */
    }
  }
}

/** window.localStorage if it is usable, else memory. */
export function defaultStorage(): StorageLike {
  try {
    const ls = (globalThis as { localStorage?: StorageLike }).localStorage;
    if (ls) {
      const probe = '__weir_probe__';
      ls.setItem(probe, '1');
      ls.removeItem(probe);
      return ls;
    }
  } catch {
    /* fall through */
  }
  return new MemoryStorage();
}
