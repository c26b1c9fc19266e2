// Weir operator view: polls /api/operator every second and draws the pipeline's health
// (throughput, lag, latency, transactions, dead letters) with Chart.js, plus the workers
// with a stop button each, to watch a failover happen. window.__operator = last answer.
import { Chart, LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Legend, Tooltip } from 'chart.js';

// Only what line charts on linear axes need: the rest of Chart.js is left out of the bundle.
Chart.register(LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Legend, Tooltip);

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const WINDOW_SAMPLES = 300;

const TOTAL = '#111827';
const WORKER_COLORS = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#db2777', '#0891b2', '#65a30d', '#dc2626'];
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

const intFormat = new Intl.NumberFormat();
const oneDecimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const num = (v) => (v == null || !Number.isFinite(Number(v)) ? '–' : intFormat.format(Math.round(Number(v))));
const rate = (v) => (v == null || !Number.isFinite(Number(v)) ? '–' : Number(v) < 10 ? oneDecimal.format(Number(v)) : intFormat.format(Math.round(Number(v))));
const last = (a) => (Array.isArray(a) && a.length ? a[a.length - 1] : null);

Chart.defaults.font.family = FONT;
Chart.defaults.font.size = 11;
Chart.defaults.color = '#6b7280';

function makeChart(id, yTitle, opts = {}) {
  return new Chart($(id), {
    type: 'line',
    data: { datasets: [] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      spanGaps: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      elements: { point: { radius: 0, hoverRadius: 3 }, line: { borderWidth: 1.5, tension: 0.2 } },
      scales: {
        x: {
          type: 'linear',
          min: -60,
          max: 0,
          title: { display: true, text: 'seconds ago' },
          ticks: { maxTicksLimit: 7, callback: (v) => (v === 0 ? 'now' : String(-v)) },
          grid: { color: '#f1f5f9' },
        },
        y: opts.log
          ? {
              // Late events (event time far back) put seconds beside milliseconds.
              type: 'logarithmic',
              title: { display: !!yTitle, text: yTitle },
              ticks: { callback: (v) => ([1, 10, 100, 1000, 10000, 100000].includes(v) ? intFormat.format(v) : '') },
              grid: { color: '#f1f5f9' },
            }
          : {
              type: 'linear',
              beginAtZero: true,
              suggestedMax: opts.suggestedMax,
              title: { display: !!yTitle, text: yTitle },
              ticks: { precision: 0 },
              grid: { color: '#f1f5f9' },
            },
      },
      plugins: {
        legend: { position: 'top', align: 'end', labels: { boxWidth: 10, boxHeight: 10, usePointStyle: false } },
        tooltip: {
          callbacks: {
            title: (items) => (items.length ? (items[0].parsed.x === 0 ? 'now' : `${Math.round(-items[0].parsed.x)} s ago`) : ''),
            label: (item) => `${item.dataset.label}: ${item.parsed.y == null ? '–' : rate(item.parsed.y)}`,
          },
        },
      },
    },
  });
}

const charts = {
  throughput: makeChart('chart-throughput', 'events / s'),
  lag: makeChart('chart-lag', 'records'),
  latency: makeChart('chart-latency', 'ms (log scale)', { log: true }),
  commits: makeChart('chart-commits', 'per second', { suggestedMax: 1 }),
  dlq: makeChart('chart-dlq', 'records', { suggestedMax: 1 }),
};

// series: [{key, label, color, values, width?, dash?}] -> the chart's datasets, updated in place.
function setSeries(chart, xs, series) {
  const old = new Map(chart.data.datasets.map((d) => [d.key, d]));
  chart.data.datasets = series.map((s) => {
    const d = old.get(s.key) || { key: s.key, fill: false, pointRadius: 0 };
    d.label = s.label;
    d.borderColor = s.color;
    d.backgroundColor = s.color;
    d.borderWidth = s.width || 1.5;
    d.borderDash = s.dash || [];
    const vs = Array.isArray(s.values) ? s.values : [];
    const n = Math.min(xs.length, vs.length);
    const data = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = vs[i];
      data[i] = { x: xs[i], y: v == null || !Number.isFinite(Number(v)) ? null : Number(v) };
    }
    d.data = data;
    return d;
  });
  chart.update('none');
}

function drawCharts(op) {
  const times = Array.isArray(op.times) ? op.times : [];
  const end = times.length ? times[times.length - 1] : 0;
  const xs = times.map((t) => (t - end) / 1000);
  // The window grows with the data, by 30 s steps from 1 to 5 minutes.
  const full = (WINDOW_SAMPLES * (Number(op.interval_ms) || 1000)) / 1000;
  const have = xs.length ? -xs[0] : 0;
  const span = Math.min(full, Math.max(60, Math.ceil(have / 30) * 30));
  for (const c of Object.values(charts)) c.options.scales.x.min = -span;
  const workers = Array.isArray(op.workers) ? op.workers : [];
  const perWorker = (field) =>
    workers.map((w, i) => ({
      key: `w${w.index}`,
      label: w.running ? w.name : `${w.name} (stopped)`,
      color: WORKER_COLORS[(Number(w.index) || i) % WORKER_COLORS.length],
      values: w[field],
      dash: w.running ? null : [4, 3],
    }));
  setSeries(charts.throughput, xs, [{ key: 'total', label: 'all workers', color: TOTAL, values: op.events_per_sec, width: 2.5 }, ...perWorker('events_per_sec')]);
  setSeries(charts.lag, xs, [{ key: 'total', label: 'all workers', color: TOTAL, values: op.lag, width: 2.5 }, ...perWorker('lag')]);
  setSeries(charts.latency, xs, [
    { key: 'p50', label: 'p50', color: '#2563eb', values: op.p50_ms, width: 2 },
    { key: 'p99', label: 'p99', color: '#f97316', values: op.p99_ms, width: 2 },
  ]);
  setSeries(charts.commits, xs, [
    { key: 'commits', label: 'commits', color: '#16a34a', values: op.commits, width: 2 },
    { key: 'aborts', label: 'aborts', color: '#dc2626', values: op.aborts, width: 2 },
  ]);
  setSeries(charts.dlq, xs, [{ key: 'dlq', label: 'dead letters', color: '#9333ea', values: op.dead_letters, width: 2 }]);
}

// ---------- totals ----------

function setText(id, text) {
  const e = $(id);
  if (e.textContent === text) return;
  e.textContent = text;
}

function drawTotals(op) {
  const t = op.totals || {};
  setText('total-eps', rate(last(op.events_per_sec)));
  setText('total-events', num(t.events));
  setText('total-commits', num(t.commits));
  setText('total-aborts', num(t.aborts));
  setText('total-dlq', num(t.dead_letters));
  setText('total-profiles', num(t.profiles));
  setText('total-triggers', num(t.triggers));
  setText('total-webhooks', num(t.webhooks));
  $('total-dlq').parentElement.classList.toggle('warn', Number(t.dead_letters) > 0);
}

// ---------- workers (rows are updated in place: a click never lands on a replaced button) ----------

const rows = new Map(); // index -> {tr, cells}
const stopping = new Set();

function cell(tr, cls) {
  const td = document.createElement('td');
  if (cls) td.className = cls;
  tr.append(td);
  return td;
}

function workerRow(w) {
  let r = rows.get(w.index);
  if (r) return r;
  const tr = document.createElement('tr');
  tr.className = 'worker';
  tr.setAttribute('data-index', String(w.index));
  r = {
    tr,
    name: cell(tr, 'w-name'),
    state: cell(tr),
    active: cell(tr, 'r num'),
    standby: cell(tr, 'r num'),
    tasks: cell(tr, 'w-tasks'),
    eps: cell(tr, 'r num'),
    lag: cell(tr, 'r num'),
    action: cell(tr, 'r'),
    tasksKey: null,
  };
  rows.set(w.index, r);
  const body = $('workers');
  const after = Array.from(body.children).find((x) => Number(x.getAttribute('data-index')) > w.index);
  body.insertBefore(tr, after || null);
  return r;
}

function drawWorkers(op) {
  const workers = Array.isArray(op.workers) ? op.workers : [];
  const running = workers.filter((w) => w.running).length;
  const seen = new Set();
  for (const w of workers) {
    seen.add(w.index);
    const r = workerRow(w);
    r.tr.classList.toggle('stopped', !w.running);
    const color = WORKER_COLORS[(Number(w.index) || 0) % WORKER_COLORS.length];
    r.name.innerHTML = '';
    r.name.append(Object.assign(document.createElement('span'), { className: 'swatch', style: `background:${color}` }), w.name);
    if (w.addr) r.name.append(Object.assign(document.createElement('div'), { className: 'muted small mono', textContent: w.addr }));
    const state = w.running ? 'running' : 'stopped';
    if (r.state.textContent !== state) {
      r.state.innerHTML = '';
      r.state.append(Object.assign(document.createElement('span'), { className: `pill pill-${state}`, textContent: state }));
    }
    setCell(r.active, num(w.active_tasks));
    setCell(r.standby, num(w.standby_tasks));
    const tasks = Array.isArray(w.tasks) ? w.tasks : [];
    const tk = tasks.join(',');
    if (r.tasksKey !== tk) {
      r.tasksKey = tk;
      r.tasks.innerHTML = '';
      if (!tasks.length) r.tasks.append(Object.assign(document.createElement('span'), { className: 'muted', textContent: 'none' }));
      for (const t of tasks) r.tasks.append(Object.assign(document.createElement('span'), { className: 'task', textContent: t }));
    }
    setCell(r.eps, rate(last(w.events_per_sec)));
    setCell(r.lag, num(last(w.lag)));

    let btn = r.action.querySelector('button.stop');
    if (w.running && !btn) {
      btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'btn btn-small btn-danger stop';
      btn.textContent = 'Stop';
      btn.addEventListener('click', () => stopWorker(w.index, w.name, btn));
      r.action.append(btn);
    } else if (!w.running && btn) btn.remove();
    if (!w.running) stopping.delete(w.index);
    if (btn && w.running) {
      const last1 = running <= 1;
      btn.disabled = last1 || stopping.has(w.index);
      btn.title = last1 ? 'the last running worker cannot be stopped' : `stop ${w.name}: its tasks move to the other workers`;
    }
  }
  for (const [i, r] of rows) {
    if (!seen.has(i)) {
      r.tr.remove();
      rows.delete(i);
    }
  }
}

function setCell(td, text) {
  if (td.textContent !== text) td.textContent = text;
}

async function stopWorker(index, name, btn) {
  if (stopping.has(index)) return;
  stopping.add(index);
  btn.disabled = true;
  btn.textContent = 'Stopping…';
  const note = $('workers-note');
  try {
    const res = await fetch(`/api/workers/${encodeURIComponent(index)}/stop`, { method: 'POST' });
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (res.ok) {
      // The button stays "Stopping…" until a poll shows the worker stopped.
      note.textContent = `Stopped ${(body && body.stopped) || name}: its tasks move to the other workers.`;
      poll(true);
      return;
    }
    note.textContent = `Could not stop ${name}: ${(body && body.error) || `HTTP ${res.status}`}`;
  } catch {
    note.textContent = `Could not stop ${name}: the demo server did not answer.`;
  }
  stopping.delete(index);
  btn.textContent = 'Stop';
  btn.disabled = false;
  poll(true);
}

// ---------- polling ----------

let timer = null;
let inFlight = false;

function setStatus(ok) {
  const s = $('op-status');
  const text = ok ? 'live' : 'reconnecting…';
  if (s.textContent === text) return;
  s.textContent = text;
  s.className = `status ${ok ? 'status-live' : 'status-reconnecting'}`;
}

async function poll(now) {
  if (inFlight) return;
  clearTimeout(timer);
  inFlight = true;
  try {
    const res = await fetch('/api/operator', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const op = await res.json();
    window.__operator = op;
    drawTotals(op);
    drawWorkers(op);
    drawCharts(op);
    setStatus(true);
  } catch {
    setStatus(false);
  } finally {
    inFlight = false;
    timer = setTimeout(poll, now === true ? POLL_MS / 2 : POLL_MS);
  }
}

poll();
