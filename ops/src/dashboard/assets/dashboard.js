// ringwire dashboard: polls stats.json every second and writes each number into the element
// with its id, the raw value in data-value (for tests and scrapers) and a readable text.
'use strict';

const POLL_MS = 1000;
const HISTORY = 60;
const QUANTILES = ['p50', 'p90', 'p99', 'p999'];

let token = null;
let previous = null;
let updates = 0;
const history = new Map();

function byId(id) {
  return document.getElementById(id);
}

function set(id, value, text) {
  const el = byId(id);
  if (!el) return;
  el.dataset.value = value === null || value === undefined ? '' : String(value);
  el.textContent = text !== undefined ? text : value === null || value === undefined ? '–' : String(value);
}

function count(n) {
  return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US');
}

function micros(us) {
  if (us === null || us === undefined) return '–';
  if (us < 1000) return us.toFixed(0) + ' µs';
  if (us < 1e6) return (us / 1000).toFixed(us < 1e4 ? 2 : 1) + ' ms';
  return (us / 1e6).toFixed(2) + ' s';
}

function duration(seconds) {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm ' + (s % 60) + 's';
}

// Per-second rate of a counter between two documents (server time), null on the first poll
// or after a counter went back (a restarted server).
function rate(now, before, dt) {
  if (before === undefined || before === null || !(dt > 0) || now < before) return null;
  return (now - before) / dt;
}

function setRate(id, r) {
  set(id, r === null ? null : r.toFixed(1), r === null ? '–' : r.toFixed(r < 10 ? 1 : 0));
}

function remember(key, value) {
  let h = history.get(key);
  if (!h) history.set(key, h = []);
  h.push(value === null ? 0 : value);
  if (h.length > HISTORY) h.shift();
  return h;
}

function sparkline(id, points) {
  const canvas = byId(id);
  if (!canvas || !canvas.getContext) return;
  const ctx = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  if (points.length < 2) return;
  const max = Math.max(1, ...points);
  ctx.strokeStyle = '#1f6feb';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  points.forEach((p, i) => {
    const x = (w - 2) * i / (HISTORY - 1) + 1;
    const y = h - 2 - (h - 4) * p / max;
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

const COLUMNS = ['backend', 'rps', 'spark', 'requests', ...QUANTILES, 'connections',
  'streams-open', 'streams-opened', 'pubsub-delivered', 'subscriptions', 'busy'];

function row(core) {
  const id = 'core-' + core;
  let tr = byId(id);
  if (tr) return;
  tr = document.createElement('tr');
  tr.id = id;
  const head = document.createElement('td');
  head.textContent = core;
  tr.appendChild(head);
  for (const col of COLUMNS) {
    const td = document.createElement('td');
    if (col === 'spark') {
      const canvas = document.createElement('canvas');
      canvas.id = id + '-spark';
      canvas.width = 120;
      canvas.height = 22;
      td.appendChild(canvas);
    } else {
      td.id = id + '-' + col;
      td.dataset.value = '';
      td.textContent = '–';
    }
    tr.appendChild(td);
  }
  byId('cores').tBodies[0].appendChild(tr);
}

function render(s) {
  const before = previous;
  const dt = before ? s.time - before.time : 0;
  const prevCore = (i) => before && before.cores.find((c) => c.core === i);

  set('version', s.version);
  set('drain-state', s.drain_state);
  set('uptime', s.uptime_seconds.toFixed(0), duration(s.uptime_seconds));
  set('workers', s.workers);

  const t = s.totals;
  const totalRps = rate(t.requests, before && before.totals.requests, dt);
  setRate('total-rps', totalRps);
  sparkline('total-spark', remember('total', totalRps));
  set('total-requests', t.requests, count(t.requests));
  for (const q of QUANTILES) set('total-' + q, t.latency_us[q], micros(t.latency_us[q]));
  set('total-connections', t.connections.active, count(t.connections.active));
  set('total-streams-open', t.stream.streams_open, count(t.stream.streams_open));
  set('total-streams-opened', t.stream.streams_opened, count(t.stream.streams_opened));
  setRate('total-streams-rate', rate(t.stream.streams_opened, before && before.totals.stream.streams_opened, dt));
  set('total-stream-connections', t.stream.connections, count(t.stream.connections));
  set('total-pubsub-delivered', t.pubsub.delivered, count(t.pubsub.delivered));
  setRate('total-pubsub-rate', rate(t.pubsub.delivered, before && before.totals.pubsub.delivered, dt));
  set('total-subscriptions', t.pubsub.subscriptions, count(t.pubsub.subscriptions));

  const db = s.db;
  set('db-source', db ? db.source : null, db ? db.source : 'no store metrics');
  set('db-count', db ? db.count : null,
    db ? count(db.count) + (db.source.includes('commit') ? ' commits' : ' statements') : '–');
  for (const q of QUANTILES) {
    const v = db ? db[q + '_us'] : null;
    set('db-' + q, v, micros(v));
  }

  for (const c of s.cores) {
    row(c.core);
    const id = 'core-' + c.core;
    const p = prevCore(c.core);
    const r = rate(c.requests, p && p.requests, dt);
    set(id + '-backend', c.backend, c.backend + (c.pinned ? '' : ' (unpinned)'));
    setRate(id + '-rps', r);
    sparkline(id + '-spark', remember(id, r));
    set(id + '-requests', c.requests, count(c.requests));
    for (const q of QUANTILES) set(id + '-' + q, c.latency_us[q], micros(c.latency_us[q]));
    set(id + '-connections', c.connections.active, count(c.connections.active));
    set(id + '-streams-open', c.stream.streams_open, count(c.stream.streams_open));
    set(id + '-streams-opened', c.stream.streams_opened, count(c.stream.streams_opened));
    set(id + '-pubsub-delivered', c.pubsub.delivered, count(c.pubsub.delivered));
    set(id + '-subscriptions', c.pubsub.subscriptions, count(c.pubsub.subscriptions));
    set(id + '-busy', c.loop.busy_ratio.toFixed(3), (c.loop.busy_ratio * 100).toFixed(1) + ' %');
  }
  previous = s;
  updates += 1;
  set('updates', updates);
}

function status(state, text) {
  const el = byId('status');
  el.dataset.state = state;
  el.textContent = text;
  byId('auth').hidden = state !== 'auth';
}

async function poll() {
  const headers = token ? { Authorization: 'Bearer ' + token } : {};
  let res;
  try {
    res = await fetch('stats.json', { headers, cache: 'no-store' });
  } catch (e) {
    status('error', 'cannot reach the server (' + e.message + '); retrying every second');
    return;
  }
  if (res.status === 401 || res.status === 403) {
    status('auth', 'stats.json answered ' + res.status + ': this server has auth.public_metrics = false, ' +
      'so the dashboard needs a token with the admin scope (or open it from a loopback client ' +
      'when no keys are configured).');
    return;
  }
  if (!res.ok) {
    status('error', 'stats.json answered ' + res.status + '; retrying every second');
    return;
  }
  let s;
  try {
    s = await res.json();
  } catch (e) {
    status('error', 'stats.json is not JSON (' + e.message + ')');
    return;
  }
  render(s);
  status('ok', 'live: updated ' + new Date(s.time * 1000).toLocaleTimeString() +
    (s.draining ? ' (draining)' : ''));
}

function loop() {
  poll().finally(() => setTimeout(loop, POLL_MS));
}

document.addEventListener('DOMContentLoaded', () => {
  byId('auth').addEventListener('submit', (e) => {
    e.preventDefault();
    token = byId('token').value.trim() || null;
    poll();
  });
  loop();
});
