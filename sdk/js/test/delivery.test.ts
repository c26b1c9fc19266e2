import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../src/backoff';
import { acceptAll, harness, json, sentIds, settle } from './helpers';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('batching by count: reaching batchSize sends at once, one request for the batch', async () => {
  const h = harness({ batchSize: 3 });
  h.client.track('add_to_cart', { n: 1 });
  h.client.track('add_to_cart', { n: 2 });
  await settle();
  assert.equal(h.calls.length, 0);
  h.client.track('add_to_cart', { n: 3 });
  await settle();
  assert.equal(h.calls.length, 1);
  assert.deepEqual(h.calls[0].body.events.map((e) => e.fields.n), [1, 2, 3]);
  assert.equal(h.calls[0].url, 'https://collect.example/v1/events');
  const headers = h.calls[0].init.headers as Record<string, string>;
  assert.equal(headers['Content-Type'], 'application/json');
  assert.equal(headers['X-Weir-Write-Key'], 'wk_test');
  assert.equal(h.calls[0].init.credentials, 'omit');
  assert.equal(h.client.stats().queued, 0);
});

test('batching by time: a lone event leaves after flushIntervalMs, not before', async () => {
  const h = harness({ flushIntervalMs: 1000 });
  h.client.track('page_view', { url: 'u', page_type: 'HOME' });
  await h.clock.advance(999);
  assert.equal(h.calls.length, 0);
  await h.clock.advance(1);
  assert.equal(h.calls.length, 1);
  assert.equal(h.calls[0].body.events.length, 1);
  assert.match(h.calls[0].body.sent_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('ids are unique v4 UUIDs and a retry resends the same ids', async () => {
  const h = harness({ batchSize: 50 });
  const ids = Array.from({ length: 50 }, () => h.client.track('add_to_cart'));
  assert.equal(new Set(ids).size, 50);
  for (const id of ids) assert.match(id, UUID_V4);
  // the default generator (crypto.randomUUID) too
  const d = harness({ random: undefined });
  assert.match(d.client.track('x'), UUID_V4);

  const r = harness({ batchSize: 2 });
  let n = 0;
  r.respond = (c) => (++n === 1 ? json(503, {}, { 'Retry-After': '1' }) : acceptAll(c));
  const a = r.client.track('add_to_cart');
  const b = r.client.track('add_to_cart');
  await settle();
  await r.clock.advance(1500); // Retry-After 1 s plus under 500 ms of jitter
  assert.equal(r.calls.length, 2);
  assert.deepEqual(sentIds([r.calls[0]]), [a, b]);
  assert.deepEqual(sentIds([r.calls[1]]), [a, b]);
  assert.equal(r.calls[1].body.events[0].time, r.calls[0].body.events[0].time);
  assert.equal(r.client.stats().queued, 0);
});

test('200 removes the batch from the persisted queue', async () => {
  const h = harness({ batchSize: 2 });
  h.client.track('a');
  assert.equal(JSON.parse(h.storage.getItem('weir_queue') as string).length, 1);
  h.client.track('b');
  await settle();
  assert.equal(h.calls.length, 1);
  assert.equal(h.client.stats().queued, 0);
  assert.deepEqual(JSON.parse(h.storage.getItem('weir_queue') as string), []);
});

test('400 with lists removes accepted and rejected, warns about the rejected, no retry', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const h = harness({ batchSize: 3 });
  h.respond = (c) => {
    const [a, b, r] = c.body.events.map((e) => e.id);
    return json(400, { accepted: [a, b], rejected: [{ id: r, field: 'items.quantity', error: 'not an int' }] });
  };
  h.client.track('add_to_cart');
  h.client.track('add_to_cart');
  const bad = h.client.track('add_to_cart');
  await settle();
  assert.equal(h.client.stats().queued, 0);
  assert.equal(warn.mock.calls.length, 1);
  assert.match(String(warn.mock.calls[0].arguments[0]), new RegExp(bad));
  await h.clock.advance(120000);
  assert.equal(h.calls.length, 1);
});

for (const status of [401, 403, 404, 422, 400]) {
  test(`${status}${status === 400 ? ' without lists' : ''} drops the batch with a warning and never retries`, async (t) => {
    const warn = t.mock.method(console, 'warn', () => {});
    const h = harness({ batchSize: 1 });
    h.respond = () => json(status, status === 400 ? { error: 'malformed' } : {});
    h.client.track('add_to_cart');
    await settle();
    await h.clock.advance(10 * 60000);
    assert.equal(h.calls.length, 1);
    assert.equal(h.client.stats().queued, 0);
    assert.equal(h.client.stats().attempt, 0);
    assert.equal(warn.mock.calls.length, 1);
  });
}

test('429 with Retry-After waits that long plus jitter before retrying', async () => {
  const h = harness({ batchSize: 1 });
  let n = 0;
  h.respond = (c) => (++n === 1 ? json(429, {}, { 'Retry-After': '5' }) : acceptAll(c));
  h.client.track('add_to_cart');
  await settle();
  assert.equal(h.calls.length, 1);
  // a new event or an explicit flush does not jump the wait
  h.client.track('add_to_cart');
  await h.client.flush();
  await h.clock.advance(4999);
  assert.equal(h.calls.length, 1);
  await h.clock.advance(501);
  // the retry within 5 s + jitter (first attempt: under 500 ms), then the second event right after it
  assert.equal(h.calls.length, 3);
  const gap = h.calls[1].at - h.calls[0].at;
  assert.ok(gap >= 5000 && gap < 5500, `gap ${gap}`);
  assert.deepEqual(h.calls[1].body.events, h.calls[0].body.events);
  assert.equal(h.client.stats().queued, 0);
});

test('503 and network errors retry with exponential full-jitter backoff, capped', async () => {
  // random() = 0.999 makes the jitter its ceiling's top, so the growth is visible exactly
  const h = harness({ batchSize: 1, maxBackoffMs: 4000, random: () => 0.999 });
  let n = 0;
  h.respond = () => {
    n++;
    if (n % 2) return json(503, {});
    throw new TypeError('Failed to fetch');
  };
  h.client.track('add_to_cart');
  await settle();
  await h.clock.advance(30000);
  const gaps = h.calls.slice(1, 7).map((c, i) => c.at - h.calls[i].at);
  assert.deepEqual(gaps, [499, 999, 1998, 3996, 3996, 3996]);
  assert.equal(new Set(sentIds(h.calls)).size, 1); // always the same event

  // seeded jitter: every wait within [0, min(cap, 500 * 2^(k-1)))
  const s = harness({ batchSize: 1, maxBackoffMs: 8000 });
  s.respond = () => json(503, {});
  s.client.track('add_to_cart');
  await settle();
  await s.clock.advance(120000);
  assert.ok(s.calls.length > 10);
  s.calls.slice(1).forEach((c, k) => {
    const gap = c.at - s.calls[k].at;
    assert.ok(gap >= 0 && gap < Math.min(8000, 500 * 2 ** k), `gap ${k + 1} = ${gap}`);
  });
});

test('413 splits the batch in halves; a single event still 413 is dropped', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const h = harness({ batchSize: 4 });
  h.respond = (c) => {
    const ev = c.body.events;
    if (ev.length > 2 || ev.some((e) => e.fields.huge)) return json(413, {});
    return acceptAll(c);
  };
  const a = h.client.track('t', { n: 1 });
  const b = h.client.track('t', { n: 2 });
  const c = h.client.track('t', { n: 3 });
  const huge = h.client.track('t', { huge: true });
  await settle();
  assert.deepEqual(
    h.calls.map((x) => x.body.events.map((e) => e.id)),
    [[a, b, c, huge], [a, b], [c, huge], [c], [huge]],
  );
  assert.equal(h.client.stats().queued, 0);
  assert.equal(warn.mock.calls.length, 1);
  await h.clock.advance(60000);
  assert.equal(h.calls.length, 5);
});

test('offline: nothing is attempted while navigator.onLine is false; "online" flushes at once', async () => {
  const h = harness({ batchSize: 2 });
  h.nav.onLine = false;
  h.client.track('a');
  h.client.track('b');
  h.client.track('c');
  await h.clock.advance(60000);
  assert.equal(h.calls.length, 0);
  assert.equal(h.client.stats().queued, 3);
  h.nav.onLine = true;
  h.win.dispatch('online');
  await settle();
  assert.equal(h.calls.length, 2);
  assert.equal(h.client.stats().queued, 0);
});

test('"online" after a network error resets the backoff and retries without waiting', async () => {
  const h = harness({ batchSize: 1, maxBackoffMs: 60000, random: () => 0.999 });
  let n = 0;
  h.respond = (c) => {
    if (++n === 1) throw new TypeError('Failed to fetch');
    return acceptAll(c);
  };
  h.client.track('a');
  await settle();
  assert.equal(h.client.stats().attempt, 1);
  h.win.dispatch('online');
  await settle();
  assert.equal(h.calls.length, 2);
  assert.equal(h.calls[1].at, h.calls[0].at);
  assert.equal(h.client.stats().queued, 0);
});

test('"online" keeps a Retry-After the collector sent', async () => {
  const h = harness({ batchSize: 1 });
  let n = 0;
  h.respond = (c) => (++n === 1 ? json(503, {}, { 'Retry-After': '60' }) : acceptAll(c));
  h.client.track('a');
  await settle();
  const { retryAt } = h.client.stats();
  assert.ok(retryAt >= h.clock.t + 60000);
  h.win.dispatch('online');
  await settle();
  assert.equal(h.calls.length, 1);
  assert.equal(h.client.stats().retryAt, retryAt);
  await h.clock.advance(retryAt - h.clock.t);
  assert.equal(h.calls.length, 2);
  assert.equal(h.client.stats().queued, 0);
});

test('queue bound: when full the oldest events are dropped and counted', async () => {
  const h = harness({ maxQueue: 3, batchSize: 10 });
  h.nav.onLine = false;
  const ids = ['a', 'b', 'c', 'd', 'e'].map((x) => h.client.track(x));
  assert.deepEqual(h.client.stats(), { queued: 3, dropped: 2, attempt: 0, retryAt: 0 });
  h.nav.onLine = true;
  h.win.dispatch('online');
  await settle();
  assert.deepEqual(sentIds(h.calls), ids.slice(2));
});

test('reload: a new client instance sends what the previous page left in storage, same ids', async () => {
  const h = harness({ batchSize: 10 });
  h.nav.onLine = false;
  const ids = [h.client.track('a'), h.client.track('b')];
  h.client.shutdown();
  h.nav.onLine = true;
  const next = harness({ batchSize: 10 }, { storage: h.storage, clock: h.clock });
  await settle();
  assert.deepEqual(sentIds(next.calls), ids);
  assert.equal(next.client.stats().queued, 0);
});

test('Retry-After plus jitter: clients told the same wait do not all come back at the same instant', async () => {
  assert.equal(backoffDelay(1, 500, 60000, () => 0, 5000), 5000);
  assert.equal(backoffDelay(1, 500, 60000, () => 0.999, 5000), 5499);
  assert.equal(backoffDelay(10, 500, 4000, () => 0.999, 5000), 8996); // jitter capped, on top of Retry-After
  const waits: number[] = [];
  for (let i = 0; i < 20; i++) {
    const h = harness({ batchSize: 1, maxBackoffMs: 4000 });
    let n = 0;
    h.respond = (c) => (++n <= 3 ? json(429, {}, { 'Retry-After': '5' }) : acceptAll(c));
    h.client.track('a');
    await settle();
    await h.clock.advance(60000);
    assert.equal(h.calls.length, 4);
    h.calls.slice(1).forEach((c, k) => {
      const gap = c.at - h.calls[k].at;
      assert.ok(gap >= 5000 && gap < 5000 + Math.min(4000, 500 * 2 ** k), `gap ${k + 1} = ${gap}`);
      if (k === 2) waits.push(gap);
    });
  }
  assert.ok(new Set(waits).size >= 15, `retries at ${waits}`);
});
