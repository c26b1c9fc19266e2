import type { DocumentLike, ElementLike, Fields, WindowLike } from './types';

const PAGE_TYPES = ['HOME', 'CATEGORY', 'PRODUCT', 'SEARCH', 'CART', 'CHECKOUT', 'OTHER'];

function attr(el: ElementLike | null | undefined, name: string): string | undefined {
  const v = el && typeof el.getAttribute === 'function' ? el.getAttribute(name) : null;
  return v == null || v === '' ? undefined : v;
}

/**
 * page_view fields read from the page: page type from <body data-weir-page-type> or
 * <meta name="weir:page_type">; product/category from the body when present. An
 * unknown page type becomes OTHER so the collector does not reject the event.
 */
export function pageFields(win: WindowLike | null | undefined, doc: DocumentLike | null | undefined): Fields {
  const body = doc && doc.body;
  let meta: ElementLike | null = null;
  try {
    meta = doc && doc.querySelector ? doc.querySelector('meta[name="weir:page_type"]') : null;
  } catch {
    meta = null;
  }
  const raw = (attr(body, 'data-weir-page-type') || attr(meta, 'content') || 'OTHER').toUpperCase();
  const f: Fields = {
    url: (win && win.location && win.location.href) || '',
    page_type: PAGE_TYPES.indexOf(raw) >= 0 ? raw : 'OTHER',
  };
  const product = attr(body, 'data-weir-product-id');
  const category = attr(body, 'data-weir-category');
  const referrer = doc && doc.referrer;
  if (product) f.product_id = product;
  if (category) f.category = category;
  if (referrer) f.referrer = referrer;
  return f;
}

/**
 * SPA navigation: wraps history.pushState and listens to popstate. Calls
 * onNavigate(previousUrl) when the URL actually changed. Returns an uninstaller.
 */
export function watchNavigation(win: WindowLike, onNavigate: (previousUrl: string) => void): () => void {
  let last = win.location.href;
  const check = () => {
    const now = win.location.href;
    if (now === last) return;
    const prev = last;
    last = now;
    onNavigate(prev);
  };
  const hist = win.history;
  const orig = hist && hist.pushState;
  let wrapper: ((...args: any[]) => void) | undefined;
  if (hist && orig) {
    wrapper = function (this: unknown, ...args: any[]) {
      const r = orig.apply(this, args);
      check();
      return r;
    };
    hist.pushState = wrapper;
  }
  win.addEventListener('popstate', check);
  return () => {
    win.removeEventListener('popstate', check);
    // Restore only if nobody wrapped it after us.
    if (hist && orig && hist.pushState === wrapper) hist.pushState = orig;
  };
}

function closestTracked(start: unknown): ElementLike | null {
  let el = start as ElementLike | null | undefined;
  for (let depth = 0; el && depth < 50; depth++) {
    if (typeof el.getAttribute === 'function' && el.getAttribute('data-weir-event')) return el;
    el = (el.parentElement || (el.parentNode as ElementLike | null | undefined)) ?? null;
  }
  return null;
}

/**
 * Document-level click tracking: the clicked element or its closest ancestor with
 * data-weir-event="type" sends track(type, JSON of data-weir-fields). Capture phase,
 * so a stopPropagation in the app does not hide the click. Returns an uninstaller.
 */
export function watchClicks(
  doc: DocumentLike,
  track: (type: string, fields: Fields) => void,
  warn: (msg: string, ...rest: unknown[]) => void,
): () => void {
  const onClick = (ev: { target?: unknown }) => {
    const el = closestTracked(ev && ev.target);
    if (!el) return;
    const type = el.getAttribute('data-weir-event') as string;
    const raw = el.getAttribute('data-weir-fields');
    let fields: Fields = {};
    if (raw != null && raw.trim() !== '') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch (err) {
        warn(`data-weir-fields of a "${type}" element is not valid JSON; event not sent`, err);
        return;
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
        warn(`data-weir-fields of a "${type}" element is not a JSON object; event not sent`);
        return;
      }
      fields = parsed as Fields;
    }
    track(type, fields);
  };
  doc.addEventListener('click', onClick, true);
  return () => doc.removeEventListener('click', onClick, true);
}
