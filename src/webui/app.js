// cflink dashboard: a small, dependency-free web UI for the JobManager's
// REST API (Flink-compatible endpoints). It is served by the REST server
// itself, so every request is relative to the page (<base href="./">) and
// the UI works behind any path prefix. Routing is hash based (#/...), the
// server never sees UI routes. The current view refreshes itself every
// `refresh-interval` ms from GET /config; a failed refresh keeps the last
// data on screen and reports the error as a notification.

import { renderGraph } from './graph.js';

const view = document.getElementById('view');
const toasts = document.getElementById('toasts');
const TERMINAL = new Set(['FINISHED', 'FAILED', 'CANCELED']);

export const state = { config: { 'refresh-interval': 3000, features: {} } };

// ---------------------------------------------------------------- DOM

/** h('div', {class: 'x', 'data-testid': 't', onclick: f}, children...) */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, kids);
  return el;
}

export function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** Replace the children of el (arrays flattened, null/false skipped). */
export function put(el, ...kids) {
  el.replaceChildren();
  append(el, kids);
}

function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
}

// ---------------------------------------------------------------- format

const pad = (n, w = 2) => String(n).padStart(w, '0');

export function fmtTime(ms) {
  if (ms === undefined || ms === null || ms < 0) return '-';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(ms) {
  if (ms === undefined || ms === null || ms < 0 || !isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400); s %= 86400;
  const hh = Math.floor(s / 3600); s %= 3600;
  const mm = Math.floor(s / 60); s %= 60;
  const parts = [];
  if (d) parts.push(`${d}d`);
  if (hh || d) parts.push(`${hh}h`);
  if (mm || hh || d) parts.push(`${mm}m`);
  parts.push(`${s}s`);
  return parts.join(' ');
}

export function fmtBytes(b) {
  if (b === undefined || b === null || b < 0 || !isFinite(b)) return '-';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return `${i ? b.toFixed(b < 10 ? 2 : 1) : b} ${u[i]}`;
}

export function fmtNum(n) {
  if (n === undefined || n === null || n === '' || isNaN(n)) return '-';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: 2 });
}

export function badge(st) {
  const s = String(st || 'UNKNOWN').toUpperCase();
  return h('span', { class: `badge st-${s}`, 'data-testid': 'state' }, s);
}

// ---------------------------------------------------------------- notifications

export function toast(msg, kind = 'error', detail = '') {
  for (const t of toasts.children) {
    if (t.dataset.msg === msg) { // the same error on every refresh: keep one
      clearTimeout(t._timer);
      t._timer = setTimeout(() => t.remove(), 10000);
      return;
    }
  }
  const close = h('button', { class: 'close', 'aria-label': 'Dismiss', onclick: () => t.remove() }, '×');
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': 'toast', 'data-kind': kind },
    close, h('strong', {}, kind === 'error' ? 'Server Response' : 'Info'), h('div', { class: 'msg' }, msg),
    detail ? h('div', { class: 'detail' }, detail) : null);
  t.dataset.msg = msg;
  t._timer = setTimeout(() => t.remove(), kind === 'error' ? 10000 : 5000);
  toasts.append(t);
  while (toasts.children.length > 5) toasts.firstChild.remove();
}

// ---------------------------------------------------------------- REST

export class ApiError extends Error {
  constructor(msg, status) { super(msg); this.status = status; }
}

// Like Flink's dashboard, errors of .../checkpoints and .../checkpoints/config
// are not notified: jobs without checkpointing answer them with 404.
const SILENT = /checkpoints(\/config)?$/;

/**
 * api('jobs/overview'), api(url, {method, json, body, text: true, quiet: true}).
 * Non-2xx: notification with errors[0] of the {"errors":[...]} body (or the
 * HTTP status), then throws ApiError.
 */
export async function api(path, opt = {}) {
  const url = path.replace(/^\/+/, './');
  const init = { method: opt.method || 'GET', headers: {} };
  if (opt.json !== undefined) {
    init.body = JSON.stringify(opt.json);
    init.headers['Content-Type'] = 'application/json';
  } else if (opt.body !== undefined) {
    init.body = opt.body;
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    const err = new ApiError(`Cannot reach the JobManager (${init.method} ${path}): ${e.message}`, 0);
    if (!opt.quiet) toast(err.message, 'error');
    throw err;
  }
  const body = await res.text().catch(() => '');
  if (!res.ok) {
    let msg = `HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}`;
    try {
      const j = JSON.parse(body);
      if (j && Array.isArray(j.errors) && j.errors.length) msg = String(j.errors[0]);
    } catch { /* not JSON */ }
    const err = new ApiError(msg, res.status);
    if (!opt.quiet && !SILENT.test(path.split('?')[0])) toast(msg, 'error', `${init.method} ${path}: HTTP ${res.status}`);
    throw err;
  }
  if (opt.text) return body;
  if (!body) return {};
  try {
    return JSON.parse(body);
  } catch {
    const err = new ApiError(`Invalid JSON from ${path}`, res.status);
    if (!opt.quiet) toast(err.message, 'error');
    throw err;
  }
}

// ---------------------------------------------------------------- shared widgets

export function table(cols, rows, attrs = {}) {
  // The wrapper scrolls a wide table sideways instead of the whole page.
  return h('div', { class: 'tw' }, h('table', attrs,
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: cols.length, class: 'muted' }, 'No data')))));
}

export function kvTable(pairs, attrs = {}) {
  return h('table', Object.assign({ class: 'kv' }, attrs),
    h('tbody', {}, pairs.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v)))));
}

export function tabs(items, active) {
  return h('nav', { class: 'tabs', 'aria-label': 'Sections' }, items.map(([key, label, href]) =>
    h('a', { href, class: key === active ? 'active' : null, 'aria-current': key === active ? 'page' : null, 'data-testid': `tab-${key}` }, label)));
}

export function errorPanel(err, what) {
  return h('div', { class: 'panel error-panel', 'data-testid': 'error-panel', role: 'alert' },
    h('strong', {}, what ? `Could not load ${what}` : 'Error'), h('p', {}, err && err.message ? err.message : String(err)));
}

/**
 * Wrap a section's refresh: a REST error (already notified) shows an error
 * panel at the top of `holder` and keeps the rest of the page (tabs,
 * header) usable; the panel goes when a later refresh succeeds.
 */
function guarded(holder, fn) {
  let panel = null;
  return async (...args) => {
    try {
      const r = await fn(...args);
      if (panel) { panel.remove(); panel = null; }
      return r;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (!panel) holder.prepend(panel = errorPanel(e, 'this section'));
      else panel.querySelector('p').textContent = e.message;
      return undefined;
    }
  };
}

function taskCounts(tasks) {
  if (!tasks) return '-';
  return h('span', { class: 'tasks' }, Object.entries(tasks)
    .filter(([k, v]) => k !== 'total' && v > 0)
    .map(([k, v]) => h('span', { class: `count st-${k.toUpperCase()}`, title: k.toUpperCase() }, v)));
}

function jobTable(jobs, testid) {
  const rows = jobs.map((j) => h('tr', { 'data-testid': 'job-row', 'data-jid': j.jid, 'data-state': j.state },
    h('td', {}, h('a', { href: `#/job/${j.jid}/graph`, 'data-testid': 'job-link' }, j.name || j.jid)),
    h('td', {}, fmtTime(j['start-time'])),
    h('td', {}, fmtDuration(j.duration)),
    h('td', {}, fmtTime(j['end-time'])),
    h('td', {}, taskCounts(j.tasks)),
    h('td', {}, badge(j.state))));
  return table(['Job Name', 'Start Time', 'Duration', 'End Time', 'Tasks', 'Status'], rows,
    { 'data-testid': testid, class: 'jobs' });
}

function splitJobs(d) {
  const jobs = (d.jobs || []).slice().sort((a, b) => (b['start-time'] || 0) - (a['start-time'] || 0));
  return { running: jobs.filter((j) => !TERMINAL.has(j.state)), completed: jobs.filter((j) => TERMINAL.has(j.state)) };
}

// ---------------------------------------------------------------- pages

const routes = {};

// Overview: cluster figures and both job lists.
routes.overview = async (ctx) => {
  const stats = h('section', { class: 'stats', 'data-testid': 'cluster-stats' });
  const run = h('section', {}, h('h2', {}, 'Running Job List'), h('div', {}));
  const done = h('section', {}, h('h2', {}, 'Completed Job List'), h('div', {}));
  ctx.mount(h('h1', {}, 'Overview'), stats, run, done);
  ctx.refresh = async () => {
    const [o, jl] = await Promise.all([api('overview'), api('jobs/overview')]);
    const stat = (id, label, v) => h('div', { class: 'stat', 'data-testid': `stat-${id}` }, h('span', { class: 'v' }, v), h('span', { class: 'l' }, label));
    put(stats, 
      stat('taskmanagers', 'Task Managers', o.taskmanagers),
      stat('slots-total', 'Total Task Slots', o['slots-total']),
      stat('slots-available', 'Available Task Slots', o['slots-available']),
      stat('jobs-running', 'Running Jobs', o['jobs-running']),
      stat('jobs-finished', 'Finished', o['jobs-finished']),
      stat('jobs-cancelled', 'Canceled', o['jobs-cancelled']),
      stat('jobs-failed', 'Failed', o['jobs-failed']),
      stat('version', 'Version', o['flink-version'] || '-'));
    const { running, completed } = splitJobs(jl);
    run.lastChild.replaceWith(jobTable(running, 'running-jobs'));
    done.lastChild.replaceWith(jobTable(completed, 'completed-jobs'));
  };
};

routes.jobs = async (ctx, [which]) => {
  const done = which === 'completed';
  const holder = h('div', {});
  ctx.mount(h('h1', {}, done ? 'Completed Jobs' : 'Running Jobs'), holder);
  ctx.refresh = async () => {
    const s = splitJobs(await api('jobs/overview'));
    put(holder, done ? jobTable(s.completed, 'completed-jobs') : jobTable(s.running, 'running-jobs'));
  };
};

// ---------------------------------------------------------------- job

routes.job = async (ctx, [jid, tab = 'graph', sub]) => {
  if (!/^[0-9a-fA-F]{1,64}$/.test(jid || '')) throw new ApiError(`Invalid job id: ${jid}`, 400);
  const base = `jobs/${jid}`;
  const head = h('section', { class: 'jobhead', 'data-testid': 'job-header' }, h('p', { class: 'muted' }, 'Loading job…'));
  const actions = h('div', { class: 'actions' });
  const opStatus = h('div', { class: 'opstatus', 'data-testid': 'op-status', 'aria-live': 'polite' });
  const body = h('section', { class: 'jobbody' });
  const tabList = [['graph', 'Overview'], ['checkpoints', 'Checkpoints'], ['exceptions', 'Exceptions'], ['config', 'Configuration']]
    .map(([k, l]) => [k, l, `#/job/${jid}/${k}`]);
  ctx.mount(head, actions, opStatus, tabs(tabList, tab), body);

  let job = null;
  let actionState = '';
  const drawActions = () => {
    const can = job && job.state === 'RUNNING' && state.config.features && state.config.features['web-cancel'];
    const key = can ? 'on' : 'off';
    if (key === actionState) return;
    actionState = key;
    if (!can) { put(actions); return; }
    const dir = h('input', { type: 'text', placeholder: 'savepoint directory (optional)', 'aria-label': 'Savepoint target directory', 'data-testid': 'savepoint-dir', size: 32 });
    put(actions, 
      h('button', { class: 'danger', 'data-testid': 'btn-cancel', onclick: (e) => cancelJob(e.target) }, 'Cancel Job'),
      h('button', { 'data-testid': 'btn-savepoint', onclick: (e) => savepoint(e.target, false, dir.value.trim()) }, 'Trigger Savepoint'),
      h('button', { 'data-testid': 'btn-stop', onclick: (e) => savepoint(e.target, true, dir.value.trim()) }, 'Stop with Savepoint'),
      dir);
  };
  const cancelJob = async (btn) => {
    if (!window.confirm(`Cancel job ${job ? job.name : jid}?`)) return;
    btn.disabled = true;
    try {
      await api(`${base}?mode=cancel`, { method: 'PATCH' });
      toast('Cancellation requested.', 'info');
      ctx.kick();
    } catch { btn.disabled = false; }
  };
  const savepoint = async (btn, stop, dir) => {
    btn.disabled = true;
    const what = stop ? 'Stop with savepoint' : 'Savepoint';
    try {
      const req = stop ? { drain: false } : { 'cancel-job': false };
      if (dir) req[stop ? 'targetDirectory' : 'target-directory'] = dir;
      const r = await api(stop ? `${base}/stop` : `${base}/savepoints`, { method: 'POST', json: req });
      put(opStatus, h('span', { 'data-testid': 'savepoint-status', 'data-status': 'IN_PROGRESS' }, `${what} in progress…`));
      for (let i = 0; ; i++) {
        await new Promise((res) => setTimeout(res, Math.min(2000, 250 * (i + 1))));
        const s = await api(`${base}/savepoints/${r['request-id']}`);
        if (s.status && s.status.id === 'COMPLETED') {
          const op = s.operation || {};
          if (op.location) {
            put(opStatus, h('span', { 'data-testid': 'savepoint-status', 'data-status': 'COMPLETED' }, `${what} completed: `, h('code', {}, op.location)));
          } else {
            const fc = op['failure-cause'] || {};
            const msg = fc['stack-trace'] ? fc['stack-trace'].split('\n')[0] : (fc.class || 'unknown failure');
            put(opStatus, h('span', { 'data-testid': 'savepoint-status', 'data-status': 'FAILED', class: 'err' }, `${what} failed: ${msg}`));
            toast(`${what} failed: ${msg}`);
          }
          break;
        }
      }
      ctx.kick();
    } catch (e) {
      put(opStatus, h('span', { 'data-testid': 'savepoint-status', 'data-status': 'FAILED', class: 'err' }, `${what} failed: ${e.message}`));
    } finally { btn.disabled = false; }
  };

  const drawHead = () => {
    if (!ctx.dead) setNav(TERMINAL.has(job.state) ? 'jobs/completed' : 'jobs/running');
    put(head, 
      h('h1', { 'data-testid': 'job-name' }, job.name, ' ', badge(job.state)),
      h('dl', { class: 'meta' }, [
        ['Job ID', h('code', { 'data-testid': 'job-id' }, job.jid)],
        ['Job Type', job['job-type'] || '-'],
        ['Start Time', fmtTime(job['start-time'])],
        ['End Time', fmtTime(job['end-time'])],
        ['Duration', h('span', { 'data-testid': 'job-duration' }, fmtDuration(job.duration))],
      ].map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))));
    drawActions();
  };

  const sections = { graph: graphTab, checkpoints: checkpointsTab, exceptions: exceptionsTab, config: configTab };
  const section = guarded(body, (sections[tab] || graphTab)(ctx, base, body, sub, () => job));
  ctx.refresh = async () => {
    job = await api(base);
    drawHead();
    await section(job);
  };
};

// Job graph + vertex detail.
function graphTab(ctx, base, body, vid) {
  const graph = h('div', { class: 'graph', 'data-testid': 'job-graph' });
  const legend = h('p', { class: 'legend muted' }, 'Vertex colour: ',
    h('span', { class: 'sw', style: 'background:hsl(210,70%,92%)' }), ' idle → ',
    h('span', { class: 'sw', style: 'background:hsl(0,75%,62%)' }), ' busy; ',
    h('span', { class: 'sw', style: 'background:hsl(0,0%,75%)' }), ' → ',
    h('span', { class: 'sw', style: 'background:hsl(0,0%,25%)' }), ' back-pressured. Click a vertex for details.');
  const vtable = h('div', {});
  // The vertex detail: rebuilt on refresh, except the metric picker, which
  // keeps its element (an open drop-down must survive a refresh).
  const detailMain = h('div', {});
  const pick = h('select', { 'aria-label': 'Metric to show', 'data-testid': 'metric-select' });
  const mvalsBox = h('div', {});
  let pickKey = null;
  pick.addEventListener('change', () => { if (pick.value) { watched.add(pick.value); pickKey = null; ctx.kick(); } });
  const detail = h('section', { class: 'panel', 'data-testid': 'vertex-detail', 'data-vid': vid, hidden: true },
    detailMain, h('h3', {}, 'Metrics'), pick, mvalsBox);
  body.append(graph, legend, vtable, detail);
  const watched = new Set();
  let lastVertexMetrics = [];

  return async (job) => {
    const vertices = job.vertices || [];
    // Busy / back pressure per vertex; failures mean "no colouring".
    const live = await Promise.all(vertices.map((v) =>
      api(`${base}/vertices/${v.id}/subtasks/metrics?get=busyTimeMsPerSecond,backPressuredTimeMsPerSecond,numRecordsInPerSecond&agg=max,sum`, { quiet: true })
        .then((arr) => {
          const m = {};
          if (Array.isArray(arr)) for (const e of arr) m[e.id] = e;
          return m;
        }).catch(() => ({}))));
    const liveById = {};
    vertices.forEach((v, i) => { liveById[v.id] = live[i]; });
    renderGraph(graph, job, liveById, vid, (id) => { location.hash = `#/job/${job.jid}/graph/${id}`; });
    put(vtable, table(['Name', 'Status', 'Parallelism', 'Bytes Received', 'Records Received', 'Bytes Sent', 'Records Sent', 'Busy (max)', 'Back Pressured (max)', 'Duration', 'Tasks'],
      vertices.map((v, i) => {
        const m = v.metrics || {};
        const l = live[i];
        const pct = (k) => (l[k] && l[k].max !== undefined ? `${Math.round(l[k].max / 10)}%` : '-');
        return h('tr', { 'data-testid': 'vertex-row', 'data-vid': v.id, class: v.id === vid ? 'sel' : null },
          h('td', {}, h('a', { href: `#/job/${job.jid}/graph/${v.id}` }, v.name)), h('td', {}, badge(v.status)), h('td', {}, v.parallelism),
          h('td', {}, fmtBytes(m['read-bytes'])), h('td', {}, fmtNum(m['read-records'])),
          h('td', {}, fmtBytes(m['write-bytes'])), h('td', {}, fmtNum(m['write-records'])),
          h('td', {}, pct('busyTimeMsPerSecond')), h('td', {}, pct('backPressuredTimeMsPerSecond')),
          h('td', {}, fmtDuration(v.duration)), h('td', {}, taskCounts(v.tasks && Object.fromEntries(Object.entries(v.tasks).map(([k, c]) => [k.toLowerCase(), c])))));
      }), { 'data-testid': 'vertex-table' }));
    if (!vid) return;
    const vbase = `${base}/vertices/${vid}`;
    const [vd, wm, bp, mlist] = await Promise.all([
      api(vbase),
      api(`${vbase}/watermarks`, { quiet: true }).catch(() => null),
      api(`${vbase}/backpressure`, { quiet: true }).catch(() => null),
      api(`${vbase}/metrics`, { quiet: true }).catch(() => null)]);
    let mvals = [];
    if (watched.size) mvals = await api(`${vbase}/metrics?get=${[...watched].map(encodeURIComponent).join(',')}`, { quiet: true }).catch(() => lastVertexMetrics);
    lastVertexMetrics = mvals;
    const ids = Array.isArray(mlist) ? mlist.map((m) => m.id).sort() : [];
    const key = JSON.stringify(ids) + [...watched].join(',');
    if (key !== pickKey) {
      pickKey = key;
      put(pick, h('option', { value: '' }, ids.length ? 'Add metric…' : 'No metrics'),
        ids.filter((i) => !watched.has(i)).map((i) => h('option', { value: i }, i)));
    }
    const wms = Array.isArray(wm) ? wm : [];
    const bpSub = bp && Array.isArray(bp.subtasks) ? bp.subtasks : [];
    detail.hidden = false;
    put(detailMain,
      h('h2', {}, vd.name, ' ', h('span', { class: 'muted' }, `(parallelism ${vd.parallelism})`)),
      h('h3', {}, 'Subtasks'),
      table(['#', 'Status', 'Attempt', 'Endpoint', 'TaskManager', 'Start Time', 'Duration', 'Records Received', 'Records Sent', 'Bytes Received', 'Bytes Sent'],
        (vd.subtasks || []).map((s) => {
          const m = s.metrics || {};
          return h('tr', { 'data-testid': 'subtask-row' }, h('td', {}, s.subtask), h('td', {}, badge(s.status)), h('td', {}, s.attempt),
            h('td', {}, s.endpoint || '-'),
            h('td', {}, s['taskmanager-id'] ? h('a', { href: `#/taskmanager/${encodeURIComponent(s['taskmanager-id'])}` }, s['taskmanager-id']) : '-'),
            h('td', {}, fmtTime(s['start-time'])), h('td', {}, fmtDuration(s.duration)),
            h('td', {}, fmtNum(m['read-records'])), h('td', {}, fmtNum(m['write-records'])),
            h('td', {}, fmtBytes(m['read-bytes'])), h('td', {}, fmtBytes(m['write-bytes'])));
        }), { 'data-testid': 'subtask-table' }),
      h('div', { class: 'cols' },
        h('div', {}, h('h3', {}, 'Back Pressure ', bp ? badge(bp['backpressure-level'] || bp.backpressureLevel) : null),
          bp ? table(['Subtask', 'Level', 'Back Pressured', 'Idle', 'Busy'], bpSub.map((s) => h('tr', {},
            h('td', {}, s.subtask), h('td', {}, badge(s['backpressure-level'] || s.backpressureLevel)),
            h('td', {}, pctOf(s.ratio)), h('td', {}, pctOf(s.idleRatio)), h('td', {}, pctOf(s.busyRatio)))), { 'data-testid': 'backpressure-table' })
            : h('p', { class: 'muted' }, 'Not available')),
        h('div', {}, h('h3', {}, 'Watermarks'),
          table(['Subtask', 'Watermark'], wms.map((w) => h('tr', {}, h('td', {}, String(w.id).split('.')[0]), h('td', {}, fmtWatermark(w.value)))), { 'data-testid': 'watermark-table' }))));
    put(mvalsBox, table(['Metric', 'Value', ''], (Array.isArray(mvals) ? mvals : []).map((m) => h('tr', {}, h('td', {}, m.id), h('td', { 'data-testid': 'metric-value' }, m.value),
      h('td', {}, h('button', { class: 'link', 'aria-label': `Remove ${m.id}`, onclick: () => { watched.delete(m.id); pickKey = null; ctx.kick(); } }, 'remove')))), { 'data-testid': 'vertex-metrics' }));
  };
}

const pctOf = (r) => (typeof r === 'number' ? `${Math.round(r * 100)}%` : '-');

function fmtWatermark(v) {
  const n = Number(v);
  if (!isFinite(n) || n <= -9223372036854775000) return 'No Watermark';
  return `${v} (${fmtTime(n)})`;
}

// Checkpoints: counts, summary, latest, history, config; details of one.
function checkpointsTab(ctx, base, body, cpid) {
  const main = h('div', {});
  const cfg = h('div', {});
  body.append(main, cfg);
  if (cpid !== undefined) return checkpointDetail(ctx, base, body, main, cpid);
  let cfgLoaded = false;
  return async (job) => {
    let st;
    try {
      st = await api(`${base}/checkpoints`);
    } catch (e) {
      put(main, h('p', { class: 'muted', 'data-testid': 'ckpt-disabled' }, `No checkpoint statistics: ${e.message}`));
      return;
    }
    const c = st.counts || {};
    const sum = st.summary || {};
    const latest = st.latest || {};
    const stat = (id, label, v) => h('div', { class: 'stat small', 'data-testid': `ckpt-${id}` }, h('span', { class: 'v' }, v), h('span', { class: 'l' }, label));
    const srow = (label, o, f) => h('tr', {}, h('th', { scope: 'row' }, label), ['min', 'avg', 'p50', 'p90', 'p99', 'max'].map((k) => h('td', {}, o && o[k] !== undefined ? f(o[k]) : '-')));
    const lat = (label, cp, extra) => h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, cp ? [
      h('a', { href: `#/job/${job.jid}/checkpoints/${cp.id}` }, `#${cp.id}`), ' ', fmtTime(cp.trigger_timestamp || cp.restore_timestamp || cp.failure_timestamp), ' ',
      cp.external_path ? h('code', {}, cp.external_path) : '', cp.failure_message ? h('span', { class: 'err' }, cp.failure_message) : '', extra ? extra(cp) : ''] : 'None'));
    put(main, 
      h('section', { class: 'stats', 'data-testid': 'ckpt-counts' },
        stat('triggered', 'Triggered', c.total), stat('in-progress', 'In Progress', c.in_progress), stat('completed', 'Completed', c.completed),
        stat('failed', 'Failed', c.failed), stat('restored', 'Restored', c.restored)),
      h('h3', {}, 'Latest'),
      h('table', { class: 'kv', 'data-testid': 'ckpt-latest' }, h('tbody', {},
        lat('Latest Completed', latest.completed), lat('Latest Savepoint', latest.savepoint), lat('Latest Failed', latest.failed),
        lat('Latest Restore', latest.restored, (r) => (r.is_savepoint ? ' (savepoint)' : ''))),
      ),
      h('h3', {}, 'History'),
      table(['ID', 'Status', 'Type', 'Trigger Time', 'Latest Ack', 'End to End', 'Checkpointed Size', 'Full Size', 'Acknowledged', ''],
        (st.history || []).map((cp) => h('tr', { 'data-testid': 'ckpt-row', 'data-id': cp.id, 'data-status': cp.status },
          h('td', {}, h('a', { href: `#/job/${job.jid}/checkpoints/${cp.id}`, 'data-testid': 'ckpt-link' }, cp.id)),
          h('td', {}, badge(cp.status)), h('td', {}, cp.is_savepoint ? 'Savepoint' : (cp.checkpoint_type || 'Checkpoint')),
          h('td', {}, fmtTime(cp.trigger_timestamp)), h('td', {}, fmtTime(cp.latest_ack_timestamp)), h('td', {}, fmtDuration(cp.end_to_end_duration)),
          h('td', {}, fmtBytes(cp.checkpointed_size)), h('td', {}, fmtBytes(cp.state_size)),
          h('td', {}, `${cp.num_acknowledged_subtasks}/${cp.num_subtasks}`),
          h('td', {}, cp.failure_message ? h('span', { class: 'err' }, cp.failure_message) : (cp.external_path ? h('code', {}, cp.external_path) : '')))),
        { 'data-testid': 'ckpt-history' }),
      h('h3', {}, 'Summary'),
      h('table', { 'data-testid': 'ckpt-summary' }, h('thead', {}, h('tr', {}, h('th', {}, ''), ['Minimum', 'Average', 'p50', 'p90', 'p99', 'Maximum'].map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, srow('End to End Duration', sum.end_to_end_duration, fmtDuration), srow('Checkpointed Data Size', sum.checkpointed_size, fmtBytes),
          srow('Full Checkpoint Data Size', sum.state_size, fmtBytes), srow('Processed (persisted) in-flight data', sum.processed_data, fmtBytes))));
    if (!cfgLoaded) {
      try {
        const cc = await api(`${base}/checkpoints/config`);
        cfgLoaded = true;
        const ext = cc.externalization || {};
        put(cfg, h('h3', {}, 'Configuration'), kvTable([
          ['Checkpointing Mode', String(cc.mode || '-').replace('_', ' ').toUpperCase()], ['Interval', fmtDuration(cc.interval)],
          ['Timeout', fmtDuration(cc.timeout)], ['Minimum Pause Between Checkpoints', fmtDuration(cc.min_pause)],
          ['Maximum Concurrent Checkpoints', cc.max_concurrent], ['Unaligned Checkpoints', cc.unaligned_checkpoints ? 'Enabled' : 'Disabled'],
          ['Persist Checkpoints Externally', ext.enabled ? (ext.delete_on_cancellation ? 'Enabled (delete on cancellation)' : 'Enabled (retain on cancellation)') : 'Disabled'],
          ['Tolerable Failed Checkpoints', cc.tolerable_failed_checkpoints], ['State Backend', cc.state_backend || '-'],
          ['Checkpoint Storage', cc.checkpoint_storage || '-'], ['Checkpoints With Finished Tasks', cc.checkpoints_after_tasks_finish ? 'Enabled' : 'Disabled'],
        ], { 'data-testid': 'ckpt-config' }));
      } catch { /* checkpointing off: ignored like Flink's UI */ }
    }
  };
}

function checkpointDetail(ctx, base, body, main, cpid) {
  const open = new Set();
  let final = false;
  return async (job) => {
    if (final) return; // a completed or failed checkpoint no longer changes
    const d = await api(`${base}/checkpoints/details/${encodeURIComponent(cpid)}`);
    final = d.status === 'COMPLETED' || d.status === 'FAILED';
    const names = Object.fromEntries((job.vertices || []).map((v) => [v.id, v.name]));
    const tasks = Object.entries(d.tasks || {});
    const subs = await Promise.all(tasks.map(([vid]) => (open.has(vid)
      ? api(`${base}/checkpoints/details/${encodeURIComponent(cpid)}/subtasks/${vid}`, { quiet: true }).catch((e) => ({ error: e.message }))
      : null)));
    const rows = [];
    tasks.forEach(([vid, t], i) => {
      rows.push(h('tr', { 'data-testid': 'ckpt-task-row', 'data-vid': vid },
        h('td', {}, h('button', { class: 'link', 'aria-expanded': open.has(vid) ? 'true' : 'false', 'data-testid': 'ckpt-task-toggle',
          onclick: () => { if (open.has(vid)) open.delete(vid); else open.add(vid); final = false; ctx.kick(); } }, open.has(vid) ? '▾ ' : '▸ ', names[vid] || vid)),
        h('td', {}, badge(t.status)), h('td', {}, fmtTime(t.latest_ack_timestamp)), h('td', {}, fmtDuration(t.end_to_end_duration)),
        h('td', {}, fmtBytes(t.checkpointed_size)), h('td', {}, fmtBytes(t.state_size)),
        h('td', {}, `${t.num_acknowledged_subtasks}/${t.num_subtasks}`)));
      const s = subs[i];
      if (s) {
        rows.push(h('tr', { class: 'sub' }, h('td', { colspan: 7 }, s.error ? h('span', { class: 'err' }, s.error)
          : table(['Subtask', 'Status', 'Ack Time', 'End to End', 'Checkpointed Size', 'Full Size', 'Sync', 'Async', 'Alignment', 'Start Delay'],
            (s.subtasks || []).map((x) => {
              const cp = x.checkpoint || {}; const al = x.alignment || {};
              return h('tr', { 'data-testid': 'ckpt-subtask-row' }, h('td', {}, x.index), h('td', {}, x.status || x.className || '-'),
                h('td', {}, fmtTime(x.ack_timestamp)), h('td', {}, fmtDuration(x.end_to_end_duration)),
                h('td', {}, fmtBytes(x.checkpointed_size)), h('td', {}, fmtBytes(x.state_size)),
                h('td', {}, fmtDuration(cp.sync)), h('td', {}, fmtDuration(cp.async)), h('td', {}, fmtDuration(al.duration)), h('td', {}, fmtDuration(x.start_delay)));
            }), { 'data-testid': 'ckpt-subtasks' }))));
      }
    });
    put(main, h('p', {}, h('a', { href: `#/job/${job.jid}/checkpoints` }, '← all checkpoints')),
      h('section', { class: 'panel', 'data-testid': 'ckpt-details', 'data-id': d.id, 'data-status': d.status },
        h('h2', {}, `${d.is_savepoint ? 'Savepoint' : 'Checkpoint'} #${d.id} `, badge(d.status)),
        kvTable([['Trigger Time', fmtTime(d.trigger_timestamp)], ['Latest Acknowledgement', fmtTime(d.latest_ack_timestamp)],
          ['End to End Duration', fmtDuration(d.end_to_end_duration)], ['Checkpointed Data Size', fmtBytes(d.checkpointed_size)],
          ['Full Checkpoint Data Size', fmtBytes(d.state_size)], ['Acknowledged', `${d.num_acknowledged_subtasks}/${d.num_subtasks}`],
          ['Type', d.checkpoint_type || '-'], ['Path', d.external_path ? h('code', {}, d.external_path) : '-'],
          ...(d.failure_message ? [['Failure', h('span', { class: 'err' }, d.failure_message)]] : [])]),
        table(['Operator', 'Status', 'Latest Ack', 'End to End', 'Checkpointed Size', 'Full Size', 'Acknowledged'], rows, { 'data-testid': 'ckpt-tasks' })));
  };
}

function exceptionsTab(ctx, base, body) {
  const holder = h('div', {});
  body.append(holder);
  return async () => {
    const d = await api(`${base}/exceptions?maxExceptions=20`);
    const hist = d.exceptionHistory || {};
    const entries = hist.entries || [];
    if (!entries.length) {
      put(holder, h('p', { class: 'muted', 'data-testid': 'no-exceptions' }, 'No exceptions.'));
      return;
    }
    // Keep the open/closed state of each entry across refreshes.
    const openKeys = new Set([...holder.querySelectorAll('details[open]')].map((x) => x.dataset.key));
    put(holder, h('ul', { class: 'exceptions', 'data-testid': 'exception-list' }, entries.map((e, i) => {
      const key = `${e.timestamp}-${i}`;
      return h('li', {}, h('details', { 'data-key': key, open: openKeys.has(key) }, h('summary', {},
        h('strong', {}, e.exceptionName || 'Exception'), ' ', h('span', { class: 'muted' }, fmtTime(e.timestamp)),
        e.taskName ? h('span', {}, ` in ${e.taskName}`) : '', e.endpoint ? h('span', { class: 'muted' }, ` @ ${e.endpoint}`) : '',
        e.taskManagerId ? [' ', h('a', { href: `#/taskmanager/${encodeURIComponent(e.taskManagerId)}` }, e.taskManagerId)] : ''),
      h('pre', {}, e.stacktrace || '')));
    })), hist.truncated ? h('p', { class: 'muted' }, 'Older exceptions were truncated.') : null);
  };
}

function configTab(ctx, base, body) {
  const holder = h('div', {});
  body.append(holder);
  let done = false;
  return async () => {
    if (done) return;
    const c = await api(`${base}/config`);
    const ec = c['execution-config'] || {};
    const uc = ec['user-config'] || {};
    done = true;
    put(holder, h('h3', {}, 'Execution Configuration'),
      kvTable(Object.entries(ec).filter(([k]) => k !== 'user-config').map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]), { 'data-testid': 'job-config' }),
      h('h3', {}, 'User Configuration'),
      table(['Key', 'Value'], Object.entries(uc).map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, String(v)))), { 'data-testid': 'user-config' }));
  };
}

// ---------------------------------------------------------------- TaskManagers / JobManager

routes.taskmanagers = async (ctx) => {
  const holder = h('div', {});
  ctx.mount(h('h1', {}, 'Task Managers'), holder);
  ctx.refresh = async () => {
    const d = await api('taskmanagers');
    put(holder, table(['ID', 'Path', 'Data Port', 'Last Heartbeat', 'All Slots', 'Free Slots', 'CPU Cores', 'Physical Memory', 'Free Memory', 'Managed Memory'],
      (d.taskmanagers || []).map((t) => {
        const hw = t.hardware || {};
        return h('tr', { 'data-testid': 'tm-row', 'data-id': t.id },
          h('td', {}, h('a', { href: `#/taskmanager/${encodeURIComponent(t.id)}`, 'data-testid': 'tm-link' }, t.id)), h('td', {}, t.path),
          h('td', {}, t.dataPort), h('td', {}, fmtTime(t.timeSinceLastHeartbeat)), h('td', {}, t.slotsNumber), h('td', {}, t.freeSlots),
          h('td', {}, hw.cpuCores), h('td', {}, fmtBytes(hw.physicalMemory)), h('td', {}, fmtBytes(hw.freeMemory)), h('td', {}, fmtBytes(hw.managedMemory)));
      }), { 'data-testid': 'tm-table' }));
  };
};

routes.taskmanager = async (ctx, [rawId, tab = 'metrics', name]) => {
  const id = decodeURIComponent(rawId || '');
  const base = `taskmanagers/${encodeURIComponent(id)}`;
  const root = `#/taskmanager/${encodeURIComponent(id)}`;
  const info = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const body = h('div', {});
  ctx.mount(h('h1', {}, 'Task Manager ', h('code', { 'data-testid': 'tm-id' }, id)), info,
    tabs([['metrics', 'Metrics', `${root}/metrics`], ['logs', 'Logs', `${root}/logs`], ['stdout', 'Stdout', `${root}/stdout`], ['thread-dump', 'Thread Dump', `${root}/thread-dump`]], tab === 'log' ? 'logs' : tab),
    body);
  const sub = guarded(body, subPage(ctx, body, base, root, tab, name));
  ctx.refresh = async () => {
    // Detail and tab load independently: one failing leaves the other.
    const [t] = await Promise.all([api(base).catch((e) => ({ error: e })), sub()]);
    if (t.error) {
      if (!info.querySelector('table')) put(info, errorPanel(t.error, 'the TaskManager'));
      return;
    }
    const hw = t.hardware || {};
    const mem = t.memoryConfiguration || {};
    put(info, h('div', { class: 'cols' },
      kvTable([['Path', t.path], ['Data Port', t.dataPort], ['Last Heartbeat', fmtTime(t.timeSinceLastHeartbeat)], ['Slots', `${t.freeSlots} free of ${t.slotsNumber}`],
        ['CPU Cores', hw.cpuCores], ['Physical Memory', fmtBytes(hw.physicalMemory)], ['Free Memory', fmtBytes(hw.freeMemory)], ['Managed Memory', fmtBytes(hw.managedMemory)]], { 'data-testid': 'tm-info' }),
      kvTable(Object.entries(mem).map(([k, v]) => [k, fmtBytes(v)]), { 'data-testid': 'tm-memory' })),
    Array.isArray(t.allocatedSlots) && t.allocatedSlots.length ? [h('h3', {}, 'Allocated Slots'),
      table(['Job', 'Assigned Tasks', 'CPU Cores', 'Network Memory'], t.allocatedSlots.map((s) => h('tr', {},
        h('td', {}, h('a', { href: `#/job/${s.jobId}/graph` }, s.jobId)), h('td', {}, s.assignedTasks ?? '-'),
        h('td', {}, s.resource ? s.resource.cpuCores : '-'), h('td', {}, s.resource && s.resource.networkMemory !== undefined ? `${s.resource.networkMemory} MB` : '-'))),
      { 'data-testid': 'tm-slots' })] : null);
  };
};

routes.jobmanager = async (ctx, [tab = 'config', name]) => {
  const body = h('div', {});
  const root = '#/jobmanager';
  ctx.mount(h('h1', {}, 'Job Manager'),
    tabs([['config', 'Configuration', `${root}/config`], ['environment', 'Environment', `${root}/environment`], ['metrics', 'Metrics', `${root}/metrics`],
      ['logs', 'Logs', `${root}/logs`], ['stdout', 'Stdout', `${root}/stdout`], ['thread-dump', 'Thread Dump', `${root}/thread-dump`]], tab === 'log' ? 'logs' : tab),
    body);
  if (tab === 'config') {
    let done = false;
    ctx.refresh = async () => {
      if (done) return;
      const c = await api('jobmanager/config');
      done = true;
      put(body, table(['Key', 'Value'], (Array.isArray(c) ? c : []).slice().sort((a, b) => (a.key < b.key ? -1 : 1))
        .map((e) => h('tr', {}, h('td', {}, e.key), h('td', {}, e.value))), { 'data-testid': 'jm-config' }));
    };
  } else if (tab === 'environment') {
    let done = false;
    ctx.refresh = async () => {
      if (done) return;
      const e = await api('jobmanager/environment');
      done = true;
      const jvm = e.jvm || {};
      put(body, kvTable([['Version', jvm.version || '-'], ['Architecture', jvm.arch || '-']], { 'data-testid': 'jm-environment' }),
        h('h3', {}, 'Options'), h('pre', {}, (jvm.options || []).join('\n') || '-'),
        h('h3', {}, 'Classpath'), h('pre', {}, (e.classpath || []).join('\n') || '-'));
    };
  } else {
    ctx.refresh = subPage(ctx, body, 'jobmanager', root, tab, name);
  }
  ctx.refresh = guarded(body, ctx.refresh);
};

// Metrics / logs / log file / stdout / thread dump of a JM or TM.
function subPage(ctx, body, base, root, tab, name) {
  if (tab === 'metrics') {
    let ids = null;
    return async () => {
      if (ids === null) {
        const list = await api(`${base}/metrics`);
        ids = (Array.isArray(list) ? list : []).map((m) => m.id).sort();
      }
      const vals = [];
      for (let i = 0; i < ids.length; i += 40) { // keep URLs short
        const part = await api(`${base}/metrics?get=${ids.slice(i, i + 40).map(encodeURIComponent).join(',')}`);
        if (Array.isArray(part)) vals.push(...part);
      }
      vals.sort((a, b) => (a.id < b.id ? -1 : 1));
      put(body, table(['Metric', 'Value'], vals.map((m) => h('tr', { 'data-testid': 'metric-row' }, h('td', {}, m.id), h('td', {}, fmtMetric(m.id, m.value)))), { 'data-testid': 'metrics-table' }));
    };
  }
  if (tab === 'logs') {
    return async () => {
      const d = await api(`${base}/logs`);
      put(body, h('p', {}, h('a', { href: `${root}/log` }, 'Main log file')),
        table(['Name', 'Size', 'Last Modified'], (d.logs || []).map((l) => h('tr', { 'data-testid': 'log-row' },
          h('td', {}, h('a', { href: `${root}/log/${encodeURIComponent(l.name)}` }, l.name)), h('td', {}, fmtBytes(l.size)), h('td', {}, fmtTime(l.mtime)))),
        { 'data-testid': 'logs-table' }));
    };
  }
  if (tab === 'log' || tab === 'stdout') {
    const url = tab === 'stdout' ? `${base}/stdout` : name ? `${base}/logs/${encodeURIComponent(decodeURIComponent(name))}` : `${base}/log`;
    return textView(body, url, tab === 'stdout' ? 'stdout' : (name ? decodeURIComponent(name) : 'log'));
  }
  if (tab === 'thread-dump') {
    let done = false;
    return async () => {
      if (done) return;
      const d = await api(`${base}/thread-dump`);
      done = true;
      const ti = d.threadInfos || [];
      put(body, h('p', {}, `${ti.length} threads `, h('button', { onclick: () => { done = false; ctx.kick(); } }, 'Reload')),
        h('pre', { class: 'log', 'data-testid': 'thread-dump' }, ti.map((t) => t.stringifiedThreadInfo || t.threadName).join('\n')));
    };
  }
  return async () => { put(body, h('p', { class: 'muted' }, `Unknown page ${tab}`)); };
}

// Logs are not refreshed automatically (they can be large on a slow link).
function textView(body, url, label) {
  let done = false;
  const reload = h('button', { onclick: () => { done = false; fetchIt(); } }, 'Reload');
  const pre = h('pre', { class: 'log', 'data-testid': 'log-text' });
  const fetchIt = async () => {
    if (done) return;
    const t = await api(url, { text: true });
    done = true;
    pre.textContent = t || '(empty)';
    pre.scrollTop = pre.scrollHeight;
  };
  put(body, h('p', {}, h('strong', {}, label), ' ', reload, ' ', h('a', { href: url, target: '_blank', rel: 'noopener' }, 'Open raw')), pre);
  return fetchIt;
}

function fmtMetric(id, v) {
  const n = Number(v);
  if (v === '' || isNaN(n)) return v;
  if (/(Memory|Bytes|RSS|Heap|Used|Committed|Max|Capacity)(\.|$)/.test(id) && !/Count|Ratio|PerSecond/.test(id) && n > 4096) return `${fmtBytes(n)} (${v})`;
  return fmtNum(n);
}

// ---------------------------------------------------------------- submit

routes.submit = async (ctx) => {
  if (!state.config.features || !state.config.features['web-submit']) {
    ctx.mount(h('h1', {}, 'Submit New Job'), h('p', { class: 'panel', 'data-testid': 'submit-disabled' }, 'Job submission from the web UI is disabled (web.submit.enable: false).'));
    return;
  }
  const file = h('input', { type: 'file', accept: '.so,.jar', 'data-testid': 'jar-file', id: 'jarfile' });
  const up = h('button', { 'data-testid': 'btn-upload', type: 'submit' }, 'Upload');
  const list = h('div', {});
  const form = h('form', { class: 'panel upload', onsubmit: async (e) => {
    e.preventDefault();
    if (!file.files.length) { toast('Choose a plugin (.so) file first.', 'info'); return; }
    const fd = new FormData();
    fd.append('jarfile', file.files[0], file.files[0].name);
    up.disabled = true;
    up.textContent = 'Uploading…';
    try {
      await api('jars/upload', { method: 'POST', body: fd });
      toast(`Uploaded ${file.files[0].name}`, 'info');
      file.value = '';
      ctx.kick();
    } catch { /* notified */ } finally { up.disabled = false; up.textContent = 'Upload'; }
  } }, h('label', { for: 'jarfile' }, 'Job plugin (.so): '), file, ' ', up);
  ctx.mount(h('h1', {}, 'Submit New Job'), form, list);
  let selected = null;
  let lastKey = '';
  ctx.refresh = async () => {
    const d = await api('jars');
    const files = d.files || [];
    const key = JSON.stringify(files.map((f) => f.id)) + selected;
    if (key === lastKey) return; // do not reset a form the user is typing in
    lastKey = key;
    const rows = [];
    for (const f of files) {
      rows.push(h('tr', { 'data-testid': 'jar-row', 'data-id': f.id, 'data-name': f.name, class: selected === f.id ? 'sel' : null },
        h('td', {}, h('button', { class: 'link', 'data-testid': 'btn-select-jar', 'aria-expanded': selected === f.id ? 'true' : 'false',
          onclick: () => { selected = selected === f.id ? null : f.id; ctx.kick(); } }, f.name)),
        h('td', {}, fmtTime(f.uploaded)),
        h('td', {}, (f.entry || []).map((e) => e.name).join(', ') || '-'),
        h('td', {}, h('button', { class: 'danger small', 'data-testid': 'btn-delete-jar', onclick: async () => {
          try { await api(`jars/${encodeURIComponent(f.id)}`, { method: 'DELETE' }); if (selected === f.id) selected = null; ctx.kick(); } catch { /* notified */ }
        } }, 'Delete'))));
      if (selected === f.id) rows.push(h('tr', { class: 'sub' }, h('td', { colspan: 4 }, runForm(f))));
    }
    put(list, h('h2', {}, 'Uploaded Plugins'), table(['Name', 'Upload Time', 'Entry', ''], rows, { 'data-testid': 'jar-table' }));
  };
};

function runForm(f) {
  const entries = f.entry || [];
  const entry = entries.length > 1 ? h('select', { 'data-testid': 'run-entry', id: 'run-entry' }, entries.map((e) => h('option', { value: e.name }, e.name))) : null;
  const args = h('input', { type: 'text', id: 'run-args', 'data-testid': 'run-args', size: 60, placeholder: '--input /path --output /path' });
  const par = h('input', { type: 'number', id: 'run-parallelism', 'data-testid': 'run-parallelism', min: 1, placeholder: 'default' });
  const sp = h('input', { type: 'text', id: 'run-savepoint', 'data-testid': 'run-savepoint', size: 40, placeholder: 'optional' });
  const nrs = h('input', { type: 'checkbox', id: 'run-nrs', 'data-testid': 'run-allow-nonrestored' });
  const btn = h('button', { type: 'submit', 'data-testid': 'btn-run', class: 'primary' }, 'Submit');
  return h('form', { class: 'runform', 'data-testid': 'run-form', onsubmit: async (e) => {
    e.preventDefault();
    const req = { programArgsList: splitArgs(args.value) };
    if (entry) req.entryClass = entry.value;
    if (par.value) req.parallelism = Number(par.value);
    if (sp.value.trim()) req.savepointPath = sp.value.trim();
    if (nrs.checked) req.allowNonRestoredState = true;
    btn.disabled = true;
    try {
      const r = await api(`jars/${encodeURIComponent(f.id)}/run`, { method: 'POST', json: req });
      toast(`Job ${r.jobid} submitted.`, 'info');
      location.hash = `#/job/${r.jobid}/graph`;
    } catch { btn.disabled = false; }
  } },
  entry ? [h('label', { for: 'run-entry' }, 'Entry'), entry] : null,
  h('label', { for: 'run-args' }, 'Program Arguments'), args,
  h('label', { for: 'run-parallelism' }, 'Parallelism'), par,
  h('label', { for: 'run-savepoint' }, 'Savepoint Path'), sp,
  h('label', { for: 'run-nrs' }, 'Allow Non Restored State'), h('span', {}, nrs),
  h('span', {}), h('span', {}, btn));
}

/** Quote-aware split of a command line: a "b c" 'd' -> [a, b c, d]. */
export function splitArgs(s) {
  const out = [];
  let cur = null;
  let q = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === q) q = null;
      else if (c === '\\' && q === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      q = c; cur = cur ?? '';
    } else if (/\s/.test(c)) {
      if (cur !== null) { out.push(cur); cur = null; }
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== null) out.push(cur);
  return out;
}

// ---------------------------------------------------------------- router

let current = null;
let timer = null;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const parts = raw.split('/').filter((p) => p !== '');
  return parts.length ? parts : ['overview'];
}

/** Mark the main navigation entry whose route starts `path`. */
function setNav(path) {
  for (const a of document.querySelectorAll('header nav a')) {
    const on = path.startsWith(a.dataset.nav);
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

async function route() {
  if (current) current.dead = true;
  const parts = parseHash();
  const name = routes[parts[0]] ? parts[0] : 'overview';
  if (!routes[parts[0]]) history.replaceState(null, '', '#/overview');
  const ctx = {
    dead: false,
    refresh: null,
    els: [],
    mount: (...els) => { ctx.els = els; if (!ctx.dead) put(view, ...els); },
    kick: () => { if (!ctx.dead) tick(ctx, true); },
  };
  current = ctx;
  setNav(parts[0] === 'job' ? 'jobs/running' : parts.join('/'));
  put(view, h('p', { class: 'muted', 'data-testid': 'loading' }, 'Loading…'));
  try {
    await routes[name](ctx, parts.slice(1));
    if (ctx.refresh) await ctx.refresh();
    view.dataset.ready = parts.join('/');
  } catch (e) {
    // First load failed: show what failed instead of a blank page.
    if (ctx.dead) return;
    if (!(e instanceof ApiError)) {
      console.error(e);
      toast(`Page error: ${e.message}`);
    } else if (e.status === 400) {
      toast(e.message);
    }
    // The page's own elements come back when a later refresh succeeds.
    put(view, errorPanel(e, 'this page'), h('p', {}, h('a', { href: '#/overview' }, 'Back to the overview')));
    ctx.failed = true;
  }
  schedule();
}

async function tick(ctx, immediate) {
  if (ctx.dead || !ctx.refresh || ctx.busy) return;
  ctx.busy = true;
  try {
    await ctx.refresh();
    if (ctx.failed && !ctx.dead) { // recovered from a failed first load
      ctx.failed = false;
      put(view, ...ctx.els);
      view.dataset.ready = parseHash().join('/');
    }
  } catch (e) {
    if (!(e instanceof ApiError)) { console.error(e); toast(`Page error: ${e.message}`); }
    // keep the last data on screen; the error was notified
  } finally {
    ctx.busy = false;
  }
  if (immediate) schedule();
}

function schedule() {
  clearTimeout(timer);
  const ms = Math.max(500, Number(state.config['refresh-interval']) || 3000);
  timer = setTimeout(async () => {
    const ctx = current;
    if (ctx && !document.hidden) await tick(ctx, false);
    schedule();
  }, ms);
}

async function start() {
  try {
    state.config = await api('config');
  } catch {
    state.config = { 'refresh-interval': 3000, features: {} };
  }
  const f = state.config.features || {};
  document.querySelector('[data-nav=submit]').hidden = !f['web-submit'];
  const v = state.config['flink-version'];
  document.querySelector('[data-testid=version]').textContent = v ? `Version: ${v}` : '';
  window.addEventListener('hashchange', route);
  await route();
}

window.addEventListener('unhandledrejection', (e) => {
  if (e.reason instanceof ApiError) e.preventDefault(); // already notified
});

start();
