// Browser journey through e2e/shop.html with headless Debian Chromium (puppeteer-core,
// which never downloads a browser). Env:
//   WEIR_E2E_PAGE   full page URL incl. ?endpoint=<collector base URL>&key=<write key> (required)
//   WEIR_CHROMIUM   chromium binary (default /usr/bin/chromium)
//   WEIR_E2E_CLOSE_WAIT_MS  wait after the final page close so the beacon leaves (default 2000)
// Steps: load; product, add, sign in, add; offline clicks, online; offline click, shutdown,
// reload; hide after two clicks (beacon), visible again (resent by fetch); hide after two
// clicks and reload without shutdown (the new page resends them); checkout and close.
// Prints ONE JSON document to stdout: {"events":[...every event the pages enqueued...],
// "console_errors":[...], "beacon_expected":[ids queued when the last page closed]}; exit 0.
// Any failure: a message on stderr and exit 1.
import puppeteer from 'puppeteer-core';

const PAGE = process.env.WEIR_E2E_PAGE;
const CHROMIUM = process.env.WEIR_CHROMIUM || '/usr/bin/chromium';
const CLOSE_WAIT_MS = Number(process.env.WEIR_E2E_CLOSE_WAIT_MS || 2000);
const DRAIN_TIMEOUT_MS = 20000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function fail(msg) {
  process.stderr.write(`journey: FAIL: ${msg}\n`);
  process.exit(1);
}
function log(msg) {
  process.stderr.write(`journey: ${msg}\n`);
}

if (!PAGE) fail('WEIR_E2E_PAGE is not set');

const consoleErrors = [];
const events = [];
let offline = false;
let onlineAt = 0;
// While the network is emulated offline, Chromium logs failed loads as
// "Failed to load resource: net::ERR_INTERNET_DISCONNECTED"; only those are expected, and
// also shortly after going online: the page's 'online' event (the SDK flushes at once) can
// run before the emulation is lifted in the network service, and console events arrive late.
const OFFLINE_NOISE = /net::ERR_INTERNET_DISCONNECTED/;
const ONLINE_GRACE_MS = 3000;
const offlineNoise = (text) => OFFLINE_NOISE.test(text) && (offline || Date.now() - onlineAt < ONLINE_GRACE_MS);

function watch(page) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (offlineNoise(text)) return;
    const loc = msg.location();
    consoleErrors.push(loc && loc.url ? `${text} (${loc.url})` : text);
  });
  page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err && err.message ? err.message : err}`));
}

async function setOffline(page, on) {
  if (on) offline = true; // before: a request may fail while the call is under way
  await page.setOfflineMode(on);
  if (!on) {
    offline = false;
    onlineAt = Date.now();
  }
  const seen = await page.evaluate(() => navigator.onLine);
  log(`network ${on ? 'offline' : 'online'} (navigator.onLine=${seen})`);
}

const queued = (page) =>
  page.evaluate(() => {
    try {
      return JSON.parse(localStorage.getItem('weir_queue') || '[]').map((x) => x.e.id);
    } catch {
      return null;
    }
  });

async function waitDrained(page, what) {
  const until = Date.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    const q = await queued(page);
    if (q && q.length === 0) return;
    if (Date.now() > until) fail(`${what}: queue still holds ${q ? q.length : '?'} event(s) after ${DRAIN_TIMEOUT_MS} ms`);
    await sleep(100);
  }
}

// Stored queue entries that carry a beacon time (sent by beacon, not yet acknowledged).
const beaconed = (page) =>
  page.evaluate(() => JSON.parse(localStorage.getItem('weir_queue') || '[]').filter((x) => x.b).map((x) => x.e.id));

// Emulates the tab going to the background and back: Chromium headless has no real tab
// switch, so document.visibilityState is overridden and visibilitychange dispatched, which is
// all the SDK reads. The override stays on the page (a reload drops it).
async function setVisibility(page, state) {
  await page.evaluate((s) => {
    window.__weirVisibility = s;
    if (!window.__weirVisibilityPatched) {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => window.__weirVisibility });
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => window.__weirVisibility === 'hidden' });
      window.__weirVisibilityPatched = true;
    }
    document.dispatchEvent(new Event('visibilitychange'));
  }, state);
  log(`page ${state}`);
}

// Ids in normal (application/json) POSTs to /v1/events, i.e. sent by fetch, not by beacon or keepalive.
const fetched = new Map(); // id -> count
function watchRequests(page) {
  page.on('request', (req) => {
    if (req.method() !== 'POST' || !/\/v1\/events/.test(req.url())) return;
    if (!String(req.headers()['content-type'] || '').startsWith('application/json')) return;
    try {
      for (const e of JSON.parse(req.postData() || '{}').events || []) fetched.set(e.id, (fetched.get(e.id) || 0) + 1);
    } catch {
      /* not ours */
    }
  });
}

async function collect(page) {
  const got = await page.evaluate(() => window.__weirEvents || []);
  for (const e of got) events.push(e);
  return got.length;
}

async function click(page, sel) {
  const before = await page.evaluate(() => window.__weirEvents.length);
  await page.click(sel);
  const after = await page.evaluate(() => window.__weirEvents.length);
  if (sel !== '#sign-in' && after !== before + 1) fail(`click ${sel}: expected one event, got ${after - before}`);
}

async function openedWithPageView(page) {
  await page.waitForFunction(() => window.__weirEvents && window.__weirEvents.length >= 1, { timeout: 10000 });
}

let browser;
try {
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  let page = await browser.newPage();
  watch(page);
  watchRequests(page);

  // 1. open: the SDK sends an automatic page_view
  await page.goto(PAGE, { waitUntil: 'load' });
  await openedWithPageView(page);
  // 2. product (page_view), add to cart, sign in (identify: no event), add another item
  await click(page, '#product');
  await click(page, '#add-1');
  await click(page, '#sign-in');
  await click(page, '#add-2');
  await waitDrained(page, 'online sends');

  // 3. offline: add, remove, ticket stay queued
  await setOffline(page, true);
  await click(page, '#add-3');
  await click(page, '#remove-1');
  await click(page, '#ticket');
  await sleep(1500); // longer than flushIntervalMs: a flush would have been tried
  let q = await queued(page);
  if (!q || q.length !== 3) fail(`offline: expected 3 queued events, found ${q ? q.length : '?'}`);
  // 4. online again: the SDK flushes at once
  await setOffline(page, false);
  await waitDrained(page, 'after going online');

  // 5. offline, one more event, online, reload: the new page sends it from localStorage
  await setOffline(page, true);
  await click(page, '#add-4');
  q = await queued(page);
  if (!q || q.length !== 1) fail(`offline again: expected 1 queued event, found ${q ? q.length : '?'}`);
  await collect(page);
  // Stop this page's SDK first (listeners, timers; the queue stays in localStorage), or its
  // 'online' flush or pagehide beacon would send the event before the new page can.
  await page.evaluate(() => Weir.shutdown());
  await setOffline(page, false);
  await page.reload({ waitUntil: 'load' });
  await openedWithPageView(page); // page_view of the new page
  await waitDrained(page, 'after reload');

  // 6. hidden right after two clicks: the beacon carries them (marked in the queue, not sent
  // again while hidden); visible again: the SDK sends them by fetch and the queue empties.
  await click(page, '#add-3');
  await click(page, '#remove-1');
  const hiddenIds = await queued(page);
  await setVisibility(page, 'hidden');
  let marked = await beaconed(page);
  if (!hiddenIds || hiddenIds.length !== 2 || marked.length !== 2 || !hiddenIds.every((id) => marked.includes(id))) {
    fail(`hidden: expected the 2 queued events beaconed, queue ${JSON.stringify(hiddenIds)}, beaconed ${JSON.stringify(marked)}`);
  }
  await sleep(1500); // longer than flushIntervalMs: a hidden page must not send them again
  if (hiddenIds.some((id) => fetched.has(id))) fail('hidden: beaconed events were sent again by fetch while hidden');
  await setVisibility(page, 'visible');
  await waitDrained(page, 'visible again after a beacon');
  if (!hiddenIds.every((id) => fetched.get(id) === 1)) fail(`visible: beaconed events not resent by fetch exactly once: ${JSON.stringify(hiddenIds.map((id) => fetched.get(id) || 0))}`);
  log('hidden: 2 events beaconed; visible: resent by fetch, queue empty');

  // 7. hidden again after two clicks, then a reload WITHOUT shutdown: the beacon carries them,
  // they stay marked in localStorage, and the new page resends them by fetch (the collector
  // dedupes the second copy).
  await click(page, '#product');
  await click(page, '#add-4');
  const reloadIds = await queued(page);
  await setVisibility(page, 'hidden');
  marked = await beaconed(page);
  if (!reloadIds || reloadIds.length !== 2 || marked.length !== 2) fail(`hidden before reload: queue ${JSON.stringify(reloadIds)}, beaconed ${JSON.stringify(marked)}`);
  await collect(page);
  await page.reload({ waitUntil: 'load' });
  await openedWithPageView(page);
  await waitDrained(page, 'after a reload with beaconed events');
  if (!reloadIds.every((id) => fetched.get(id) === 1)) fail(`reload: beaconed events not resent by fetch exactly once: ${JSON.stringify(reloadIds.map((id) => fetched.get(id) || 0))}`);
  log('hidden then reloaded: 2 beaconed events resent by the new page');

  // 8. checkout and a last event, then close at once: the pagehide beacon carries them
  await click(page, '#checkout');
  await click(page, '#remove-1');
  await collect(page);
  const beaconExpected = await queued(page);
  await page.close({ runBeforeUnload: true });
  await sleep(CLOSE_WAIT_MS); // the browser sends the beacon after the page is gone
  await browser.close();
  browser = null;

  const ids = new Set(events.map((e) => e.id));
  if (ids.size !== events.length) fail('two enqueued events share an id');
  const out = {
    events: events.map((e) => ({
      id: e.id,
      type: e.type,
      time: e.time,
      anonymous_id: e.anonymous_id,
      customer_id: e.customer_id ?? null,
      session_id: e.session_id,
      context: e.context,
      fields: e.fields,
    })),
    console_errors: consoleErrors,
    beacon_expected: beaconExpected || [],
  };
  log(`${events.length} events (${events.map((e) => e.type).join(', ')}); ${consoleErrors.length} console error(s); ${out.beacon_expected.length} left for the beacon`);
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
} catch (err) {
  if (browser) await browser.close().catch(() => {});
  fail(err && err.stack ? err.stack : String(err));
}
