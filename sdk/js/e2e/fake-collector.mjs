// A stand-in for the Go collector, for checking the SDK and journey.mjs by hand:
//   node e2e/fake-collector.mjs            (prints the page URL; Ctrl-C to stop)
// Serves the contract's POST /v1/events (JSON or text/plain bodies, key in header/body/query,
// CORS preflight, dedupe by id -> 200 {accepted, rejected, duplicates}) on one port and
// shop.html + dist/weir.js on another (a different origin, so CORS is exercised).
// GET /debug/events lists what arrived: [{id, type, via, copies, customer_id, ...}]; each repeated
// id is also reported on stderr (a resend the real collector would dedupe).
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const KEY = process.env.WEIR_KEY || 'wk_test';
const seen = new Map(); // id -> record
let requests = 0;

function cors(req, res) {
  const origin = req.headers.origin;
  if (origin) {
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Vary', 'Origin');
  }
}

const collector = createServer((req, res) => {
  cors(req, res);
  const url = new URL(req.url, 'http://x');
  if (req.method === 'OPTIONS') {
    res.setHeader('Access-Control-Allow-Methods', 'POST');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Weir-Write-Key');
    res.setHeader('Access-Control-Max-Age', '600');
    res.writeHead(204).end();
    return;
  }
  if (req.method === 'GET' && url.pathname === '/debug/events') {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify([...seen.values()]));
    return;
  }
  if (req.method !== 'POST' || url.pathname !== '/v1/events') {
    res.writeHead(404).end();
    return;
  }
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    requests++;
    let body;
    try {
      body = JSON.parse(raw);
    } catch {
      res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"error":"malformed JSON"}');
      return;
    }
    const key = req.headers['x-weir-write-key'] || body.write_key || url.searchParams.get('write_key');
    if (key !== KEY) {
      res.writeHead(401).end();
      return;
    }
    const via = String(req.headers['content-type'] || '').startsWith('text/plain') ? 'text/plain' : 'json';
    const accepted = [];
    const duplicates = [];
    for (const e of body.events || []) {
      accepted.push(e.id);
      if (seen.has(e.id)) {
        duplicates.push(e.id);
        const r = seen.get(e.id);
        r.copies++;
        process.stderr.write(`duplicate ${e.id} (${e.type}) via ${via}: received ${r.copies} times\n`);
        continue;
      }
      seen.set(e.id, { id: e.id, type: e.type, via, copies: 1, customer_id: e.customer_id, anonymous_id: e.anonymous_id, session_id: e.session_id, time: e.time, context: e.context, fields: e.fields });
    }
    console.log(`POST #${requests} ${via} keepalive? ${req.headers['sec-fetch-mode'] || ''} events=${accepted.length} dup=${duplicates.length} types=${(body.events || []).map((e) => e.type).join(',')}`);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ accepted, rejected: [], duplicates }));
  });
});

const pages = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const files = { '/shop.html': [join(here, 'shop.html'), 'text/html'], '/weir.js': [join(here, '..', 'dist', 'weir.js'), 'text/javascript'] };
  const f = files[path];
  if (!f) return res.writeHead(404).end();
  res.writeHead(200, { 'Content-Type': f[1] + '; charset=utf-8' }).end(readFileSync(f[0]));
});

collector.listen(Number(process.env.COLLECTOR_PORT || 0), '127.0.0.1', () => {
  pages.listen(Number(process.env.PAGE_PORT || 0), '127.0.0.1', () => {
    const c = `http://127.0.0.1:${collector.address().port}`;
    const p = `http://127.0.0.1:${pages.address().port}`;
    console.log(`collector ${c}\npage ${p}/shop.html?endpoint=${encodeURIComponent(c)}&key=${KEY}`);
  });
});
