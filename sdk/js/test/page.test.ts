import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deviceType, osName } from '../src/context';
import { FakeElement, harness, json, sentIds, settle } from './helpers';

const MIN = 60 * 1000;

test('session kept within 30 min of inactivity (also across a reload), new one after', async () => {
  const h = harness();
  h.client.track('a');
  await h.clock.advance(29 * MIN);
  h.client.track('b');
  await h.clock.advance(29 * MIN); // 58 min since start, but only 29 since last activity
  h.client.shutdown();
  const next = harness({}, { storage: h.storage, clock: h.clock });
  next.client.track('c');
  await next.clock.advance(30 * MIN + 1);
  next.client.track('d');
  const [a, b] = h.events;
  const [c, d] = next.events;
  assert.equal(a.session_id, b.session_id);
  assert.equal(c.session_id, a.session_id);
  assert.notEqual(d.session_id, c.session_id);
});

test('anonymous id persisted; identify sets customer_id on later events; reset clears both', async () => {
  const h = harness();
  h.client.track('before');
  h.client.identify('c-42');
  h.client.track('after');
  h.client.shutdown();
  const next = harness({}, { storage: h.storage, clock: h.clock });
  next.client.track('reloaded');
  next.client.reset();
  next.client.track('reset');
  const [before, after] = h.events;
  const [reloaded, reset] = next.events;
  assert.equal(before.customer_id, undefined);
  assert.equal(after.customer_id, 'c-42');
  assert.equal(after.anonymous_id, before.anonymous_id);
  assert.equal(reloaded.anonymous_id, before.anonymous_id);
  assert.equal(reloaded.customer_id, 'c-42');
  assert.equal(reset.customer_id, undefined);
  assert.notEqual(reset.anonymous_id, before.anonymous_id);
  assert.notEqual(reset.session_id, reloaded.session_id);
});

test('every event carries time and the page context', () => {
  const h = harness();
  h.win.location.href = 'https://shop.example/p/1';
  h.client.track('add_to_cart');
  const e = h.events[0];
  assert.equal(e.time, '2026-12-03T17:00:00.000Z');
  assert.deepEqual(e.context, {
    locale: 'de-DE',
    viewport: '1280x720',
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    device_type: 'DESKTOP',
    os: 'Linux',
    user_agent: h.nav.userAgent,
    page_url: 'https://shop.example/p/1',
    referrer: 'https://search.example/',
  });
});

test('device type and OS from the user agent, viewport as fallback', () => {
  const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148';
  const ipad = 'Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)';
  const androidTab = 'Mozilla/5.0 (Linux; Android 14; SM-X710) Chrome/126 Safari/537.36';
  const androidPhone = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/126 Mobile Safari/537.36';
  const mac = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0)';
  const win = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)';
  assert.deepEqual([iphone, ipad, androidTab, androidPhone, mac, win].map((u) => deviceType(u)), ['MOBILE', 'TABLET', 'TABLET', 'MOBILE', 'DESKTOP', 'DESKTOP']);
  assert.deepEqual([iphone, ipad, androidPhone, mac, win].map(osName), ['iOS', 'iOS', 'Android', 'macOS', 'Windows']);
  assert.equal(deviceType('curl/8', 400), 'MOBILE');
  assert.equal(deviceType('', undefined), 'OTHER');
});

test('pagehide beacons the queue as text/plain with write_key in the body; no double send', async () => {
  const h = harness({ batchSize: 10 });
  const ids = [h.client.track('a'), h.client.track('b')];
  h.win.dispatch('pagehide');
  assert.equal(h.beacons.length, 1);
  const blob = h.beacons[0].data as Blob;
  assert.equal(h.beacons[0].url, 'https://collect.example/v1/events');
  assert.equal(blob.type, 'text/plain;charset=utf-8');
  const body = JSON.parse(await blob.text());
  assert.equal(body.write_key, 'wk_test');
  assert.deepEqual(body.events.map((e: { id: string }) => e.id), ids);
  // a later hide, the flush timer and a flush() do not send them again from this page
  h.doc.visibilityState = 'hidden';
  h.doc.dispatch('visibilitychange');
  await h.clock.advance(5000);
  await h.client.flush();
  assert.equal(h.beacons.length, 1);
  assert.equal(h.calls.length, 0);
  // they stay in storage: the next page load resends them (the collector dedupes)
  h.client.shutdown();
  const next = harness({ batchSize: 10 }, { storage: h.storage, clock: h.clock });
  await settle();
  assert.deepEqual(sentIds(next.calls), ids);
});

test('visibilitychange to hidden beacons too, but not the events of a request in flight', async () => {
  const h = harness({ batchSize: 2 });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const fetchCalls: string[][] = [];
  const client = h.make({
    fetch: async (_u: string, init: RequestInit) => {
      fetchCalls.push(JSON.parse(String(init.body)).events.map((e: { id: string }) => e.id));
      await gate;
      return new Response('{"accepted":[],"rejected":[]}', { status: 200 });
    },
  });
  h.client.shutdown();
  const flying = [client.track('a'), client.track('b')];
  await settle();
  assert.deepEqual(fetchCalls, [flying]);
  const waiting = client.track('c');
  h.doc.visibilityState = 'hidden';
  h.doc.dispatch('visibilitychange');
  assert.equal(h.beacons.length, 1);
  assert.deepEqual(JSON.parse(await (h.beacons[0].data as Blob).text()).events.map((e: { id: string }) => e.id), [waiting]);
  // the page really goes away: now the in-flight ones are beaconed as well
  h.win.dispatch('pagehide');
  assert.equal(h.beacons.length, 2);
  assert.deepEqual(JSON.parse(await (h.beacons[1].data as Blob).text()).events.map((e: { id: string }) => e.id), flying);
  release();
  await settle();
});

test('sendBeacon returning false falls back to fetch keepalive (text/plain, key in body)', async () => {
  const h = harness({ batchSize: 10, sendBeacon: () => false });
  const ids = [h.client.track('a'), h.client.track('b')];
  h.win.dispatch('pagehide');
  await settle();
  assert.equal(h.calls.length, 1);
  const c = h.calls[0];
  assert.equal(c.init.keepalive, true);
  assert.equal((c.init.headers as Record<string, string>)['Content-Type'], 'text/plain;charset=UTF-8');
  assert.equal(c.body.write_key, 'wk_test');
  assert.deepEqual(sentIds([c]), ids);
  assert.equal(h.client.stats().queued, 0); // the page lived on and saw the 200
});

test('a keepalive fetch that fails while the page lives on: the events go out again by normal fetch', async () => {
  const h = harness({ batchSize: 10 });
  h.client.shutdown();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const sent: { keepalive: boolean; ids: string[] }[] = [];
  const client = h.make({
    sendBeacon: () => false,
    fetch: async (_u: string, init: RequestInit) => {
      const ids = JSON.parse(String(init.body)).events.map((e: { id: string }) => e.id);
      sent.push({ keepalive: !!init.keepalive, ids });
      if (init.keepalive) {
        await gate; // answered only after the flush timer found nothing to send
        return json(503, {});
      }
      return json(200, { accepted: ids, rejected: [] });
    },
  });
  const ids = [client.track('a'), client.track('b')];
  h.win.dispatch('pagehide');
  await h.clock.advance(5000);
  assert.equal(sent.length, 1);
  release();
  await settle();
  await h.clock.advance(1000); // the flush interval, without any new event
  assert.deepEqual(sent, [{ keepalive: true, ids }, { keepalive: false, ids }]);
  assert.equal(client.stats().queued, 0);
});

test('a refused beacon with no fetch leaves the events unmarked', async () => {
  const saved = globalThis.fetch;
  (globalThis as { fetch?: unknown }).fetch = undefined;
  try {
    const h = harness({ batchSize: 10, sendBeacon: () => false, fetch: undefined });
    h.client.track('a');
    h.win.dispatch('pagehide');
    const stored = JSON.parse(h.storage.getItem('weir_queue') as string);
    assert.equal(stored.length, 1);
    assert.equal(stored[0].b, undefined);
  } finally {
    globalThis.fetch = saved;
  }
});

test('beacon bodies are split below 60 KB', async () => {
  const h = harness({ batchSize: 100 });
  const pad = 'x'.repeat(9000);
  const ids = Array.from({ length: 20 }, () => h.client.track('a', { pad }));
  h.win.dispatch('pagehide');
  assert.ok(h.beacons.length >= 4);
  const got: string[] = [];
  for (const b of h.beacons) {
    const text = await (b.data as Blob).text();
    assert.ok(Buffer.byteLength(text) < 60000, `beacon of ${Buffer.byteLength(text)} bytes`);
    got.push(...JSON.parse(text).events.map((e: { id: string }) => e.id));
  }
  assert.deepEqual(got, ids);
});

test('clicks on [data-weir-event] (or inside one) track the type with data-weir-fields', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const h = harness();
  const button = new FakeElement({
    'data-weir-event': 'add_to_cart',
    'data-weir-fields': '{"cart_id":"c1","items":[{"product_id":"p1","quantity":2,"unit_price_cents":150}],"currency":"EUR","total_cents":300}',
  });
  const label = new FakeElement({}, button);
  const broken = new FakeElement({ 'data-weir-event': 'add_to_cart', 'data-weir-fields': '{cart_id:' });
  const plain = new FakeElement({});
  h.doc.dispatch('click', { target: label });
  h.doc.dispatch('click', { target: broken });
  h.doc.dispatch('click', { target: plain });
  assert.equal(h.events.length, 1);
  assert.equal(h.events[0].type, 'add_to_cart');
  assert.deepEqual(h.events[0].fields, {
    cart_id: 'c1',
    items: [{ product_id: 'p1', quantity: 2, unit_price_cents: 150 }],
    currency: 'EUR',
    total_cents: 300,
  });
  assert.equal(warn.mock.calls.length, 1);
  assert.match(String(warn.mock.calls[0].arguments[0]), /not valid JSON/);
});

test('automatic page views: on init from body/meta attributes, and on pushState/popstate', () => {
  const h = harness();
  h.client.shutdown();
  h.doc.body = new FakeElement({ 'data-weir-page-type': 'product', 'data-weir-product-id': 'p-9', 'data-weir-category': 'shoes' });
  h.win.location.href = 'https://shop.example/p/9';
  const c = h.make({ autoPageViews: true });
  h.doc.body = new FakeElement({});
  h.doc.meta = new FakeElement({ content: 'CART' });
  h.win.history.pushState(null, '', '/cart');
  h.win.dispatch('popstate'); // same URL: no second view
  h.win.location.href = 'https://shop.example/p/9';
  h.win.dispatch('popstate');
  assert.deepEqual(
    h.events.map((e) => [e.type, e.fields]),
    [
      ['page_view', { url: 'https://shop.example/p/9', page_type: 'PRODUCT', product_id: 'p-9', category: 'shoes', referrer: 'https://search.example/' }],
      ['page_view', { url: 'https://shop.example/cart', page_type: 'CART', referrer: 'https://shop.example/p/9' }],
      ['page_view', { url: 'https://shop.example/p/9', page_type: 'CART', referrer: 'https://shop.example/cart' }],
    ],
  );
  c.shutdown();
  h.win.history.pushState(null, '', '/after-shutdown');
  assert.equal(h.events.length, 3);
});
