// Event, anonymous and session ids: RFC 4122 v4 UUIDs.

function fromBytes(b: Uint8Array): string {
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  let h = '';
  for (let i = 0; i < 16; i++) h += (b[i] + 0x100).toString(16).slice(1);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Returns a v4 UUID generator. An injected `random` wins so tests are reproducible. */
export function uuidGenerator(random?: () => number): () => string {
  if (random) {
    return () => {
      const b = new Uint8Array(16);
      for (let i = 0; i < 16; i++) b[i] = Math.floor(random() * 256) & 0xff;
      return fromBytes(b);
    };
  }
  const c: Crypto | undefined = typeof crypto !== 'undefined' ? crypto : undefined;
  if (c && typeof c.randomUUID === 'function') return () => c.randomUUID();
  if (c && typeof c.getRandomValues === 'function') {
    return () => fromBytes(c.getRandomValues(new Uint8Array(16)));
  }
  // No Web Crypto at all (very old hosts): still unique enough for idempotency keys.
  return uuidGenerator(Math.random);
}
