// Browser test of cflink's bundled web UI (src/webui), run by run.sh
// against a real JobManager + TaskManager. Plain node script, no test
// runner: each step waits for what a user would see and fails with the
// step's name, the page's visible text and a screenshot.
//
// Environment:
//   CF_REST_URL      http://127.0.0.1:<port> of the JobManager (required)
//   CF_PLUGIN        path of an unbounded job plugin (.so) to upload (required)
//   CF_PLUGIN_ARGS   its program arguments (default: tp_stateful's)
//   CF_ARTIFACT_DIR  where screenshots go (default ./test-artifacts/webui)
//   CF_CHROMIUM      browser executable (default /usr/bin/chromium)
//   CF_HEADED=1      show the browser (debugging)
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const REST = (process.env.CF_REST_URL || '').replace(/\/+$/, '');
const PLUGIN = process.env.CF_PLUGIN;
const ARGS = process.env.CF_PLUGIN_ARGS || '--keys 8 --rate 400 --discard';
const ART = process.env.CF_ARTIFACT_DIR || path.resolve('test-artifacts/webui');
const T = 30000; // default wait per step
if (!REST || !PLUGIN) {
  console.error('usage: CF_REST_URL=http://host:port CF_PLUGIN=/path/plugin.so node webui.test.mjs');
  process.exit(2);
}
fs.mkdirSync(ART, { recursive: true });

const problems = []; // uncaught page errors and console errors of the app
let onProblem = null; // fails the running step at once
function problem(p) {
  problems.push(p);
  if (onProblem) onProblem(new Error(`page error: ${p}`));
}
let page;
let browser;
let stepName = '(start)';
let shots = 0;

async function rest(p) {
  const r = await fetch(`${REST}/${p.replace(/^\//, '')}`);
  if (!r.ok) throw new Error(`GET ${p}: HTTP ${r.status}`);
  return r.json();
}

async function shot(name) {
  shots++;
  await page.screenshot({ path: path.join(ART, `${name}.png`), fullPage: true });
}

async function screenText() {
  try {
    const main = await page.locator('#view').innerText({ timeout: 2000 });
    const t = await page.locator('#toasts').innerText({ timeout: 2000 });
    return `URL: ${page.url()}\n--- page ---\n${main.slice(0, 2000)}\n--- notifications ---\n${t || '(none)'}`;
  } catch (e) {
    return `URL: ${page && page.url()} (could not read the page: ${e.message})`;
  }
}

async function step(name, fn) {
  stepName = name;
  const t0 = Date.now();
  try {
    const failFast = new Promise((_, reject) => { onProblem = reject; });
    await Promise.race([fn(), failFast]);
    if (problems.length) throw new Error(`page errors: ${problems.join(' | ')}`);
  } catch (e) {
    onProblem = null;
    console.error(`FAIL: step "${name}": ${e.message}`);
    if (page) {
      console.error(await screenText());
      await page.screenshot({ path: path.join(ART, `FAILED-${name.replace(/\W+/g, '-')}.png`), fullPage: true }).catch(() => {});
    }
    if (browser) await browser.close().catch(() => {});
    process.exit(1);
  }
  onProblem = null;
  console.log(`ok: ${name} (${Date.now() - t0} ms)`);
}

/** Wait until fn() (in node, polling the page) returns a truthy value. */
async function until(what, fn, timeout = T) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const tid = (id) => `[data-testid="${id}"]`;

browser = await chromium.launch({
  executablePath: process.env.CF_CHROMIUM || '/usr/bin/chromium',
  headless: process.env.CF_HEADED !== '1',
  args: ['--no-sandbox'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
page = await context.newPage();
page.setDefaultTimeout(T);
page.on('pageerror', (e) => problem(`uncaught: ${e.message}`));
page.on('console', (m) => {
  // The browser logs every non-2xx response ("Failed to load resource");
  // those are expected (unknown job, optional endpoints). Anything else
  // logged as an error comes from the app's code.
  if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problem(`console: ${m.text()}`);
});
page.on('dialog', (d) => d.accept());

const overview = await rest('overview');
const tmCount = overview.taskmanagers;
let jid;
let vertices;

await step('overview shows the cluster', async () => {
  const r = await page.goto(`${REST}/`);
  assert.equal(r.status(), 200, `GET / answered ${r.status()}: is the web UI served (cflink.web.dir)?`);
  await page.locator(`${tid('stat-taskmanagers')} .v`).filter({ hasText: String(tmCount) }).waitFor();
  const slots = await page.locator(`${tid('stat-slots-total')} .v`).innerText();
  assert.equal(slots, String(overview['slots-total']), 'total slots');
  await page.locator(tid('running-jobs')).waitFor();
  await page.locator(tid('completed-jobs')).waitFor();
  await shot('overview');
});

await step('upload the plugin', async () => {
  await page.locator(tid('nav-submit')).click();
  await page.locator(tid('jar-file')).setInputFiles(PLUGIN);
  await page.locator(tid('btn-upload')).click();
  await page.locator(`${tid('jar-row')}[data-name="${path.basename(PLUGIN)}"]`).first().waitFor();
});

await step('run it with parallelism 2', async () => {
  const row = page.locator(`${tid('jar-row')}[data-name="${path.basename(PLUGIN)}"]`).first();
  await row.locator(tid('btn-select-jar')).click();
  await page.locator(tid('run-args')).fill(ARGS);
  await page.locator(tid('run-parallelism')).fill('2');
  await shot('submit');
  await page.locator(tid('btn-run')).click();
  await page.waitForURL(/#\/job\/[0-9a-f]{32}\/graph/);
  jid = page.url().match(/#\/job\/([0-9a-f]{32})/)[1];
  const j = await rest(`jobs/${jid}`);
  assert.equal(j.vertices.length > 0, true, 'the job has vertices');
  assert.ok(j.vertices.every((v) => v.parallelism === 2), `parallelism 2 was not applied: ${JSON.stringify(j.vertices.map((v) => v.parallelism))}`);
});

await step('the job is RUNNING in the running-jobs list', async () => {
  await page.locator(tid('nav-running')).click();
  await page.locator(`${tid('running-jobs')} ${tid('job-row')}[data-jid="${jid}"][data-state="RUNNING"]`).waitFor();
  await shot('running-jobs');
});

await step('the job graph shows the vertices', async () => {
  await page.locator(`${tid('job-row')}[data-jid="${jid}"] ${tid('job-link')}`).click();
  await page.locator(`${tid('job-header')} ${tid('job-id')}`).filter({ hasText: jid }).waitFor();
  vertices = (await rest(`jobs/${jid}`)).vertices;
  await until(`${vertices.length} vertices in the graph`, async () => (await page.locator(`${tid('job-graph')} ${tid('vertex')}`).count()) === vertices.length);
  const nodes = (await rest(`jobs/${jid}`)).plan.nodes;
  const nEdges = nodes.reduce((a, n) => a + (n.inputs || []).length, 0);
  assert.equal(await page.locator(`${tid('job-graph')} ${tid('edge')}`).count(), nEdges, 'one edge per plan input');
  for (const v of vertices) {
    const box = page.locator(`${tid('vertex')}[data-vid="${v.id}"]`);
    assert.ok((await box.textContent()).includes('Parallelism: 2'), `vertex ${v.name} shows its parallelism`);
  }
  await page.locator(tid("btn-cancel")).waitFor();
});

await step('record counts are live (> 0, then increasing)', async () => {
  const counts = async () => page.$$eval('[data-testid="vertex"]', (els) => els.map((e) => ({
    vid: e.dataset.vid, n: Math.max(Number(e.dataset.recordsIn) || 0, Number(e.dataset.recordsOut) || 0) })));
  const first = await until('a vertex with records > 0', async () => {
    const c = (await counts()).find((x) => x.n > 0);
    return c || false;
  }, 45000);
  await until(`vertex ${first.vid}'s record count to grow past ${first.n} without a reload`, async () => {
    const c = (await counts()).find((x) => x.vid === first.vid);
    return c && c.n > first.n;
  }, 45000);
  await shot('job-graph');
});

await step('vertex detail', async () => {
  const v = vertices[0];
  await page.locator(`${tid('vertex')}[data-vid="${v.id}"]`).click();
  await page.locator(`${tid('vertex-detail')}[data-vid="${v.id}"]`).waitFor();
  await until('2 subtask rows', async () => (await page.locator(`${tid('vertex-detail')} ${tid('subtask-row')}`).count()) === 2);
  await page.locator(`${tid('vertex-detail')} ${tid('watermark-table')}`).waitFor();
  // Watch the first metric the vertex lists: its value appears.
  const ids = await rest(`jobs/${jid}/vertices/${v.id}/metrics`);
  if (ids.length) {
    await until('the metric picker lists the metrics', async () => (await page.locator(`${tid('metric-select')} option`).count()) > 1);
    await page.locator(tid('metric-select')).selectOption({ index: 1 });
    await page.locator(`${tid('vertex-metrics')} ${tid('metric-value')}`).first().waitFor();
  }
  await shot('vertex-detail');
});

await step('a completed checkpoint and its details', async () => {
  await page.locator(tid('tab-checkpoints')).click();
  await page.locator(tid('ckpt-counts')).waitFor();
  const row = page.locator(`${tid('ckpt-row')}[data-status="COMPLETED"]`).first();
  await row.waitFor({ timeout: 45000 });
  await page.locator(tid('ckpt-config')).waitFor();
  await shot('checkpoints');
  const id = await row.getAttribute('data-id');
  await row.locator(tid('ckpt-link')).click();
  await page.locator(`${tid('ckpt-details')}[data-id="${id}"][data-status="COMPLETED"]`).waitFor();
  const tasks = page.locator(tid('ckpt-task-row'));
  await until('a row per vertex in the checkpoint details', async () => (await tasks.count()) === vertices.length);
  await tasks.first().locator(tid('ckpt-task-toggle')).click();
  await page.locator(tid('ckpt-subtask-row')).first().waitFor();
  await shot('checkpoint-details');
});

await step('exceptions and configuration tabs', async () => {
  await page.locator(tid('tab-exceptions')).click();
  await page.locator(`${tid('no-exceptions')}, ${tid('exception-list')}`).first().waitFor();
  await page.locator(tid('tab-config')).click();
  await page.locator(tid('job-config')).waitFor();
});

await step('TaskManagers page', async () => {
  await page.locator(tid('nav-taskmanagers')).click();
  await until(`${tmCount} TaskManager rows`, async () => (await page.locator(tid('tm-row')).count()) === tmCount);
  await shot('taskmanagers');
  await page.locator(tid('tm-link')).first().click();
  await page.locator(tid('tm-id')).waitFor();
  await page.locator(tid('tm-info')).waitFor();
  await page.locator(`${tid('metrics-table')}, ${tid('toast')}`).first().waitFor();
  await shot('taskmanager');
});

await step('JobManager page', async () => {
  await page.locator(tid('nav-jobmanager')).click();
  await until('JobManager configuration rows', async () => (await page.locator(`${tid('jm-config')} tbody tr`).count()) > 3);
  assert.ok((await page.locator(tid('jm-config')).innerText()).includes('rest.'), 'the configuration lists rest.* keys');
  await shot('jobmanager');
  await page.locator(tid('tab-logs')).click();
  await page.locator(`${tid('logs-table')}, ${tid('toast')}`).first().waitFor();
});

await step('trigger a savepoint with the button', async () => {
  await page.goto(`${REST}/#/job/${jid}/graph`);
  await page.locator(tid('btn-savepoint')).click();
  const st = page.locator(`${tid('savepoint-status')}[data-status="COMPLETED"], ${tid('savepoint-status')}[data-status="FAILED"]`);
  await st.first().waitFor({ timeout: 45000 });
  assert.equal(await st.first().getAttribute('data-status'), 'COMPLETED', `savepoint: ${await st.first().innerText()}`);
  assert.match(await st.first().innerText(), /savepoint-/, 'the savepoint location is shown');
});

await step('cancel the job with the button', async () => {
  await page.locator(tid('btn-cancel')).click();
  await until('the job is CANCELED', async () => (await rest(`jobs/${jid}`)).state === 'CANCELED', 30000);
  await page.locator(tid('nav-completed')).click();
  await page.locator(`${tid('completed-jobs')} ${tid('job-row')}[data-jid="${jid}"][data-state="CANCELED"]`).waitFor();
  await shot('completed-jobs');
});

await step('an unknown job shows an error notification, not a blank page', async () => {
  const bad = '0123456789abcdef0123456789abcdef';
  await page.goto(`${REST}/#/job/${bad}/graph`);
  await page.locator(`${tid('toast')}[data-kind="error"]`).first().waitFor();
  await page.locator(tid('error-panel')).waitFor();
  const text = await page.locator(`${tid('toast')}[data-kind="error"]`).first().innerText();
  assert.match(text, /not|unknown|could not/i, `notification text: ${text}`);
  assert.ok((await page.locator('header nav').innerText()).includes('Overview'), 'the navigation is still there');
  await shot('unknown-job');
});

await browser.close();
console.log(`all steps passed; ${shots} screenshots in ${ART}`);
