// Chromium walk through the Weir demo (run by a Go test against `weir demo`): shop page with
// the live profile panel, then the operator view and a worker failover. puppeteer-core with
// Debian's chromium (it never downloads a browser). Env:
//   WEIR_DEMO_URL        base URL of the journey server (default http://127.0.0.1:8000)
//   WEIR_CHROMIUM        chromium binary (default /usr/bin/chromium)
//   WEIR_E2E_CUSTOMER    customer id to sign in as (default: a new c-e2e-… id)
//   WEIR_SCREENSHOTS     directory for shop.png, profile.png, operator.png (none if unset)
//   WEIR_E2E_TIMEOUT_MS  timeout of each wait (default 30000)
//   WEIR_E2E_OPERATOR_HISTORY  seconds of samples the operator view shows before its
//                        screenshot (default 0: as soon as it has data; the docs' use 120)
// Every step waits on page state (waitForFunction); there are no fixed sleeps.
// Prints ONE JSON document on stdout and exits 0:
//   {"customer", "latency_ms": {"add_to_cart","purchase","support_ticket"}, "workers_seen": [W, other],
//    "profile": <last profile>, "operator": {"workers", "events_per_sec"}, "console_errors": [...],
//    "screenshots": [paths]}
// Any failure: "demo: FAIL: step N: ..." and the shop page's window.__demo on stderr, exit 1.
import puppeteer from 'puppeteer-core';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const BASE = (process.env.WEIR_DEMO_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');
const CHROMIUM = process.env.WEIR_CHROMIUM || '/usr/bin/chromium';
const CUSTOMER = process.env.WEIR_E2E_CUSTOMER || `c-e2e-${Date.now().toString(36)}`;
const SHOTS = process.env.WEIR_SCREENSHOTS ? resolve(process.env.WEIR_SCREENSHOTS) : '';
const TIMEOUT = Number(process.env.WEIR_E2E_TIMEOUT_MS || 30000);
const HISTORY = Number(process.env.WEIR_E2E_OPERATOR_HISTORY || 0);
const VIEWPORT = { width: 1440, height: 900 };

let step = 0;
let browser = null;
let shop = null;
let op = null;
let done = false;
const consoleErrors = [];
const screenshots = [];

function log(msg) {
  process.stderr.write(`demo: ${msg}\n`);
}

async function fail(msg) {
  process.stderr.write(`demo: FAIL: step ${step}: ${msg}\n`);
  if (shop) {
    try {
      const state = await shop.evaluate(() => JSON.stringify(window.__demo || null, null, 1));
      process.stderr.write(`demo: window.__demo = ${state}\n`);
    } catch (err) {
      process.stderr.write(`demo: window.__demo unreadable: ${err && err.message ? err.message : err}\n`);
    }
  }
  if (op) {
    try {
      const o = await op.evaluate(() => {
        const x = window.__operator;
        return x ? { workers: x.workers, events_per_sec: (x.events_per_sec || []).slice(-5) } : null;
      });
      process.stderr.write(`demo: window.__operator (workers, last events/s) = ${JSON.stringify(o)}\n`);
    } catch {
      /* the operator tab is gone */
    }
  }
  if (consoleErrors.length) process.stderr.write(`demo: console errors: ${JSON.stringify(consoleErrors)}\n`);
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}

// Console errors, uncaught exceptions and failed requests of a page. A request the page
// cancels itself (an EventSource closed on a customer switch) is net::ERR_ABORTED: not a failure.
function watch(page, name) {
  page.on('console', (msg) => {
    if (done || msg.type() !== 'error') return;
    const loc = msg.location();
    consoleErrors.push(`${name}: ${msg.text()}${loc && loc.url ? ` (${loc.url})` : ''}`);
  });
  page.on('pageerror', (err) => {
    if (!done) consoleErrors.push(`${name}: pageerror: ${err && err.message ? err.message : err}`);
  });
  page.on('requestfailed', (req) => {
    const why = req.failure() ? req.failure().errorText : '';
    if (done || why === 'net::ERR_ABORTED') return;
    consoleErrors.push(`${name}: request failed: ${req.method()} ${req.url()}: ${why}`);
  });
}

async function waitFor(page, what, fn, ...args) {
  try {
    await page.waitForFunction(fn, { timeout: TIMEOUT, polling: 100 }, ...args);
  } catch (err) {
    throw new Error(`timed out after ${TIMEOUT} ms waiting for ${what}`);
  }
}

// The last latency measured on the shop page for an event type (waits for it).
async function latency(type) {
  await waitFor(shop, `a ${type} latency in window.__demo.latencies`, (t) => window.__demo.latencies.some((m) => m.type === t), type);
  return shop.evaluate((t) => window.__demo.latencies.filter((m) => m.type === t).pop().ms, type);
}

async function shot(page, file, opts) {
  if (!SHOTS) return;
  const path = join(SHOTS, file);
  if (opts && opts.element) {
    const el = await page.$(opts.element);
    if (!el) throw new Error(`screenshot ${file}: no ${opts.element}`);
    await el.screenshot({ path });
  } else await page.screenshot({ path, fullPage: !!(opts && opts.fullPage) });
  screenshots.push(path);
}

const nextFrame = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r()))));

try {
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    defaultViewport: VIEWPORT,
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', `--window-size=${VIEWPORT.width},${VIEWPORT.height}`],
  });
  shop = await browser.newPage();
  watch(shop, 'shop');

  // 1. the shop: products and a live profile stream
  step = 1;
  await shop.goto(`${BASE}/`, { waitUntil: 'load' });
  await waitFor(
    shop,
    '>= 8 product cards and #p-status live',
    () => document.querySelectorAll('#products .product').length >= 8 && document.getElementById('p-status').textContent.trim() === 'live',
  );
  log('shop loaded, profile stream live');

  // 2. sign in: the panel follows the customer's profile
  step = 2;
  await shop.$eval('#customer-id', (e) => (e.value = ''));
  await shop.type('#customer-id', CUSTOMER);
  await shop.click('#sign-in');
  await waitFor(
    shop,
    `window.__demo.customer and #p-id to be ${CUSTOMER}`,
    (c) => window.__demo.customer === c && document.getElementById('p-id').textContent.trim() === c,
    CUSTOMER,
  );
  // The first profile of the stream is the base of the latency measurement.
  await waitFor(shop, `the first profile of ${CUSTOMER}`, (c) => !!window.__demo.profile && window.__demo.profile.customer_id === c, CUSTOMER);
  log(`signed in as ${CUSTOMER} (profile version ${await shop.evaluate(() => window.__demo.profile.version)})`);

  // 3. a product, add to cart: the panel's cart shows it
  step = 3;
  const product = await shop.$eval('#products .product', (e) => e.getAttribute('data-product-id'));
  if (!product) throw new Error('the first product card has no data-product-id');
  await shop.click(`#products .product[data-product-id="${product}"]`);
  await waitFor(shop, '#product-view', () => !document.getElementById('product-view').hidden);
  await shop.click('#add-to-cart');
  await waitFor(
    shop,
    `the panel's cart to list ${product}`,
    (p) => document.getElementById('p-cart').textContent.includes(p) && !!document.querySelector(`#p-cart [data-product-id="${p}"]`),
    product,
  );
  const addMs = await latency('add_to_cart');
  log(`${product} added to the cart: add_to_cart → profile in ${addMs} ms`);

  // 4. checkout: one more purchase, lifetime value up by the cart total
  step = 4;
  const before = await shop.evaluate(() => {
    const p = window.__demo.profile;
    return { purchases: Number(p.purchases), ltv: Number(p.lifetime_value_cents), cart: Number(p.cart_value_cents), known: p.known };
  });
  if (!(before.cart > 0)) throw new Error(`the profile's cart value is ${before.cart} before checkout`);
  await shop.click('#checkout');
  await waitFor(
    shop,
    `purchases ${before.purchases + 1} and lifetime value ${before.ltv + before.cart}`,
    (b) => {
      const p = window.__demo.profile;
      return Number(p.purchases) === b.purchases + 1 && Number(p.lifetime_value_cents) === b.ltv + b.cart;
    },
    before,
  );
  const purchaseMs = await latency('purchase');
  log(`checkout: purchases ${before.purchases + 1}, purchase → profile in ${purchaseMs} ms`);

  // 5. an angry support ticket: at risk, an AT_RISK trigger, the engine's webhook
  step = 5;
  await shop.type('#ticket-subject', 'My order never arrived');
  await shop.select('#ticket-mood', 'negative');
  await shop.click('#ticket-submit');
  await waitFor(shop, '#p-at-risk "yes"', () => document.getElementById('p-at-risk').textContent.trim() === 'yes');
  const ticketMs = await latency('support_ticket');
  await waitFor(shop, 'a .trigger[data-type=AT_RISK]', () => !!document.querySelector('#triggers .trigger[data-type="AT_RISK"]'));
  await waitFor(shop, 'a .delivery[data-type=AT_RISK]', () => !!document.querySelector('#engine .delivery[data-type="AT_RISK"]'));
  // The shop-wide feed shows everyone's triggers, the person's own among them.
  await waitFor(shop, "the person's own trigger in the shop-wide feed", () => window.__demo.liveMine > 0 && window.__demo.liveTriggers > window.__demo.liveMine);
  log(`negative ticket: at risk, AT_RISK trigger and webhook seen, also in the shop-wide feed; support_ticket → profile in ${ticketMs} ms`);

  // 6. screenshots of the shop
  step = 6;
  // Changed fields flash for a moment; the pictures show the settled panel.
  await waitFor(shop, 'the panel to stop flashing', () => !document.querySelector('.flash'));
  await nextFrame(shop);
  await shot(shop, 'shop.png', { fullPage: true });
  await shot(shop, 'profile.png', { element: '#profile' });

  // 7. the operator view in a second tab
  step = 7;
  op = await browser.newPage();
  watch(op, 'operator');
  await op.goto(`${BASE}/operator`, { waitUntil: 'load' });
  await waitFor(op, 'two running workers with tasks and events/s > 0', () => {
    const o = window.__operator;
    if (!o || !Array.isArray(o.workers)) return false;
    const running = o.workers.filter((w) => w.running);
    const rows = Array.from(document.querySelectorAll('tr.worker')).filter((tr) => tr.textContent.includes('running'));
    return (
      running.length >= 2 &&
      rows.length >= 2 &&
      running.every((w) => Array.isArray(w.tasks) && w.tasks.length > 0) &&
      Array.isArray(o.events_per_sec) &&
      o.events_per_sec.some((v) => v > 0)
    );
  });
  const opInfo = await op.evaluate(() => {
    const o = window.__operator;
    const eps = o.events_per_sec.filter((v) => v != null);
    return { workers: o.workers.filter((w) => w.running).length, events_per_sec: eps.length ? eps[eps.length - 1] : 0 };
  });
  if (HISTORY > 0) {
    try {
      await op.waitForFunction((n) => window.__operator.times.length >= n, { timeout: HISTORY * 1000 + TIMEOUT, polling: 1000 }, HISTORY);
    } catch (err) {
      throw new Error(`the operator view never held ${HISTORY} s of samples`);
    }
  }
  await nextFrame(op); // the charts have drawn the data
  await shot(op, 'operator.png', { fullPage: true });
  log(`operator: ${opInfo.workers} running workers, ${opInfo.events_per_sec} events/s`);

  // 8. failover: stop the worker serving the panel; the panel moves and keeps updating
  step = 8;
  const w = await shop.evaluate(() => window.__demo.worker);
  if (typeof w !== 'number') throw new Error(`window.__demo.worker is ${JSON.stringify(w)}, not a worker index`);
  const stopSel = `tr.worker[data-index="${w}"] button.stop`;
  await waitFor(op, `an enabled ${stopSel}`, (s) => {
    const b = document.querySelector(s);
    return !!b && !b.disabled;
  }, stopSel);
  await op.click(stopSel);
  await shop.bringToFront();
  await waitFor(shop, `the panel to reconnect to a worker other than ${w}`, (x) => typeof window.__demo.worker === 'number' && window.__demo.worker !== x, w);
  const other = await shop.evaluate(() => window.__demo.worker);
  await waitFor(shop, '#p-status live', () => document.getElementById('p-status').textContent.trim() === 'live');
  const qty = await shop.evaluate((p) => {
    const c = (window.__demo.profile.cart_items || []).find((x) => x.product_id === p);
    return c ? Number(c.quantity) : 0;
  }, product);
  await shop.click('#add-to-cart');
  await waitFor(
    shop,
    `the panel's cart to show ${product} × ${qty + 1}`,
    (p, q) => {
      const li = document.querySelector(`#p-cart [data-product-id="${p}"]`);
      return !!li && Number(li.getAttribute('data-quantity')) === q;
    },
    product,
    qty + 1,
  );
  log(`worker ${w} stopped; the panel moved to worker ${other} and shows ${product} × ${qty + 1}`);

  const profile = await shop.evaluate(() => window.__demo.profile);
  done = true;
  const out = {
    customer: CUSTOMER,
    latency_ms: { add_to_cart: addMs, purchase: purchaseMs, support_ticket: ticketMs },
    workers_seen: [w, other],
    profile,
    operator: opInfo,
    console_errors: consoleErrors,
    screenshots,
  };
  await browser.close().catch(() => {});
  browser = null;
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
} catch (err) {
  await fail(err && err.message ? err.message : String(err));
}
