import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock, harness, sentIds, settle } from './helpers';
import { MemoryStorage } from '../src/storage';

const storedIds = (s: MemoryStorage): string[] => JSON.parse(s.getItem('weir_queue') || '[]').map((x: { e: { id: string } }) => x.e.id);

test('two tabs share the stored queue: neither loses the other\'s events', async () => {
  const shared = { storage: new MemoryStorage(), clock: new FakeClock() };
  const a = harness({ batchSize: 10 }, shared);
  const b = harness({ batchSize: 10 }, shared);
  a.nav.onLine = b.nav.onLine = false;
  const ids = [a.client.track('a1'), b.client.track('b1'), a.client.track('a2'), b.client.track('b2')];
  assert.deepEqual(storedIds(shared.storage).sort(), [...ids].sort());
  // both tabs close while offline; the next page load sends all four
  a.client.shutdown();
  b.client.shutdown();
  const next = harness({ batchSize: 10 }, shared);
  await settle();
  assert.deepEqual(sentIds(next.calls).sort(), [...ids].sort());
  assert.deepEqual(storedIds(shared.storage), []);
});

test('two tabs: events one tab had acknowledged are not resurrected by the other', async () => {
  const shared = { storage: new MemoryStorage(), clock: new FakeClock() };
  const a = harness({ batchSize: 10 }, shared);
  const b = harness({ batchSize: 10 }, shared);
  a.nav.onLine = b.nav.onLine = false;
  const a1 = a.client.track('a1');
  const b1 = b.client.track('b1');
  // tab A comes online first and delivers the shared queue
  a.nav.onLine = true;
  a.win.dispatch('online');
  await settle();
  assert.deepEqual(sentIds(a.calls).sort(), [a1, b1].sort());
  assert.deepEqual(storedIds(shared.storage), []);
  // tab B writes again: its stale copy of a1/b1 must not come back
  const b2 = b.client.track('b2');
  assert.deepEqual(storedIds(shared.storage), [b2]);
  b.nav.onLine = true;
  b.win.dispatch('online');
  await settle();
  assert.deepEqual(sentIds(b.calls), [b2]);
  // and A, writing after B's acknowledgement, does not bring b2 back
  a.client.track('a2');
  assert.equal(storedIds(shared.storage).includes(b2), false);
  await shared.clock.advance(5000);
  assert.deepEqual(storedIds(shared.storage), []);
  assert.equal(a.client.stats().queued + b.client.stats().queued, 0);
});
