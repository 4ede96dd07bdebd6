// Ingest benchmark: how fast a large synthetic shutdown goes through each stage of the real
// ingest path, against the built dist/ (run `npm run build` first).
//
//   node --expose-gc bench/ingest/stages.mjs [--sizes 10000,100000] [--repeat 2] [--baseline DIR] [--skip-http]
//
// In-process stages run --repeat times and show their fastest run (the machine is shared); the
// HTTP stages run once.
// --baseline DIR: another build of canceltrace (a folder holding dist/ and web/dist, with
// node_modules reachable from it) measured in the same run, stage by stage, for a before/after table.
// BENCH_SERVE_NODE_ARGS: extra node flags for the spawned serve (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
// Figures, not assertions: nothing here fails on a number.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { benchResource, hex, shutdownSpan, startServe, taskSpan } from '../workload.mjs';

/** Spans per OTLP request, as a batching exporter would send them. */
const SPANS_PER_REQUEST = 5_000;
/** A small run first, so that the measured runs see optimized code. */
const WARMUP_SPANS = 3_000;
const DEFAULT_SIZES = [10_000, 100_000];
/** Runs of the in-process stages per size; the fastest is shown. */
const DEFAULT_REPEAT = 2;
const MS = 1_000_000n;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function parseArgs(argv) {
  const opts = { sizes: DEFAULT_SIZES, baseline: undefined, http: true, repeat: DEFAULT_REPEAT };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--sizes')
      opts.sizes = argv[++i]
        .split(',')
        .map(Number)
        .filter((n) => n > 0);
    else if (a === '--baseline') opts.baseline = resolve(argv[++i]);
    else if (a === '--skip-http') opts.http = false;
    else if (a === '--repeat') opts.repeat = Math.max(1, Number(argv[++i]) || 1);
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------
// Synthetic shutdown: the shared workload's task spans (bench/workload.mjs), as ReadableSpans for the
// official serializers

/** N task spans of one instance and the shutdown span, in request-sized batches. */
function syntheticShutdown(n) {
  const traceId = hex(16);
  const resource = benchResource(`bench-${n}-${hex(4)}`);
  const t0 = BigInt(Date.now() - 600_000) * MS;
  const spans = [];
  for (let i = 0; i < n; i++) spans.push(taskSpan(i, traceId, t0, resource));
  const shutdown = shutdownSpan(n, traceId, t0, resource);
  const shutdownSpanId = shutdown.spanContext().spanId;
  spans.push(shutdown);
  const batches = [];
  for (let i = 0; i < spans.length; i += SPANS_PER_REQUEST) batches.push(spans.slice(i, i + SPANS_PER_REQUEST));
  return {
    shutdownId: `${traceId}-${shutdownSpanId}`,
    tasks: n,
    protobuf: batches.map((b) => ProtobufTraceSerializer.serializeRequest(b)),
    json: batches.map((b) => JsonTraceSerializer.serializeRequest(b)),
  };
}

// ---------------------------------------------------------------------------------------------
// One build of canceltrace

async function loadBuild(root) {
  const mod = (p) => import(pathToFileURL(join(root, 'dist', p)).href);
  const [decode, toSpanRecord, sqlite, judge, views, json] = await Promise.all([
    mod('collector/otlp/decode.js'),
    mod('collector/processor/toSpanRecord.js'),
    mod('server/store/SqliteStore.js'),
    mod('server/judge/index.js'),
    mod('server/api/ShutdownViews.js'),
    mod('server/api/json.js'),
  ]);
  return {
    root,
    decodeTraceRequest: decode.decodeTraceRequest,
    toSpanRecord: toSpanRecord.toSpanRecord,
    SqliteStore: sqlite.SqliteStore,
    judgeTaskAlone: judge.judgeTaskAlone,
    ShutdownViews: views.ShutdownViews,
    compactReportJson: json.compactReportJson,
    reportJson: json.reportJson,
    bigintReplacer: json.bigintReplacer,
    toJsonText: json.toJsonText,
    cli: join(root, 'dist', 'server', 'cli', 'main.js'),
  };
}

const time = async (fn) => {
  const t = performance.now();
  const value = await fn();
  return [performance.now() - t, value];
};

function gc() {
  if (typeof globalThis.gc === 'function') globalThis.gc();
}

/** The in-process stages; returns { stage: ms } */
async function inProcess(build, data, dir) {
  const ms = {};
  let spans = 0;
  for (const encoding of ['protobuf', 'json']) {
    gc();
    [ms[`decode ${encoding}`]] = await time(() => {
      for (const body of data[encoding]) spans += build.decodeTraceRequest(body, encoding).spans.length;
    });
    gc();
    [ms[`decode+toSpanRecord ${encoding}`]] = await time(() => {
      for (const body of data[encoding]) build.decodeTraceRequest(body, encoding).spans.map(build.toSpanRecord);
    });
  }
  const batches = data.protobuf.map((body) => build.decodeTraceRequest(body, 'protobuf').spans.map(build.toSpanRecord));
  const path = join(dir, `store-${Math.random().toString(36).slice(2)}.db`);
  let store = build.SqliteStore.open({ path, verdictOf: build.judgeTaskAlone });
  gc();
  [ms['store consume']] = await time(async () => {
    for (const batch of batches) await store.consume(batch);
  });
  await store.close();
  ms['store file bytes/span'] = statSync(path).size / (spans / 2);
  batches.length = 0;
  gc();
  // Cold: a freshly opened store and an empty report cache, as after a restart.
  store = build.SqliteStore.open({ path, verdictOf: build.judgeTaskAlone });
  {
    const shutdown = await store.getShutdown(data.shutdownId);
    [ms['cold store read (window)']] = await time(() => store.tasksInWindow(shutdown.instance, shutdown.start, shutdown.end));
    await store.close();
  }
  gc();
  store = build.SqliteStore.open({ path, verdictOf: build.judgeTaskAlone });
  const views = new build.ShutdownViews(store);
  const shutdown = await store.getShutdown(data.shutdownId);
  const [readMs, report] = await time(() => views.report(shutdown));
  ms['cold read+judge'] = readMs;
  [ms['compact JSON encode']] = await time(() => JSON.stringify(build.compactReportJson(report), build.bigintReplacer).length);
  [ms['full JSON encode']] = await time(() => JSON.stringify(build.reportJson(report), build.bigintReplacer).length);
  // toJsonText: the same text without a replacer function (builds that have it)
  if (build.toJsonText) {
    [ms['compact JSON toJsonText']] = await time(() => build.toJsonText(build.compactReportJson(report)).length);
    [ms['full JSON toJsonText']] = await time(() => build.toJsonText(build.reportJson(report)).length);
  }
  ms.tasks = report.tasks.length;
  await store.close();
  return { ms, spans: spans / 2 };
}

/** Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system, ms) a process has used so far; undefined where /proc is missing. On a
 * shared machine this is steadier than the wall time, which also counts waiting for a core.
 */
function cpuMillis(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11], fields[12]: utime and stime (fields 14 and 15 of proc(5), counted from the state field)
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Spawns `canceltrace serve` of a build on free ports and a fresh file (or `db`). */
async function startBuildServe(build, dir, db = join(dir, `serve-${Math.random().toString(36).slice(2)}.db`)) {
  const nodeArgs = process.env.BENCH_SERVE_NODE_ARGS ? process.env.BENCH_SERVE_NODE_ARGS.split(' ') : [];
  return { ...(await startServe(build.cli, db, nodeArgs)), db };
}

const MEDIA = { protobuf: 'application/x-protobuf', json: 'application/json' };

async function overHttp(build, data, dir) {
  const ms = {};
  for (const encoding of ['protobuf', 'json']) {
    let served = await startBuildServe(build, dir);
    try {
      const cpuBefore = cpuMillis(served.pid);
      [ms[`HTTP POST ${encoding}`]] = await time(async () => {
        for (const body of data[encoding]) {
          const res = await fetch(`${served.otlp}/v1/traces`, { method: 'POST', headers: { 'content-type': MEDIA[encoding] }, body });
          if (res.status !== 200) throw new Error(`POST: ${res.status} ${await res.text()}`);
          await res.arrayBuffer();
        }
      });
      const cpuAfter = cpuMillis(served.pid);
      if (cpuBefore !== undefined && cpuAfter !== undefined) ms[`HTTP POST ${encoding} serve CPU`] = cpuAfter - cpuBefore;
      if (encoding !== 'protobuf') continue;
      // Each GET on a freshly started serve: an empty report cache, a cold read + judge + encode + transfer.
      for (const form of ['compact', 'full']) {
        await served.stop();
        served = await startBuildServe(build, dir, served.db);
        let text;
        const cpuBefore = cpuMillis(served.pid);
        [ms[`HTTP GET ${form}`], text] = await time(async () => {
          const res = await fetch(`${served.ui}/api/shutdowns/${data.shutdownId}${form === 'compact' ? '?tasks=compact' : ''}`);
          if (res.status !== 200) throw new Error(`GET: ${res.status} ${await res.text()}`);
          return res.text();
        });
        const cpuAfter = cpuMillis(served.pid);
        if (cpuBefore !== undefined && cpuAfter !== undefined) ms[`HTTP GET ${form} serve CPU`] = cpuAfter - cpuBefore;
        const got = JSON.parse(text).tasks.length;
        if (got !== data.tasks) throw new Error(`GET ${form}: ${got} tasks, expected ${data.tasks}`);
      }
    } finally {
      await served.stop();
    }
  }
  return ms;
}

// ---------------------------------------------------------------------------------------------

const STAGE_ORDER = [
  'decode protobuf',
  'decode json',
  'decode+toSpanRecord protobuf',
  'decode+toSpanRecord json',
  'store consume',
  'HTTP POST protobuf',
  'HTTP POST json',
  'HTTP POST protobuf serve CPU',
  'HTTP POST json serve CPU',
  'cold store read (window)',
  'cold read+judge',
  'compact JSON encode',
  'full JSON encode',
  'compact JSON toJsonText',
  'full JSON toJsonText',
  'store file bytes/span',
  'HTTP GET compact',
  'HTTP GET full',
  'HTTP GET compact serve CPU',
  'HTTP GET full serve CPU',
];
/** Stages that handle every span (spans/s is meaningful). */
const PER_SPAN = new Set(STAGE_ORDER.slice(0, 9));

const pad = (s, n) => String(s).padStart(n);

function printTable(n, results) {
  const labels = Object.keys(results);
  console.log(`\n${n.toLocaleString('en-US')} task spans + 1 shutdown (${Math.ceil((n + 1) / SPANS_PER_REQUEST)} requests of ≤${SPANS_PER_REQUEST})`);
  let header = `${'stage'.padEnd(30)}`;
  for (const l of labels) header += `${pad(`${l} ms`, 14)}${pad(`${l} spans/s`, 18)}`;
  if (labels.length === 2) header += pad('speed-up', 10);
  console.log(header);
  for (const stage of STAGE_ORDER) {
    if (!labels.some((l) => results[l][stage] !== undefined)) continue;
    const bytes = stage.includes('bytes');
    let line = (bytes ? stage : `${stage}`).padEnd(30);
    const values = labels.map((l) => results[l][stage]);
    for (const v of values) {
      line += pad(v === undefined ? '-' : `${v.toFixed(0)}${bytes ? ' B' : ''}`, 14);
      line += pad(v === undefined || !PER_SPAN.has(stage) ? '' : Math.round(((n + 1) / v) * 1000).toLocaleString('en-US'), 18);
    }
    if (values.length === 2 && values[0] && values[1]) line += pad(`${(values[0] / values[1]).toFixed(1)}x`, 10);
    console.log(line);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const builds = {};
  if (opts.baseline) builds.before = await loadBuild(opts.baseline);
  builds[opts.baseline ? 'after' : 'this'] = await loadBuild(ROOT);
  const dir = mkdtempSync(join(tmpdir(), 'canceltrace-bench-ingest-'));
  try {
    const warm = syntheticShutdown(WARMUP_SPANS);
    for (const build of Object.values(builds)) await inProcess(build, warm, dir);
    for (const n of opts.sizes) {
      const data = syntheticShutdown(n);
      const results = {};
      for (const [label, build] of Object.entries(builds)) {
        const ms = {};
        for (let r = 0; r < opts.repeat; r++) {
          const run = (await inProcess(build, data, dir)).ms;
          if (run.tasks !== n) throw new Error(`${label}: the shutdown view has ${run.tasks} tasks, expected ${n}`);
          delete run.tasks;
          for (const [stage, v] of Object.entries(run)) ms[stage] = Math.min(ms[stage] ?? Infinity, v);
        }
        if (opts.http) Object.assign(ms, await overHttp(build, data, dir));
        results[label] = ms;
      }
      printTable(n, results);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
