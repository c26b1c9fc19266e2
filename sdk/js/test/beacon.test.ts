import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness, sentIds, settle } from './helpers';

const MIN = 60 * 1000;
const beaconIds = async (h: ReturnType<typeof harness>): Promise<string[]> => {
  const out: string[] = [];
  for (const b of h.beacons) out.push(...JSON.parse(await (b.data as Blob).text()).events.map((e: { id: string }) => e.id));
  return out;
};
const stored = (h: ReturnType<typeof harness>): { e: { id: string }; b?: number }[] =>
  JSON.parse(h.storage.getItem('weir_queue') || '[]');

test('hidden then visible again: the beaconed events are sent by fetch and leave the queue', async () => {
  const h = harness({ batchSize: 10 });
  const ids = [h.client.track('a'), h.client.track('b')];
  h.doc.visibilityState = 'hidden';
  h.doc.dispatch('visibilitychange');
  assert.deepEqual(await beaconIds(h), ids);
  assert.deepEqual(stored(h).map((x) => x.b), [h.clock.t, h.clock.t]); // the beacon time per event
  await h.clock.advance(5000);
  assert.equal(h.calls.length, 0); // not sent again while hidden
  h.doc.visibilityState = 'visible';
  h.doc.dispatch('visibilitychange');
  await settle();
  assert.deepEqual(sentIds(h.calls), ids);
  assert.equal(h.calls[0].init.keepalive, false);
  assert.equal(h.client.stats().queued, 0);
  assert.deepEqual(stored(h), []);
});

test('pagehide then pageshow (back from the bfcache): the beaconed events are sent by fetch', async () => {
  const h = harness({ batchSize: 10 });
  const ids = [h.client.track('a'), h.client.track('b')];
  h.win.dispatch('pagehide', { persisted: true });
  assert.deepEqual(await beaconIds(h), ids);
  h.win.dispatch('pageshow', { persisted: true });
  await settle();
  assert.deepEqual(sentIds(h.calls), ids);
  assert.equal(h.client.stats().queued, 0);
});

test('offline: a hide does not beacon; the events stay queued normally and "online" sends them', async () => {
  const h = harness({ batchSize: 10 });
  h.nav.onLine = false;
  const ids = [h.client.track('a'), h.client.track('b')];
  h.doc.visibilityState = 'hidden';
  h.doc.dispatch('visibilitychange');
  h.win.dispatch('pagehide');
  assert.equal(h.beacons.length, 0);
  assert.deepEqual(stored(h).map((x) => x.b), [undefined, undefined]);
  h.nav.onLine = true;
  h.win.dispatch('online');
  await settle();
  assert.deepEqual(sentIds(h.calls), ids);
  assert.equal(h.client.stats().queued, 0);
});

test('"online" resends events beaconed while the connection was already down (navigator.onLine lagged)', async () => {
  const h = harness({ batchSize: 10 });
  const ids = [h.client.track('a')];
  h.doc.visibilityState = 'hidden';
  h.doc.dispatch('visibilitychange'); // beacon lost
  assert.equal(h.beacons.length, 1);
  h.win.dispatch('online');
  await settle();
  assert.deepEqual(sentIds(h.calls), ids);
  assert.equal(h.client.stats().queued, 0);
});

test('next load: events beaconed within beaconResendWindowMs are resent, older ones dropped with a warning', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const h = harness({ batchSize: 10 });
  const old = [h.client.track('old1'), h.client.track('old2')];
  h.win.dispatch('pagehide'); // beaconed at T
  await h.clock.advance(45 * MIN);
  const recent = [h.client.track('recent')];
  h.win.dispatch('pagehide'); // beaconed at T + 45 min; the old ones are not beaconed again
  assert.deepEqual(await beaconIds(h), [...old, ...recent]);
  h.client.shutdown();
  await h.clock.advance(6 * MIN); // next load at T + 51 min
  const next = harness({ batchSize: 10 }, { storage: h.storage, clock: h.clock });
  await settle();
  assert.deepEqual(sentIds(next.calls), recent);
  assert.equal(next.client.stats().queued, 0);
  assert.deepEqual(stored(next), []);
  assert.equal(warn.mock.calls.length, 1);
  assert.match(String(warn.mock.calls[0].arguments[0]), /^\[weir\] 2 event\(s\) beaconed over 50 min ago/);
  assert.ok(old.every((id) => !sentIds(next.calls).includes(id)));
});

test('beaconResendWindowMs is an option', async (t) => {
  t.mock.method(console, 'warn', () => {});
  const h = harness({ batchSize: 10 });
  const id = h.client.track('a');
  h.win.dispatch('pagehide');
  h.client.shutdown();
  await h.clock.advance(5 * MIN + 1);
  const next = harness({ batchSize: 10, beaconResendWindowMs: 10 * MIN }, { storage: h.storage, clock: h.clock });
  await settle();
  assert.deepEqual(sentIds(next.calls), [id]);
  h.storage.removeItem('weir_queue');
  const p = harness({ batchSize: 10, beaconResendWindowMs: 1 * MIN }, { storage: h.storage, clock: h.clock });
  p.client.track('b');
  p.win.dispatch('pagehide');
  p.client.shutdown();
  await h.clock.advance(MIN + 1);
  const last = harness({ batchSize: 10, beaconResendWindowMs: 1 * MIN }, { storage: h.storage, clock: h.clock });
  await settle();
  assert.deepEqual(last.calls, []);
});
