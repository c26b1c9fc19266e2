import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStorage } from '../src/storage';
import { harness, sentIds, settle } from './helpers';

/** localStorage whose quota can be "used up" by a test. */
class QuotaStorage extends MemoryStorage {
  full = false;
  setItem(k: string, v: string): void {
    if (this.full) throw new Error('QuotaExceededError');
    super.setItem(k, v);
  }
}

test('a failed save removes the stale stored queue (warned once): the next page resends nothing acknowledged', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const storage = new QuotaStorage();
  const h = harness({ batchSize: 10 }, { storage });
  h.nav.onLine = false;
  const a = h.client.track('a'); // stored
  storage.full = true;
  const b = h.client.track('b'); // cannot be stored
  const c = h.client.track('c');
  assert.equal(storage.getItem('weir_queue'), null);
  assert.equal(warn.mock.calls.length, 1);
  assert.match(String(warn.mock.calls[0].arguments[0]), /cannot save the event queue/);
  // this page still delivers everything from memory
  h.nav.onLine = true;
  h.win.dispatch('online');
  await settle();
  assert.deepEqual(sentIds(h.calls), [a, b, c]);
  h.client.shutdown();
  // the next page does not resend a (acknowledged) from a stale copy
  storage.full = false;
  const next = harness({ batchSize: 10 }, { storage, clock: h.clock });
  await h.clock.advance(5000);
  assert.deepEqual(next.calls, []);
  assert.equal(warn.mock.calls.length, 1);
});
