import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as Weir from '../src/index';
import { beaconBodies } from '../src/transport';
import type { WeirEvent } from '../src/types';
import { harness, sentIds, settle } from './helpers';

test('a field with a BigInt or a cycle is refused by track() and does not block the queue', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const h = harness({ batchSize: 10 });
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  assert.equal(h.client.track('bad', { n: BigInt(1) }), '');
  assert.equal(h.client.track('bad', cyclic), '');
  assert.equal(warn.mock.calls.length, 2);
  assert.match(String(warn.mock.calls[0].arguments[0]), /not JSON/);
  const good = h.client.track('good', { nested: { x: [1, 2] } });
  await h.clock.advance(1000);
  assert.deepEqual(sentIds(h.calls), [good]);
  assert.equal(h.client.stats().queued, 0);
  assert.equal(h.client.stats().attempt, 0);
});

test('fields are deep-copied at track(): later changes by the app do not alter the event', async () => {
  const h = harness({ batchSize: 10 });
  const items = [{ product_id: 'p1', quantity: 1 }];
  h.client.track('add_to_cart', { items });
  items[0].quantity = 99;
  await h.clock.advance(1000);
  assert.deepEqual(h.calls[0].body.events[0].fields, { items: [{ product_id: 'p1', quantity: 1 }] });
});

test('beaconBodies leaves out an event it cannot serialise instead of throwing', () => {
  const ok = { id: 'a', type: 't', fields: {} } as unknown as WeirEvent;
  const bad = { id: 'b', type: 't', fields: { n: BigInt(2) } } as unknown as WeirEvent;
  const out = beaconBodies([ok, bad, ok], 'wk', '2026-01-01T00:00:00.000Z', 60000);
  assert.equal(out.length, 1);
  assert.deepEqual(JSON.parse(out[0].body).events.map((e: WeirEvent) => e.id), ['a', 'a']);
});

test('an error inside the pagehide handler does not reach the page', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const h = harness({ batchSize: 10 });
  h.client.track('a');
  let boom = false;
  const c = h.make({ now: () => (boom ? (() => { throw new Error('clock broke'); })() : h.clock.t) });
  h.client.shutdown();
  c.track('b');
  boom = true;
  assert.doesNotThrow(() => h.win.dispatch('pagehide'));
  assert.equal(warn.mock.calls.length, 1);
  assert.match(String(warn.mock.calls[0].arguments[0]), /pagehide handler failed/);
  boom = false;
  await settle();
});

test('Weir.init without endpoint or writeKey warns and returns a client that does nothing', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const fetched: string[] = [];
  const fetchMock = t.mock.method(globalThis, 'fetch', async (u: string) => {
    fetched.push(u);
    return new Response('{}');
  });
  for (const opts of [{ writeKey: 'wk' }, { endpoint: 'https://c.example' }, undefined]) {
    let c: ReturnType<typeof Weir.init> | undefined;
    assert.doesNotThrow(() => (c = Weir.init(opts as never)));
    assert.ok(c);
    assert.equal(Weir.track('add_to_cart', { n: 1 }), '');
    assert.equal(c.page(), '');
    c.identify('c-1');
    await c.flush();
  }
  Weir.shutdown();
  await settle();
  assert.equal(warn.mock.calls.length, 3);
  assert.match(String(warn.mock.calls[0].arguments[0]), /needs endpoint/);
  assert.match(String(warn.mock.calls[1].arguments[0]), /needs writeKey/);
  assert.deepEqual(fetched, []);
  fetchMock.mock.restore();
});
