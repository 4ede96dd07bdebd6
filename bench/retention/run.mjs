// Retention benchmark (issue 13): ingest latency while `--retention 14d` sweeps 1,000,000 old spans.
//
//   1. seed: a `canceltrace serve` without retention takes BENCH_RETENTION_SPANS task spans (default
//      1,000,000; shutdowns of 1,000 realistic tasks each, 30 days old) over OTLP/HTTP protobuf;
//      bytes per task span are read from its /metrics (canceltrace_store_size_bytes);
//   2. sweep: `canceltrace serve --retention 14d` on the same file; while its first sweep runs, two
//      senders post fresh 512-span requests (the issue-11 workload) and every request's latency is
//      kept; the sweep's span is read from /metrics (canceltrace_retention_deleted_spans_total);
//   3. the same bytes-per-span seed on PostgreSQL (BENCH_PG_URL, default the test database; =off skips).
//
//   npm run build && node bench/retention/run.mjs
//   BENCH_RETENTION_SPANS=100000 node bench/retention/run.mjs     # a quick run
//   BENCH_RETENTION_SENDERS=1 BENCH_RETENTION_PAUSE_MS=200 …      # a lighter fresh load (default 2 senders, 100 ms)
//
// Prints a table, then as its LAST line one JSON object. Figures, not assertions.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import pg from 'pg';
import { benchResource, hex, SPANS_PER_REQUEST, shutdownSpan, taskSpan } from '../workload.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'server', 'cli', 'main.js');
const SPANS = Number(process.env.BENCH_RETENTION_SPANS ?? 1_000_000);
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Task spans per seeded shutdown. */
const TASKS_PER_SHUTDOWN = 1_000;
/** Spans seeded on PostgreSQL for its bytes-per-span figure. */
const PG_SPANS = Math.min(SPANS, 50_000);
const SEED_SENDERS = 4;
/** Senders of fresh spans during the sweep, and the pause each takes between two requests (ms). */
const LOAD_SENDERS = Number(process.env.BENCH_RETENTION_SENDERS ?? 2);
const LOAD_PAUSE_MS = Number(process.env.BENCH_RETENTION_PAUSE_MS ?? 100);
/** When serve's first sweep starts after it is up (server/retention DEFAULT_FIRST_SWEEP_DELAY_MILLIS). */
const FIRST_SWEEP_DELAY_MS = 5_000;
/** Requests of the first seconds are left out of every window (a cold process, not the sweep). */
const WARM_UP_MS = 1_000;
/** How often the sweep's progress is scraped (ms); a scrape counts the store's rows, which is not free on a large store. */
const SCRAPE_MS = 5_000;
const MS = 1_000_000n;
const DAY_MS = 86_400_000;
const TARGET_P99_MS = 250;

function serve(db, args = []) {
  const child = spawn(process.execPath, [CLI, 'serve', '--otlp-port', '0', '--ui-port', '0', '--grpc-port', '0', '--db', db, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolveStart, reject) => {
    const look = () => {
      const otlp = /^otlp: (\S+)$/m.exec(out)?.[1];
      const ui = /^ui: (\S+)$/m.exec(out)?.[1];
      if (otlp && ui) {
        child.stdout.off('data', look);
        resolveStart({
          otlp,
          ui,
          output: () => out,
          stop: () =>
            new Promise((r) => {
              if (child.exitCode !== null) return r();
              child.once('exit', () => r());
              child.kill('SIGTERM');
            }),
        });
      }
    };
    child.stdout.on('data', look);
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${out}`)));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
function post(otlpUrl, body) {
  return new Promise((resolvePost, reject) => {
    const req = http.request(
      new URL('/v1/traces', otlpUrl),
      { method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolvePost(res.statusCode));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Requests of old shutdowns: `TASKS_PER_SHUTDOWN` tasks and their shutdown span each, `ageDays` old. */
function* oldRequests(total, ageDays) {
  for (let s = 0; s * TASKS_PER_SHUTDOWN < total; s++) {
    const resource = benchResource(`old-${s}`);
    const traceId = hex(16);
    const t0 = BigInt(Date.now() - ageDays * DAY_MS) * MS;
    const tasks = Math.min(TASKS_PER_SHUTDOWN, total - s * TASKS_PER_SHUTDOWN);
    for (let i = 0; i < tasks; i += SPANS_PER_REQUEST) {
      const spans = [];
      for (let k = i; k < Math.min(tasks, i + SPANS_PER_REQUEST); k++) spans.push(taskSpan(k, traceId, t0, resource));
      if (i + SPANS_PER_REQUEST >= tasks) spans.push(shutdownSpan(tasks, traceId, t0, resource));
      yield { body: ProtobufTraceSerializer.serializeRequest(spans), spans: spans.length };
    }
  }
}

async function seed(otlpUrl, total) {
  const requests = oldRequests(total, 30);
  let spans = 0;
  let refused = 0;
  const sender = async () => {
    for (;;) {
      const next = requests.next();
      if (next.done) return;
      let status = await post(otlpUrl, next.value.body);
      // Shed (429/503): wait and send again, as an exporter would.
      while (status === 429 || status === 503) {
        refused++;
        await new Promise((r) => setTimeout(r, 200));
        status = await post(otlpUrl, next.value.body);
      }
      if (status !== 200) throw new Error(`seed request answered ${status}`);
      spans += next.value.spans;
    }
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: SEED_SENDERS }, sender));
  return { spans, seconds: (performance.now() - t) / 1000, refused };
}

async function metric(uiUrl, name, labels = '') {
  const text = await (await fetch(`${uiUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{${labels}`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const quantile = (sorted, q) => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
const summary = (latencies) => {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { requests: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] ?? Number.NaN };
};

async function sweepUnderLoad(db, expected) {
  const s = await serve(db, ['--retention', '14d']);
  const up = performance.now();
  const samples = [];
  let stop = false;
  let sweepStart;
  let sweepEnd;
  const fresh = () => {
    const resource = benchResource(`fresh-${hex(3)}`);
    const traceId = hex(16);
    const t0 = BigInt(Date.now() - 60_000) * MS;
    return ProtobufTraceSerializer.serializeRequest(Array.from({ length: SPANS_PER_REQUEST }, (_, k) => taskSpan(k, traceId, t0, resource)));
  };
  const sender = async () => {
    while (!stop) {
      const body = fresh();
      const t = performance.now();
      const status = await post(s.otlp, body);
      samples.push({ at: t, ms: performance.now() - t, status });
      await new Promise((r) => setTimeout(r, LOAD_PAUSE_MS));
    }
  };
  const senders = Array.from({ length: LOAD_SENDERS }, sender);
  let deleted = 0;
  let last = -1;
  let steady = 0;
  const started = performance.now();
  const warm = started + WARM_UP_MS;
  for (;;) {
    await new Promise((r) => setTimeout(r, SCRAPE_MS));
    deleted = await metric(s.ui, 'canceltrace_retention_deleted_spans_total');
    if (deleted > 0 && sweepStart === undefined) sweepStart = up + FIRST_SWEEP_DELAY_MS;
    if (deleted === last && deleted >= expected) steady++;
    else steady = 0;
    last = deleted;
    // Three unchanged scrapes after the last delete: the deletes and the space reclaim are over.
    if (steady >= 3) {
      sweepEnd = performance.now() - 3 * SCRAPE_MS;
      break;
    }
    if (performance.now() - started > 30 * 60_000) throw new Error(`sweep did not finish: ${deleted} of ${expected} deleted`);
  }
  await new Promise((r) => setTimeout(r, 10_000));
  stop = true;
  await Promise.all(senders);
  const size = await metric(s.ui, 'canceltrace_store_size_bytes');
  const freshSpans = await metric(s.ui, 'canceltrace_otlp_spans_received_total');
  await s.stop();
  const during = samples.filter((x) => x.at >= sweepStart && x.at <= sweepEnd);
  const before = samples.filter((x) => x.at >= warm && x.at < sweepStart);
  const after = samples.filter((x) => x.at > sweepEnd);
  return {
    deleted,
    sweepSeconds: (sweepEnd - sweepStart) / 1000,
    before: summary(before.map((x) => x.ms)),
    during: summary(during.map((x) => x.ms)),
    after: summary(after.map((x) => x.ms)),
    non200: samples.filter((x) => x.status !== 200).length,
    sizeAfterBytes: size,
    freshSpans,
  };
}

async function bytesPerSpanPg() {
  if (PG_URL === 'off') return undefined;
  const admin = new pg.Client({ connectionString: PG_URL });
  try {
    await admin.connect();
  } catch (error) {
    return { skipped: `PostgreSQL unreachable at ${PG_URL}: ${error.message}` };
  }
  const schema = `bench_retention_${hex(4)}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  try {
    const s = await serve(url.toString());
    const seeded = await seed(s.otlp, PG_SPANS);
    await admin.query(`VACUUM ANALYZE ${schema}.spans`);
    const bytes = await metric(s.ui, 'canceltrace_store_size_bytes');
    await s.stop();
    return { spans: seeded.spans, bytes, bytesPerSpan: bytes / seeded.spans };
  } finally {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'canceltrace-retention-bench-'));
const db = join(dir, 'retention.db');
try {
  const seeder = await serve(db);
  const seeded = await seed(seeder.otlp, SPANS);
  const sqliteBytes = await metric(seeder.ui, 'canceltrace_store_size_bytes');
  await seeder.stop();
  const fileBefore = statSync(db).size;
  console.log(
    `seeded ${seeded.spans} old spans in ${seeded.seconds.toFixed(1)} s (${seeded.refused} shed and resent); SQLite ${(sqliteBytes / 2 ** 20).toFixed(1)} MiB in use, file ${(fileBefore / 2 ** 20).toFixed(1)} MiB`,
  );
  const sweep = await sweepUnderLoad(db, seeded.spans);
  const fileAfter = statSync(db).size;
  const pgFigures = await bytesPerSpanPg();
  const row = (label, s) =>
    `${label.padEnd(14)} ${String(s.requests).padStart(8)} ${s.p50.toFixed(1).padStart(9)} ${s.p99.toFixed(1).padStart(9)} ${s.max.toFixed(1).padStart(9)}`;
  console.log(
    `\nsweep of ${sweep.deleted} spans took ${sweep.sweepSeconds.toFixed(1)} s; ingest of ${SPANS_PER_REQUEST}-span requests, ${LOAD_SENDERS} sender(s), ${LOAD_PAUSE_MS} ms between requests:`,
  );
  console.log(`${'window'.padEnd(14)} ${'requests'.padStart(8)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'max ms'.padStart(9)}`);
  console.log(row('before sweep', sweep.before));
  console.log(row('during sweep', sweep.during));
  console.log(row('after sweep', sweep.after));
  console.log(`non-200 answers: ${sweep.non200}; target p99 during the sweep ≤ ${TARGET_P99_MS} ms: ${sweep.during.p99 <= TARGET_P99_MS ? 'met' : 'NOT met'}`);
  console.log(
    `SQLite pages in use: ${(sqliteBytes / 2 ** 20).toFixed(1)} MiB of old spans → ${(sweep.sizeAfterBytes / 2 ** 20).toFixed(1)} MiB after the sweep, ` +
      `holding the ${sweep.freshSpans} fresh spans sent meanwhile; file ${(fileBefore / 2 ** 20).toFixed(1)} → ${(fileAfter / 2 ** 20).toFixed(1)} MiB`,
  );
  console.log(`bytes per task span: SQLite ${(sqliteBytes / seeded.spans).toFixed(0)}`);
  if (pgFigures?.bytesPerSpan) console.log(`bytes per task span: PostgreSQL ${pgFigures.bytesPerSpan.toFixed(0)} (${pgFigures.spans} spans, tables + indices)`);
  else if (pgFigures) console.log(pgFigures.skipped);
  console.log(
    JSON.stringify({
      bench: 'retention',
      oldSpans: seeded.spans,
      loadSenders: LOAD_SENDERS,
      loadPauseMs: LOAD_PAUSE_MS,
      ingestP99MsAfter: Number(sweep.after.p99.toFixed(1)),
      sweepSeconds: Number(sweep.sweepSeconds.toFixed(2)),
      ingestP99MsBefore: Number(sweep.before.p99.toFixed(1)),
      ingestP99MsDuringSweep: Number(sweep.during.p99.toFixed(1)),
      ingestP50MsDuringSweep: Number(sweep.during.p50.toFixed(1)),
      ingestMaxMsDuringSweep: Number(sweep.during.max.toFixed(1)),
      requestsDuringSweep: sweep.during.requests,
      targetP99Ms: TARGET_P99_MS,
      met: sweep.during.p99 <= TARGET_P99_MS,
      non200: sweep.non200,
      sqliteFileMiBBefore: Number((fileBefore / 2 ** 20).toFixed(1)),
      sqliteFileMiBAfter: Number((fileAfter / 2 ** 20).toFixed(1)),
      sqliteInUseMiBAfter: Number((sweep.sizeAfterBytes / 2 ** 20).toFixed(1)),
      freshSpansDuringRun: sweep.freshSpans,
      bytesPerTaskSpanSqlite: Math.round(sqliteBytes / seeded.spans),
      bytesPerTaskSpanPg: pgFigures?.bytesPerSpan ? Math.round(pgFigures.bytesPerSpan) : null,
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
