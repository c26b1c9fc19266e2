// Weir demo shop: a small catalog whose clicks go through the browser SDK to the collector,
// and a live panel that shows the visitor's profile as the stream processor updates it
// (server-sent events from the journey server), with the triggers it fires and the webhooks
// the demo personalization engine receives. Contract: internal/journey/web (spec) — DOM ids,
// window.__demo and the /api endpoints are read by the Chromium test and served by Go.
import * as Weir from '../../../../sdk/js/src/index.ts';

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 24;
const FEED_MAX = 30;
const LATENCY_LOG_MAX = 5;

const demo = { customer: '', latencies: [], profile: null, worker: null, liveTriggers: 0, liveMine: 0 };
window.__demo = demo;

const S = {
  config: null,
  products: [],
  byId: new Map(),
  categories: [],
  currency: 'USD',
  route: { view: 'grid', category: '', product: '' },
  shown: PAGE_SIZE,
  signedIn: false,
  tracker: null, // latency bookkeeping of the current profile id
  profile: null, // last profile shown (current profile id)
  shownKeys: null, // field id -> rendered key, to flash what changed
  gen: 0, // bumps on every customer switch: events of older streams are ignored
  streams: [],
  reopenTimers: [],
  cart: null,
  tickets: [],
  triggers: new Map(), // trigger_id -> trigger (for the engine feed's delay)
  deliveries: new Set(),
};

// ---------- formatting ----------

const moneyFormats = new Map();
function money(cents, currency) {
  const cur = currency || S.currency || 'USD';
  let f = moneyFormats.get(cur);
  if (!f) {
    try {
      f = new Intl.NumberFormat(undefined, { style: 'currency', currency: cur });
    } catch {
      f = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    moneyFormats.set(cur, f);
  }
  return f.format((Number(cents) || 0) / 100);
}
const intFormat = new Intl.NumberFormat();
const num = (n) => intFormat.format(Number(n) || 0);
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
function clock(iso) {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? timeFormat.format(new Date(t)) : '';
}
function ago(iso) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t) || t <= 0) return '–';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}
const cap = (s) => (s ? s.charAt(0).toUpperCase() + s.slice(1) : s);

function hex(bytes) {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k === 'style') e.style.cssText = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children) if (c != null && c !== false) e.append(c);
  return e;
}

// A pastel hue per category, shifted a little per product (no images: nothing is fetched
// at run time).
function hash(s) {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h;
}
function tile(p, large) {
  const h = (hash(p.category || '') % 12) * 30 + 8 + (hash(p.product_id || '') % 7) * 4 - 12;
  const a = 110 + (hash(p.brand || '') % 8) * 20;
  const x = 20 + (hash(p.product_id || '') % 5) * 15;
  return el(
    'div',
    { class: large ? 'tile tile-large' : 'tile', style: `--h:${h};--a:${a}deg;--x:${x}%` },
    el('span', { class: 'tile-mark', text: (p.category || '?').charAt(0).toUpperCase() }),
    el('span', { class: 'tile-cat', text: p.category || '' }),
  );
}

let toastTimer = null;
function toast(msg) {
  const t = $('toast');
  t.textContent = msg;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), 2600);
}

// Highlights a node briefly (CSS animation); the class goes when the animation ends, so
// "nothing is flashing" is a state a test can wait for.
function flash(node) {
  if (!node) return;
  node.classList.remove('flash');
  void node.offsetWidth; // restart the animation
  node.classList.add('flash');
}
document.addEventListener('animationend', (e) => {
  if (e.animationName.startsWith('flash') && e.target.classList) e.target.classList.remove('flash');
});

// ---------- data ----------

async function getJSON(url) {
  const res = await fetch(url, { cache: 'no-store' });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

async function loadWithRetry(url) {
  for (let wait = 500; ; wait = Math.min(wait * 2, 5000)) {
    try {
      return await getJSON(url);
    } catch {
      showBanner('Waiting for the demo server…');
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

function showBanner(text) {
  let b = $('banner');
  if (!text) {
    if (b) b.remove();
    return;
  }
  if (!b) {
    b = el('div', { id: 'banner', class: 'banner' });
    document.body.prepend(b);
  }
  b.textContent = text;
}

// ---------- routing (the SDK sends a page_view on every pushState/popstate) ----------

function parseRoute() {
  const q = new URLSearchParams(location.search);
  const product = q.get('product') || '';
  if (product && S.byId.has(product)) return { view: 'product', product, category: S.byId.get(product).category };
  const category = q.get('category') || '';
  if (category && S.categories.some((c) => c.name === category)) return { view: 'grid', category, product: '' };
  return { view: 'grid', category: '', product: '' };
}

function routeURL(r) {
  if (r.view === 'product') return `${location.pathname}?product=${encodeURIComponent(r.product)}`;
  if (r.category) return `${location.pathname}?category=${encodeURIComponent(r.category)}`;
  return location.pathname;
}

// The SDK reads page_type, product_id and category for its page_view from <body>.
function setPageAttrs(r) {
  const b = document.body;
  const set = (k, v) => (v ? b.setAttribute(k, v) : b.removeAttribute(k));
  set('data-weir-page-type', r.view === 'product' ? 'PRODUCT' : r.category ? 'CATEGORY' : 'HOME');
  set('data-weir-product-id', r.view === 'product' ? r.product : '');
  set('data-weir-category', r.category);
}

function navigate(r) {
  const url = routeURL(r);
  const same = location.pathname + location.search === url;
  S.route = r;
  setPageAttrs(r);
  if (r.view === 'grid') S.shown = PAGE_SIZE;
  if (same) Weir.page(); // same URL (e.g. the chip of the current category): no pushState, view it again
  else history.pushState(null, '', url); // the SDK's pushState hook sends the page_view
  render();
  window.scrollTo(0, 0);
}

const openProduct = (id) => {
  const p = S.byId.get(id);
  if (p) navigate({ view: 'product', product: id, category: p.category });
};

// ---------- shop rendering ----------

function renderCategories() {
  const nav = $('categories');
  nav.textContent = '';
  const all = el('button', { type: 'button', class: 'chip all', 'aria-pressed': String(!S.route.category) }, 'All');
  all.addEventListener('click', () => navigate({ view: 'grid', category: '', product: '' }));
  nav.append(all);
  for (const c of S.categories) {
    const b = el(
      'button',
      { type: 'button', class: 'chip category', 'data-category': c.name, 'aria-pressed': String(S.route.category === c.name) },
      cap(c.name),
      el('span', { class: 'chip-count', text: String(c.count) }),
    );
    b.addEventListener('click', () => navigate({ view: 'grid', category: c.name, product: '' }));
    nav.append(b);
  }
}

function productCard(p, cls) {
  const card = el(
    'article',
    { class: cls, 'data-product-id': p.product_id, tabindex: '0', role: 'button', 'aria-label': `${p.name}, ${money(p.price_cents, p.currency)}` },
    tile(p),
    el(
      'div',
      { class: 'card-body' },
      el('div', { class: 'name', text: p.name }),
      el('div', { class: 'meta', text: `${p.category} · ${p.brand}` }),
      el(
        'div',
        { class: 'card-row' },
        el('span', { class: 'price', text: money(p.price_cents, p.currency) }),
        p.in_stock ? el('span', { class: 'pop', title: 'views by the live site’s shoppers', text: `${num(p.popularity)} views` }) : el('span', { class: 'oos', text: 'out of stock' }),
      ),
    ),
  );
  card.addEventListener('click', () => openProduct(p.product_id));
  card.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      openProduct(p.product_id);
    }
  });
  return card;
}

function renderGrid() {
  const list = S.route.category ? S.products.filter((p) => p.category === S.route.category) : S.products;
  const box = $('products');
  box.textContent = '';
  for (const p of list.slice(0, S.shown)) box.append(productCard(p, 'product'));
  $('grid-title').textContent = S.route.category ? cap(S.route.category) : 'All products';
  $('grid-count').textContent = `${num(list.length)} products`;
  const more = $('show-more');
  more.hidden = list.length <= S.shown;
  more.textContent = `Show all ${num(list.length)}`;
}

function renderProductView() {
  const p = S.byId.get(S.route.product);
  if (!p) return;
  $('pv-tile').replaceWith(Object.assign(tile(p, true), { id: 'pv-tile' }));
  $('pv-category').textContent = p.category;
  $('pv-name').textContent = p.name;
  $('pv-brand').textContent = `by ${p.brand} · ${p.product_id}`;
  $('pv-price').textContent = money(p.price_cents, p.currency);
  const stock = $('pv-stock');
  stock.textContent = p.in_stock ? `In stock · viewed ${num(p.popularity)} times on the live site` : 'Out of stock (you can still try)';
  stock.className = p.in_stock ? 'stock' : 'stock oos';
  renderProductCartState();
}

function renderProductCartState() {
  if (S.route.view !== 'product') return;
  const line = S.cart.lines.get(S.route.product);
  $('remove-from-cart').disabled = !line;
  $('pv-incart').textContent = line ? `${line.quantity} in your cart` : '';
}

function render() {
  const product = S.route.view === 'product';
  $('grid-view').hidden = product;
  $('product-view').hidden = !product;
  document.body.classList.toggle('on-product', product);
  renderCategories();
  if (product) renderProductView();
  else renderGrid();
  renderRecs();
}

// ---------- recommendations ----------

function byPopularity(a, b) {
  return (b.popularity || 0) - (a.popularity || 0) || (a.product_id < b.product_id ? -1 : 1);
}

function renderRecs() {
  if (!S.products.length) return;
  const p = S.profile;
  const staleAfter = Number(S.config && S.config.stale_after_ms) || 30 * 60 * 1000;
  const last = p ? Date.parse(p.last_event_time) : NaN;
  const fresh = p && p.known && Number.isFinite(last) && Date.now() - last < staleAfter;
  let source = 'fallback';
  let title = 'Popular right now';
  let picks = [];
  if (fresh && Array.isArray(p.top_categories) && p.top_categories.length) {
    const top = p.top_categories[0];
    const recent = new Set(p.recent_products || []);
    picks = S.products.filter((x) => x.category === top && !recent.has(x.product_id)).sort(byPopularity).slice(0, 4);
    if (picks.length) {
      source = 'profile';
      title = `Because you viewed ${top}`;
    }
  }
  if (source === 'fallback') picks = S.products.filter((x) => x.in_stock).sort(byPopularity).slice(0, 4);

  const recs = $('recs');
  const key = source + '|' + title + '|' + picks.map((x) => x.product_id).join(',');
  if (recs.dataset.key === key) return;
  const changed = recs.dataset.key != null;
  recs.dataset.key = key;
  recs.setAttribute('data-source', source);
  $('recs-title').textContent = title;
  $('recs-why').textContent = source === 'profile' ? 'from your live profile' : p && p.known && !fresh ? 'your profile is stale' : 'no profile signal yet';
  const list = $('recs-list');
  list.textContent = '';
  for (const x of picks) list.append(productCard(x, 'rec'));
  if (changed) flash(recs);
}

// ---------- cart, checkout, support ----------

function newCart() {
  return { id: `cart-${hex(6)}`, lines: new Map() };
}

function cartTotal() {
  let t = 0;
  for (const l of S.cart.lines.values()) t += l.quantity * l.unit_price_cents;
  return t;
}

function renderCart() {
  const ul = $('cart-lines');
  ul.textContent = '';
  for (const l of S.cart.lines.values()) {
    const p = S.byId.get(l.product_id);
    ul.append(
      el(
        'li',
        { 'data-product-id': l.product_id },
        el('span', { class: 'cl-name', text: p ? p.name : l.product_id }),
        el('span', { class: 'cl-qty', text: `× ${l.quantity}` }),
        el('span', { class: 'cl-sum num', text: money(l.quantity * l.unit_price_cents) }),
      ),
    );
  }
  if (!S.cart.lines.size) ul.append(el('li', { class: 'empty', text: 'Empty — open a product and add it' }));
  $('cart-total').textContent = S.cart.lines.size ? money(cartTotal()) : '–';
  $('checkout').disabled = !S.cart.lines.size;
  renderProductCartState();
}

function cartEvent(type, p, total) {
  Weir.track(type, {
    cart_id: S.cart.id,
    items: [{ product_id: p.product_id, quantity: 1, unit_price_cents: p.price_cents }],
    currency: p.currency || S.currency,
    total_cents: total,
  });
}

function addToCart() {
  const p = S.byId.get(S.route.product);
  if (!p) return;
  const line = S.cart.lines.get(p.product_id) || { product_id: p.product_id, quantity: 0, unit_price_cents: p.price_cents };
  line.quantity++;
  S.cart.lines.set(p.product_id, line);
  cartEvent('add_to_cart', p, p.price_cents);
  renderCart();
}

function removeFromCart() {
  const p = S.byId.get(S.route.product);
  const line = p && S.cart.lines.get(p.product_id);
  if (!line) return;
  line.quantity--;
  if (line.quantity <= 0) S.cart.lines.delete(p.product_id);
  // total_cents of a removal is negative (purchase_event.avsc: "negative for removals").
  cartEvent('remove_from_cart', p, -p.price_cents);
  renderCart();
}

function checkout() {
  if (!S.cart.lines.size) return;
  const total = cartTotal();
  const order = `o-${hex(6)}`;
  Weir.track('purchase', {
    cart_id: S.cart.id,
    order_id: order,
    items: Array.from(S.cart.lines.values(), (l) => ({ product_id: l.product_id, quantity: l.quantity, unit_price_cents: l.unit_price_cents })),
    currency: S.currency,
    total_cents: total,
  });
  S.cart = newCart();
  renderCart();
  $('cart-note').textContent = `Order ${order} placed: ${money(total)}`;
  toast(`Thank you! Order ${order} placed (${money(total)})`);
}

const MOODS = {
  positive: { sentiment: 0.7, label: 'happy' },
  neutral: { sentiment: 0, label: 'neutral' },
  negative: { sentiment: -0.8, label: 'angry' },
};

function ticketEvent(t, status) {
  Weir.track('support_ticket', {
    ticket_id: t.id,
    status,
    // support_ticket.avsc allows LOW, MEDIUM, HIGH, URGENT: "normal" is MEDIUM.
    priority: t.mood === 'negative' ? 'HIGH' : 'MEDIUM',
    channel: 'CHAT',
    subject: t.subject,
    sentiment: MOODS[t.mood].sentiment,
  });
}

function openTicket(ev) {
  ev.preventDefault();
  const mood = MOODS[$('ticket-mood').value] ? $('ticket-mood').value : 'neutral';
  const subject = $('ticket-subject').value.trim() || $('ticket-subject').placeholder;
  const t = { id: `t-${hex(4)}`, mood, subject, open: true };
  ticketEvent(t, 'OPENED');
  S.tickets.unshift(t);
  $('ticket-subject').value = '';
  renderTickets();
  toast(`Ticket ${t.id} opened`);
}

function renderTickets() {
  const ul = $('tickets');
  ul.textContent = '';
  for (const t of S.tickets.slice(0, 4)) {
    const li = el(
      'li',
      { class: `ticket mood-${t.mood}` },
      el('div', { class: 'tk-subject', text: t.subject, title: t.subject }),
      el('div', { class: 'tk-meta', text: `${t.id} · ${MOODS[t.mood].label}` }),
    );
    if (t.open) {
      const b = el('button', { type: 'button', class: 'btn btn-small btn-quiet', text: 'Resolve' });
      b.addEventListener('click', () => {
        if (!t.open) return;
        t.open = false;
        ticketEvent(t, 'CLOSED');
        renderTickets();
      });
      li.append(b);
    } else li.append(el('span', { class: 'tk-closed', text: 'resolved' }));
    ul.append(li);
  }
}

// ---------- click-to-profile latency ----------

// Each event this page sends for the profile raises its version by exactly one, so an event
// sent when the last version seen was V with k events still unreflected shows in version V+k+1.
class Tracker {
  constructor(id) {
    this.id = id;
    this.version = null; // last version seen; null until the stream's first profile
    this.outstanding = 0; // events sent and not yet in a version seen
    this.pending = []; // {type, t0, expected}
    this.early = []; // sent before the first profile: {type, t0}
  }

  sent(type) {
    const t0 = performance.now();
    if (this.version === null) {
      this.early.push({ type, t0 });
      return;
    }
    this.outstanding++;
    this.pending.push({ type, t0, expected: this.version + this.outstanding });
  }

  /** A profile arrived; returns the measurements it completes. */
  seen(v) {
    if (this.version === null) {
      // A profile with no events applied (version 0) has none of ours: they all come later.
      // Otherwise we cannot tell which of the early ones it holds: those are not measured.
      if (v === 0) {
        this.early.forEach((e, i) => this.pending.push({ ...e, expected: i + 1 }));
        this.outstanding = this.early.length;
      }
      this.early = [];
      this.version = v;
    } else if (v > this.version) {
      this.outstanding = Math.max(0, this.outstanding - (v - this.version));
      this.version = v;
    }
    const now = performance.now();
    const done = this.pending.filter((m) => m.expected <= this.version);
    this.pending = this.pending.filter((m) => m.expected > this.version);
    return done.map((m) => ({ type: m.type, ms: Math.max(0, Math.round(now - m.t0)) }));
  }
}

function onSdkEvent(e) {
  const t = S.tracker;
  const id = e.customer_id || e.anonymous_id;
  if (t && id === t.id) t.sent(e.type);
}

function showLatencies(done) {
  if (!done.length) return;
  const log = $('p-latency-log');
  for (const m of done) {
    demo.latencies.push(m);
    log.prepend(el('li', null, el('span', { class: 'mono', text: m.type }), el('span', { class: 'num', text: `${num(m.ms)} ms` })));
  }
  while (log.children.length > LATENCY_LOG_MAX) log.lastChild.remove();
  const last = done[done.length - 1];
  const box = $('p-latency');
  box.textContent = '';
  box.append(el('span', { class: 'mono', text: last.type }), ' → profile in ', el('strong', { text: `${num(last.ms)} ms` }));
  flash(box);
}

// ---------- live profile panel ----------

function chipList(items, onClick, empty) {
  const frag = document.createDocumentFragment();
  if (!items.length) frag.append(el('span', { class: 'muted', text: empty }));
  for (const it of items) {
    const c = el('span', { class: 'pchip', title: it.title || null, 'data-id': it.id || null, text: it.text });
    if (onClick) {
      c.classList.add('link');
      c.addEventListener('click', () => onClick(it));
    }
    frag.append(c);
  }
  return frag;
}

// id -> [key, fill(dd)]: a field is redrawn (and flashes) only when its key changes.
function profileFields(p) {
  const recent = (p.recent_products || []).map((id) => {
    const x = S.byId.get(id);
    return { id, text: x ? x.name : id, title: id };
  });
  const cart = p.cart_items || [];
  return {
    'p-id': [p.customer_id, (dd) => (dd.textContent = p.customer_id)],
    'p-version': [String(p.version), (dd) => (dd.textContent = p.known ? num(p.version) : `${num(p.version)} (no events yet)`)],
    'p-segment': [
      `${p.segment}|${p.country}`,
      (dd) => (dd.textContent = p.country && p.country !== 'ZZ' ? `${p.segment} · ${p.country}` : p.segment || '–'),
    ],
    'p-views': [
      `${p.views_total}|${p.views_5m}`,
      (dd) => {
        dd.textContent = '';
        dd.append(el('strong', { text: num(p.views_total) }), ' total · ', el('strong', { text: num(p.views_5m) }), ' in 5 min');
      },
    ],
    'p-recent': [recent.map((r) => r.id).join(','), (dd) => dd.replaceChildren(chipList(recent.slice(0, 6), (r) => openProduct(r.id), 'none yet'))],
    'p-top': [
      (p.top_categories || []).join(','),
      (dd) => dd.replaceChildren(chipList((p.top_categories || []).map((c) => ({ text: c, id: c })), null, 'none yet')),
    ],
    'p-cart': [
      cart.map((c) => `${c.product_id}:${c.quantity}`).join(',') + '|' + p.cart_value_cents,
      (dd) => {
        dd.textContent = '';
        if (!cart.length) {
          dd.append(el('span', { class: 'muted', text: 'empty' }));
          return;
        }
        const ul = el('ul', { class: 'pcart' });
        for (const c of cart) {
          const x = S.byId.get(c.product_id);
          ul.append(
            el(
              'li',
              { 'data-product-id': c.product_id, 'data-quantity': String(c.quantity) },
              el('span', { class: 'pc-name', text: x ? x.name : c.product_id }),
              el('span', { class: 'pc-id mono', text: c.product_id }),
              el('span', { class: 'pc-qty', text: `× ${c.quantity}` }),
              el('span', { class: 'num', text: money(c.quantity * c.unit_price_cents) }),
            ),
          );
        }
        dd.append(ul, el('div', { class: 'pcart-total' }, 'value ', el('strong', { class: 'num', text: money(p.cart_value_cents) })));
      },
    ],
    'p-purchases': [String(p.purchases), (dd) => (dd.textContent = num(p.purchases))],
    'p-ltv': [String(p.lifetime_value_cents), (dd) => (dd.textContent = money(p.lifetime_value_cents))],
    'p-tickets': [String(p.open_tickets), (dd) => (dd.textContent = num(p.open_tickets))],
    'p-at-risk': [
      String(!!p.at_risk),
      (dd) => {
        dd.textContent = p.at_risk ? 'yes' : 'no';
        dd.classList.toggle('risk-yes', !!p.at_risk);
        dd.closest('.field').classList.toggle('warn', !!p.at_risk);
      },
    ],
    'p-last': [p.last_event_time, (dd) => (dd.textContent = p.known ? ago(p.last_event_time) : '–')],
  };
}

function renderProfile(p) {
  const first = !S.shownKeys;
  const keys = S.shownKeys || {};
  for (const [id, [key, fill]] of Object.entries(profileFields(p))) {
    if (keys[id] === key) continue;
    const dd = $(id);
    fill(dd);
    if (!first) flash(dd.closest('.field'));
    keys[id] = key;
  }
  S.shownKeys = keys;
}

function clearProfile(id) {
  S.profile = null;
  S.shownKeys = null;
  for (const dd of document.querySelectorAll('#profile dd')) {
    dd.textContent = '–';
    dd.classList.remove('risk-yes');
    dd.closest('.field').classList.remove('warn');
  }
  $('p-id').textContent = id;
  $('p-worker').removeAttribute('data-index');
  $('p-latency').textContent = 'Click something in the shop';
  $('p-latency-log').textContent = '';
}

function onProfile(p) {
  const t = S.tracker;
  if (!p || !t || p.customer_id !== t.id) return;
  if (S.profile && p.version < S.profile.version) return; // an older state: keep the newer one
  const firstForCustomer = !S.profile;
  const done = t.seen(Number(p.version) || 0);
  S.profile = p;
  demo.profile = p;
  if (firstForCustomer) seedCart(p);
  renderProfile(p);
  showLatencies(done);
  renderRecs();
}

// The page's cart starts as the profile's cart (a known customer may have one already).
function seedCart(p) {
  if (S.cart.lines.size || !Array.isArray(p.cart_items) || !p.cart_items.length) return;
  for (const c of p.cart_items) {
    if (c.quantity > 0) S.cart.lines.set(c.product_id, { product_id: c.product_id, quantity: c.quantity, unit_price_cents: c.unit_price_cents });
  }
  renderCart();
}

function setStatus(state) {
  const s = $('p-status');
  const text = state === 'live' ? 'live' : state === 'wait' ? 'connecting…' : 'reconnecting…';
  if (s.textContent === text) return;
  s.textContent = text;
  s.className = `status status-${state}`;
}

function onWorker(w) {
  if (!w || typeof w.worker !== 'string') return;
  const dd = $('p-worker');
  const idx = Number(w.index);
  const changed = demo.worker !== null && demo.worker !== idx;
  demo.worker = idx;
  dd.textContent = w.worker;
  dd.setAttribute('data-index', String(idx));
  if (changed) {
    flash(dd.closest('.field'));
    toast(`Profile stream moved to ${w.worker}`);
  }
}

// ---------- triggers and engine feeds ----------

function triggerLabel(t) {
  const a = t.attributes || {};
  switch (t.type) {
    case 'AT_RISK':
      return 'At risk: negative support ticket';
    case 'HIGH_INTENT':
      return `High intent: ${a.category || 'a category'}`;
    case 'CART_ABANDONED':
      return 'Cart abandoned';
    default:
      return String(t.type || 'Trigger');
  }
}

function feedPush(ul, li) {
  const empty = ul.querySelector('.empty');
  if (empty) empty.remove();
  ul.prepend(li);
  while (ul.children.length > FEED_MAX) ul.lastChild.remove();
  flash(li);
}

function onTrigger(t) {
  if (!t || !S.tracker || t.customer_id !== S.tracker.id || S.triggers.has(t.trigger_id)) return;
  S.triggers.set(t.trigger_id, t);
  const score = Number(t.score);
  feedPush(
    $('triggers'),
    el(
      'li',
      { class: `trigger t-${String(t.type).toLowerCase()}`, 'data-type': t.type, 'data-trigger-id': t.trigger_id },
      el('div', { class: 'feed-top' }, el('strong', { text: triggerLabel(t) }), el('time', { text: clock(t.fired_at) })),
      el('div', { class: 'feed-sub', text: [t.reason, Number.isFinite(score) && score ? `score ${score.toFixed(2)}` : ''].filter(Boolean).join(' · ') }),
    ),
  );
}

function onDelivery(d) {
  if (!d || !S.tracker || d.customer_id !== S.tracker.id) return;
  const key = `${d.trigger_id}|${d.attempt}|${d.received_at}`;
  if (S.deliveries.has(key)) return;
  S.deliveries.add(key);
  const t = S.triggers.get(d.trigger_id);
  const after = t ? Date.parse(d.received_at) - Date.parse(t.fired_at) : NaN;
  const sub = [String(d.type || '').toLowerCase().replace(/_/g, ' '), d.attempt > 1 ? `attempt ${d.attempt}` : '', Number.isFinite(after) && after >= 0 ? `${num(after)} ms after firing` : '']
    .filter(Boolean)
    .join(' · ');
  feedPush(
    $('engine'),
    el(
      'li',
      { class: `delivery t-${String(d.type).toLowerCase()}`, 'data-type': d.type, 'data-trigger-id': d.trigger_id },
      el('div', { class: 'feed-top' }, el('strong', { text: d.action || 'webhook received' }), el('time', { text: clock(d.received_at) })),
      el('div', { class: 'feed-sub', text: sub }),
    ),
  );
}

// Everyone's triggers (the background customers fire several a second):
// buffered and drawn twice a second, the last LIVE_MAX, the person's own
// highlighted and never dropped from the buffer (a burst of others'
// triggers, as after a slow commit, must not hide them).
const LIVE_MAX = 8;
const live = { pending: [], timer: 0 };

const isMine = (t) => Boolean(S.tracker && t.customer_id === S.tracker.id);

function onAnyTrigger(t) {
  if (!t || !t.customer_id) return;
  live.pending.push(t);
  while (live.pending.length > LIVE_MAX) {
    const i = live.pending.findIndex((p) => !isMine(p));
    live.pending.splice(i < 0 ? 0 : i, 1);
  }
  if (!live.timer) live.timer = setTimeout(drawLive, 500);
}

function drawLive() {
  live.timer = 0;
  const ul = $('live-feed');
  const empty = ul.querySelector('.empty');
  if (empty) empty.remove();
  for (const t of live.pending) {
    const mine = isMine(t);
    demo.liveTriggers++;
    if (mine) demo.liveMine++;
    ul.prepend(
      el(
        'li',
        { class: `live-item t-${String(t.type).toLowerCase()}${mine ? ' mine' : ''}`, 'data-type': t.type },
        el('div', { class: 'feed-top' }, el('strong', { text: mine ? `You · ${triggerLabel(t)}` : `${t.customer_id} · ${triggerLabel(t)}` }), el('time', { text: clock(t.fired_at) })),
      ),
    );
  }
  live.pending = [];
  while (ul.children.length > LIVE_MAX) ul.lastChild.remove();
}

// The feed's stream outlives customer switches; the browser reconnects it.
function openLiveFeed() {
  const es = new EventSource('/api/triggers/stream');
  es.addEventListener('trigger', (e) => onAnyTrigger(parse(e.data)));
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      setTimeout(openLiveFeed, 1000);
    }
  };
}

function resetFeeds() {
  S.triggers.clear();
  S.deliveries.clear();
  $('triggers').replaceChildren(el('li', { class: 'empty', text: 'None yet for this profile' }));
  $('engine').replaceChildren(el('li', { class: 'empty', text: 'Nothing received yet' }));
}

// ---------- streams ----------

function parse(data) {
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

function closeStreams() {
  for (const s of S.streams) s.close();
  S.streams = [];
  for (const t of S.reopenTimers) clearTimeout(t);
  S.reopenTimers = [];
}

// One EventSource; the browser reconnects by itself (retry 500 ms, Last-Event-ID). If it
// gives up (an answer that is not a 200 event stream), a new one is opened a little later.
function stream(url, handlers, gen, status) {
  const es = new EventSource(url);
  S.streams.push(es);
  for (const [type, fn] of Object.entries(handlers)) {
    es.addEventListener(type, (e) => {
      if (gen !== S.gen) return;
      const v = parse(e.data);
      if (v) fn(v);
      if (status && es.readyState === EventSource.OPEN) setStatus('live');
    });
  }
  es.onopen = () => {
    if (gen === S.gen && status) setStatus('live');
  };
  es.onerror = () => {
    if (gen !== S.gen) return;
    if (status) setStatus('reconnecting');
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      S.streams = S.streams.filter((x) => x !== es);
      S.reopenTimers.push(setTimeout(() => gen === S.gen && stream(url, handlers, gen, status), 1000));
    }
  };
  return es;
}

function openStreams(id) {
  closeStreams();
  const gen = S.gen;
  const enc = encodeURIComponent(id);
  setStatus('wait');
  stream(`/api/profiles/${enc}/stream`, { worker: onWorker, profile: onProfile }, gen, true);
  stream(`/api/triggers/stream?customer=${enc}`, { trigger: onTrigger }, gen, false);
  stream(`/api/engine/stream?customer=${enc}`, { delivery: onDelivery }, gen, false);
}

// ---------- who is browsing ----------

function switchProfile(id, signedIn) {
  S.gen++;
  S.signedIn = signedIn;
  S.tracker = new Tracker(id);
  demo.customer = id;
  demo.profile = null;
  demo.worker = null;
  clearProfile(id);
  resetFeeds();
  S.cart = newCart();
  S.tickets = [];
  $('cart-note').textContent = '';
  renderCart();
  renderTickets();
  const who = $('customer');
  who.textContent = signedIn ? id : `anonymous ${id.slice(0, 8)}`;
  who.title = signedIn ? `signed in as ${id}` : `anonymous id ${id}`;
  who.classList.toggle('signed-in', signedIn);
  const pick = $('customer-pick');
  pick.value = signedIn && Array.from(pick.options).some((o) => o.value === id) ? id : '';
  $('sign-out').textContent = signedIn ? 'Sign out' : 'New visitor';
  openStreams(id);
  renderRecs();
}

function signIn(id) {
  id = String(id || '').trim();
  if (!id) {
    $('customer-id').focus();
    return;
  }
  if (S.signedIn && S.tracker && S.tracker.id === id) return;
  Weir.identify(id);
  switchProfile(id, true);
  toast(`Signed in as ${id}`);
}

function signOut() {
  Weir.reset();
  const c = Weir.getClient();
  switchProfile(c ? c.anonymousId : '', false);
  toast('You are a new anonymous visitor');
}

// ---------- start ----------

function indexProducts(list) {
  S.products = Array.isArray(list) ? list.filter((p) => p && p.product_id) : [];
  S.byId = new Map(S.products.map((p) => [p.product_id, p]));
  const counts = new Map();
  for (const p of S.products) counts.set(p.category, (counts.get(p.category) || 0) + 1);
  S.categories = Array.from(counts, ([name, count]) => ({ name, count })).sort((a, b) => (a.name < b.name ? -1 : 1));
  if (S.products[0] && S.products[0].currency) S.currency = S.products[0].currency;
}

async function start() {
  S.cart = newCart();
  const [config, products] = await Promise.all([loadWithRetry('/api/config'), loadWithRetry('/api/products')]);
  showBanner('');
  S.config = config || {};
  indexProducts(products);

  const pick = $('customer-pick');
  for (const c of S.config.customers || []) pick.append(el('option', { value: c, text: c }));

  S.route = parseRoute();
  setPageAttrs(S.route);
  // Registered before the SDK's own popstate listener: the page attributes are set
  // before it reads them for the page_view.
  window.addEventListener('popstate', () => {
    S.route = parseRoute();
    setPageAttrs(S.route);
    render();
  });

  $('sign-in-form').addEventListener('submit', (e) => {
    e.preventDefault();
    signIn($('customer-id').value);
    $('customer-id').value = '';
  });
  pick.addEventListener('change', () => pick.value && signIn(pick.value));
  $('sign-out').addEventListener('click', signOut);
  $('home-link').addEventListener('click', (e) => {
    e.preventDefault();
    navigate({ view: 'grid', category: '', product: '' });
  });
  $('back').addEventListener('click', () => navigate({ view: 'grid', category: S.route.category || '', product: '' }));
  $('show-more').addEventListener('click', () => {
    S.shown = Infinity;
    renderGrid();
  });
  $('add-to-cart').addEventListener('click', addToCart);
  $('remove-from-cart').addEventListener('click', removeFromCart);
  $('checkout').addEventListener('click', checkout);
  $('ticket-form').addEventListener('submit', openTicket);

  // Every visit starts anonymous (the SDK would remember a customer across reloads).
  try {
    localStorage.removeItem('weir_customer_id');
  } catch {
    /* no storage: nothing remembered */
  }
  // The first page_view is enqueued inside init(); it is counted once the profile id is known.
  const early = [];
  let ready = false;
  const client = Weir.init({
    endpoint: S.config.collector || location.origin,
    writeKey: S.config.write_key,
    flushIntervalMs: 50,
    onEvent: (e) => (ready ? onSdkEvent(e) : early.push(e)),
  });
  ready = true;
  switchProfile(client.anonymousId, false);
  early.forEach(onSdkEvent);
  openLiveFeed();

  render();
  renderCart();
  // Relative times and the recommendations' staleness move with the clock.
  setInterval(() => {
    if (S.profile) $('p-last').textContent = S.profile.known ? ago(S.profile.last_event_time) : '–';
    renderRecs();
  }, 1000);
}

start().catch((err) => showBanner(`The shop could not start: ${err && err.message ? err.message : err}`));
