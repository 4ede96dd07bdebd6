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
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';

/** Spans per OTLP request, as a batching exporter would send them. */
const SPANS_PER_REQUEST = 5_000;
/** A small run first, so that the measured runs see optimized code. */
const WARMUP_SPANS = 3_000;
const DEFAULT_SIZES = [10_000, 100_000];
/** Runs of the in-process stages per size; the fastest is shown. */
const DEFAULT_REPEAT = 2;
/** Distinct coroutine + creation-site pairs. */
const SITES = 24;
const DRAIN_MS = 1_500;
const NS_PER_S = 1_000_000_000n;
const MS = 1_000_000n;
const SERVE_START_TIMEOUT_MS = 20_000;

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
// Synthetic shutdown, as ReadableSpans for the official serializers

const hex = (bytes) => randomBytes(bytes).toString('hex');
const hr = (ns) => [Number(ns / NS_PER_S), Number(ns % NS_PER_S)];

function readable(traceId, spanId, name, start, end, attributes, events, resource) {
  const context = { traceId, spanId, traceFlags: 1 };
  return {
    name,
    kind: 0,
    spanContext: () => context,
    parentSpanContext: undefined,
    startTime: hr(start),
    endTime: hr(end),
    duration: hr(end - start),
    status: { code: 0 },
    attributes,
    links: [],
    events: events.map((e) => ({ name: e.name, time: hr(e.time), attributes: e.attributes })),
    ended: true,
    resource,
    instrumentationScope: { name: 'canceltrace', version: 'bench' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** N task spans of one instance (3-4 contract events each) and the shutdown span, in request-sized batches. */
function syntheticShutdown(n) {
  const traceId = hex(16);
  const instance = `bench-${n}-${hex(4)}`;
  const resource = resourceFromAttributes({
    'service.name': 'bench-ingest',
    'service.instance.id': instance,
    'process.pid': 4242,
    'process.runtime.name': 'cpython',
    'telemetry.sdk.language': 'python',
    'telemetry.sdk.name': 'canceltrace',
    'telemetry.sdk.version': '0.1.0',
    'host.name': 'bench-host-01',
  });
  const t0 = BigInt(Date.now() - 600_000) * MS;
  const at = (ms) => t0 + BigInt(Math.round(ms * 1000)) * 1000n;
  const spans = [];
  for (let i = 0; i < n; i++) {
    const site = i % SITES;
    const swallowed = i % 997 === 3;
    const survivor = i % 4999 === 7;
    const cancelMs = 5 + (i % 50) / 10;
    const endMs = survivor ? DRAIN_MS + 500 : Math.min(DRAIN_MS, 10 + ((i * 7919) % 1200));
    const attributes = {
      'task.kind': 'asyncio',
      'task.id': String(i),
      'task.name': `worker-${i}`,
      'task.coroutine': `app.workers.handler_${site}`,
      'task.parent_id': '1',
      'task.group_id': `group-${i % 100}`,
      'code.filepath': `/srv/app/workers/handler_${site}.py`,
      'code.lineno': 40 + site,
      'code.function': 'start_workers',
      'task.final_state': survivor ? 'pending' : swallowed ? 'completed' : 'cancelled',
    };
    if (survivor) attributes['task.snapshot'] = true;
    const events = [
      {
        name: 'task.cancel_requested',
        time: at(cancelMs),
        attributes: { 'cancel.message': 'shutdown', 'cancel.count': 1, 'code.filepath': '/srv/app/main.py', 'code.lineno': 12, 'code.function': 'main' },
      },
      { name: 'task.cleanup.start', time: at(cancelMs + 1), attributes: { 'cleanup.name': 'close' } },
    ];
    if (!survivor)
      events.push({ name: 'task.cleanup.end', time: at(Math.max(cancelMs + 2, endMs - 1)), attributes: { 'cleanup.name': 'close', 'cleanup.outcome': 'ok' } });
    if (swallowed)
      events.push({
        name: 'exception',
        time: at(endMs - 0.5),
        attributes: {
          'exception.type': 'CancelledError',
          'exception.message': '',
          'exception.stacktrace': `File "/srv/app/workers/handler_${site}.py", line ${90 + site}, in run`,
        },
      });
    spans.push(readable(traceId, hex(8), `worker-${i}`, at(-30_000 + (i % 1000)), at(endMs), attributes, events, resource));
  }
  const shutdownEvents = [{ name: 'shutdown.cancel_all', time: at(5), attributes: { 'tasks.count': n } }];
  for (let ms = -200; ms <= DRAIN_MS + 500; ms += 100) {
    const left = ms < 10 ? n : Math.max(Math.ceil(n / 4999), Math.round(n * (1 - (ms - 10) / 1200)));
    shutdownEvents.push({ name: 'tasks.pending', time: at(ms), attributes: { 'tasks.pending.count': left } });
    shutdownEvents.push({
      name: 'resource.gauge',
      time: at(ms),
      attributes: { 'resource.name': 'db.pool.in_use', 'resource.value': ms < 10 ? 20 : ms < 800 ? 10 : 1 },
    });
  }
  const shutdownAttrs = {
    'shutdown.reason': 'SIGTERM',
    'shutdown.drain_timeout_ms': DRAIN_MS,
    'shutdown.outcome': 'survivors',
    'shutdown.pending_baseline': 0,
  };
  const shutdownSpanId = hex(8);
  spans.push(readable(traceId, shutdownSpanId, 'shutdown', at(0), at(DRAIN_MS + 500), shutdownAttrs, shutdownEvents, resource));
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

/** Spawns `canceltrace serve` of a build on free ports and a fresh file. */
async function startServe(build, dir, db = join(dir, `serve-${Math.random().toString(36).slice(2)}.db`)) {
  const nodeArgs = process.env.BENCH_SERVE_NODE_ARGS ? process.env.BENCH_SERVE_NODE_ARGS.split(' ') : [];
  const child = spawn(process.execPath, [...nodeArgs, build.cli, 'serve', '--otlp-port', '0', '--ui-port', '0', '--grpc-port', '0', '--db', db], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise((r) => child.once('exit', r));
  const urls = await new Promise((resolveUrls, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out}`)), SERVE_START_TIMEOUT_MS);
    const look = () => {
      const otlp = /^otlp: (\S+)$/m.exec(out)?.[1];
      const ui = /^ui: (\S+)$/m.exec(out)?.[1];
      if (otlp && ui) {
        clearTimeout(timer);
        resolveUrls({ otlp, ui });
      }
    };
    child.stdout.on('data', (d) => {
      out += d;
      look();
    });
    child.stderr.on('data', (d) => (out += d));
    void exited.then((code) => reject(new Error(`serve exited with ${code}:\n${out}`)));
  });
  return {
    ...urls,
    db,
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const MEDIA = { protobuf: 'application/x-protobuf', json: 'application/json' };

async function overHttp(build, data, dir) {
  const ms = {};
  for (const encoding of ['protobuf', 'json']) {
    let served = await startServe(build, dir);
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
        served = await startServe(build, dir, served.db);
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
