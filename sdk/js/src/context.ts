import type { DocumentLike, EventContext, NavigatorLike, WindowLike } from './types';

type Device = NonNullable<EventContext['device_type']>;

/** Device class from the user agent first (it knows tablets), the viewport width second. */
export function deviceType(ua: string, width?: number): Device {
  if (/iPad|Tablet|PlayBook|Silk|Kindle/i.test(ua) || (/Android/i.test(ua) && !/Mobi/i.test(ua))) return 'TABLET';
  if (/Mobi|iPhone|iPod|Android|Windows Phone|BlackBerry/i.test(ua)) return 'MOBILE';
  if (/Windows|Macintosh|X11|Linux|CrOS/i.test(ua)) return 'DESKTOP';
  if (typeof width === 'number' && width > 0) return width < 768 ? 'MOBILE' : width < 1024 ? 'TABLET' : 'DESKTOP';
  return 'OTHER';
}

/** Operating system name; order matters (Android and ChromeOS also say Linux). */
export function osName(ua: string): string {
  if (/Windows/i.test(ua)) return 'Windows';
  if (/iPhone|iPad|iPod/i.test(ua)) return 'iOS';
  if (/Android/i.test(ua)) return 'Android';
  if (/CrOS/i.test(ua)) return 'ChromeOS';
  if (/Mac OS X|Macintosh/i.test(ua)) return 'macOS';
  if (/Linux|X11/i.test(ua)) return 'Linux';
  return 'Other';
}

function timezone(): string | undefined {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}

/** Context for an event happening now (read each time: URL and viewport change in SPAs). */
export function collectContext(
  win: WindowLike | null | undefined,
  doc: DocumentLike | null | undefined,
  nav: NavigatorLike | null | undefined,
): EventContext {
  const ua = (nav && nav.userAgent) || '';
  const w = win && win.innerWidth;
  const h = win && win.innerHeight;
  const ctx: EventContext = {
    locale: (nav && nav.language) || undefined,
    viewport: w && h ? `${w}x${h}` : undefined,
    timezone: timezone(),
    device_type: deviceType(ua, w || undefined),
    os: osName(ua),
    user_agent: ua || undefined,
    page_url: (win && win.location && win.location.href) || undefined,
    referrer: (doc && doc.referrer) || undefined,
  };
  // Drop unknowns so the JSON carries only what was observed.
  for (const k of Object.keys(ctx) as (keyof EventContext)[]) if (ctx[k] === undefined) delete ctx[k];
  return ctx;
}
