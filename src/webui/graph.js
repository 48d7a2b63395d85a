// Job graph: the plan's nodes as a left-to-right layered DAG in SVG.
// Layers are longest paths from the sources; within a layer, nodes are
// ordered by the barycenter of their inputs (a few sweeps), which removes
// most edge crossings of a streaming plan without a layout library.
// Vertex colour follows Flink's dashboard: back-pressured vertices go from
// grey to black with backPressuredTimeMsPerSecond, otherwise from blue
// (idle) to red (busy) with busyTimeMsPerSecond.

const NS = 'http://www.w3.org/2000/svg';
const W = 250;   // box width
const H = 96;    // box height
const GX = 110;  // gap between layers
const GY = 36;   // gap between boxes of a layer
const PAD = 16;

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of kids.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function stripHtml(t) {
  return String(t || '').replace(/<br\s*\/?>/gi, ' ').replace(/<[^>]*>/g, '').replace(/&gt;/g, '>').replace(/&lt;/g, '<').replace(/&amp;/g, '&');
}

function clip(t, n) {
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

function compact(n) {
  if (n === undefined || n === null || isNaN(n)) return '-';
  n = Number(n);
  if (n < 1000) return String(n);
  const u = ['K', 'M', 'G', 'T'];
  let i = -1;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(n < 10 ? 2 : 1)}${u[i]}`;
}

/** Layers and in-layer order of plan nodes: {id -> {layer, order}}. */
export function layout(nodes) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const layer = new Map();
  const visiting = new Set();
  const depth = (n) => {
    if (layer.has(n.id)) return layer.get(n.id);
    if (visiting.has(n.id)) return 0; // a cycle (not expected): break it
    visiting.add(n.id);
    let d = 0;
    for (const i of n.inputs || []) {
      const p = byId.get(i.id);
      if (p) d = Math.max(d, depth(p) + 1);
    }
    visiting.delete(n.id);
    layer.set(n.id, d);
    return d;
  };
  nodes.forEach(depth);
  const layers = [];
  for (const n of nodes) (layers[layer.get(n.id)] ||= []).push(n);
  const pos = new Map();
  const number = () => layers.forEach((l) => l.forEach((n, i) => pos.set(n.id, i)));
  number();
  const outs = new Map(nodes.map((n) => [n.id, []]));
  for (const n of nodes) for (const i of n.inputs || []) if (outs.has(i.id)) outs.get(i.id).push(n.id);
  const bary = (ids, fallback) => (ids.length ? ids.reduce((a, id) => a + pos.get(id), 0) / ids.length : fallback);
  for (let sweep = 0; sweep < 4; sweep++) {
    const down = sweep % 2 === 0;
    const order = down ? layers.map((_, i) => i) : layers.map((_, i) => layers.length - 1 - i);
    for (const li of order) {
      const l = layers[li];
      if (!l) continue;
      const key = new Map(l.map((n) => [n.id, bary(down
        ? (n.inputs || []).map((i) => i.id).filter((id) => pos.has(id))
        : outs.get(n.id), pos.get(n.id))]));
      l.sort((a, b) => key.get(a.id) - key.get(b.id) || pos.get(a.id) - pos.get(b.id));
      l.forEach((n, i) => pos.set(n.id, i));
    }
  }
  const res = new Map();
  layers.forEach((l, li) => (l || []).forEach((n, i) => res.set(n.id, { layer: li, order: i, size: l.length })));
  return { pos: res, layers: layers.length, rows: Math.max(1, ...layers.map((l) => (l ? l.length : 0))) };
}

function fill(live) {
  const bp = live && live.backPressuredTimeMsPerSecond && typeof live.backPressuredTimeMsPerSecond.max === 'number' ? live.backPressuredTimeMsPerSecond.max / 1000 : null;
  const busy = live && live.busyTimeMsPerSecond && typeof live.busyTimeMsPerSecond.max === 'number' ? live.busyTimeMsPerSecond.max / 1000 : null;
  if (bp === null && busy === null) return { bg: '#ffffff', fg: '#1d2733', kind: 'none' };
  if (bp !== null && bp > 0 && bp >= (busy || 0)) {
    const p = Math.min(1, bp);
    const light = Math.round(78 - 68 * p); // grey -> black
    return { bg: `hsl(0,0%,${light}%)`, fg: light < 50 ? '#ffffff' : '#111111', kind: 'backpressured' };
  }
  const p = Math.max(0, Math.min(1, busy || 0));
  const hue = Math.round(210 * (1 - p)); // blue -> red
  const light = Math.round(92 - 30 * p);
  return { bg: `hsl(${hue},${Math.round(70 + 5 * p)}%,${light}%)`, fg: '#111111', kind: 'busy' };
}

/** Draw (replace) the job graph of `job` into `holder`. */
export function renderGraph(holder, job, liveById, selected, onSelect) {
  const plan = job.plan || {};
  const vmap = new Map((job.vertices || []).map((v) => [v.id, v]));
  let nodes = Array.isArray(plan.nodes) && plan.nodes.length ? plan.nodes
    : (job.vertices || []).map((v) => ({ id: v.id, description: v.name, parallelism: v.parallelism, inputs: [] }));
  nodes = nodes.filter((n) => n && n.id);
  if (!nodes.length) {
    holder.replaceChildren(document.createTextNode('No job graph.'));
    return;
  }
  const { pos, layers, rows } = layout(nodes);
  const height = rows * (H + GY) - GY + 2 * PAD;
  const width = layers * (W + GX) - GX + 2 * PAD;
  const xy = (id) => {
    const p = pos.get(id);
    // centre each layer vertically
    const off = ((rows - p.size) * (H + GY)) / 2;
    return { x: PAD + p.layer * (W + GX), y: PAD + off + p.order * (H + GY) };
  };
  const edges = s('g', { class: 'edges' });
  const boxes = s('g', { class: 'vertices' });
  for (const n of nodes) {
    const b = xy(n.id);
    for (const i of n.inputs || []) {
      if (!pos.has(i.id)) continue;
      const a = xy(i.id);
      const x1 = a.x + W; const y1 = a.y + H / 2; const x2 = b.x; const y2 = b.y + H / 2;
      const mx = (x1 + x2) / 2;
      edges.append(s('path', { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 4},${y2}`, class: 'edge', 'marker-end': 'url(#arrow)', 'data-testid': 'edge' }));
      const label = String(i.ship_strategy || '').replace(/_/g, ' ');
      if (label) {
        const lx = mx; const ly = (y1 + y2) / 2 - 5;
        edges.append(s('text', { x: lx, y: ly, class: 'elabel', 'text-anchor': 'middle', 'data-testid': 'edge-label' }, label));
      }
    }
    const v = vmap.get(n.id) || {};
    const m = v.metrics || {};
    const live = liveById[n.id] || {};
    const c = fill(live);
    const name = v.name || stripHtml(n.operator || n.description || n.id);
    const par = v.parallelism ?? n.parallelism;
    const pct = (k) => (live[k] && typeof live[k].max === 'number' ? `${Math.round(live[k].max / 10)}%` : '-');
    const rin = m['read-records'] ?? 0;
    const rout = m['write-records'] ?? 0;
    const sel = n.id === selected;
    const g = s('g', {
      class: `vertex${sel ? ' selected' : ''}`, transform: `translate(${b.x},${b.y})`, tabindex: 0, role: 'button',
      'aria-label': `${name}, parallelism ${par}, ${v.status || ''}, records in ${rin}, records out ${rout}`,
      'data-testid': 'vertex', 'data-vid': n.id, 'data-status': v.status || '', 'data-records-in': rin, 'data-records-out': rout,
      'data-busy': live.busyTimeMsPerSecond ? live.busyTimeMsPerSecond.max : '', 'data-backpressured': live.backPressuredTimeMsPerSecond ? live.backPressuredTimeMsPerSecond.max : '',
      'data-colour': c.kind,
      onclick: () => onSelect(n.id),
      onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onSelect(n.id); } },
    },
    s('title', {}, `${name}\n${stripHtml(n.description || '')}`),
    s('rect', { width: W, height: H, rx: 6, fill: c.bg, class: 'box' }),
    s('text', { x: 10, y: 20, class: 'vname', fill: c.fg }, clip(name, 30)),
    s('text', { x: 10, y: 39, fill: c.fg }, `Parallelism: ${par ?? '-'}  `, s('tspan', { class: 'vstatus' }, v.status || '')),
    s('text', { x: 10, y: 57, fill: c.fg, 'data-testid': 'vertex-records' }, `Records in: ${compact(rin)}  out: ${compact(rout)}`),
    s('text', { x: 10, y: 75, fill: c.fg }, `Busy (max): ${pct('busyTimeMsPerSecond')}  BP: ${pct('backPressuredTimeMsPerSecond')}`),
    s('text', { x: 10, y: 90, fill: c.fg, class: 'small' }, `Bytes in: ${compact(m['read-bytes'])}  out: ${compact(m['write-bytes'])}`));
    boxes.append(g);
  }
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Job graph', class: 'dag' },
    s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#7a8794' }))),
    edges, boxes);
  // Keep the keyboard focus on the same vertex across refreshes.
  const focused = holder.contains(document.activeElement) && document.activeElement.dataset ? document.activeElement.dataset.vid : null;
  holder.replaceChildren(svg);
  if (focused) {
    const el = svg.querySelector(`[data-vid="${focused}"]`);
    if (el) el.focus();
  }
}
