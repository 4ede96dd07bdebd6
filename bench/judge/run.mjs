// Judge benchmark, as issue 11 defines it: shutdowns of 1,000, 10,000, 100,000 and 1,000,000 tasks read
// through `GET /api/shutdowns/:id?tasks=compact` cold (a freshly started serve) and warm (again), beside
// a bare read of the same rows from SQLite; the p99 of OTLP POSTs sent while the largest one is read
// cold; the serve's peak RSS; and whether the full view of the largest answers.
//
//   npm run bench:judge                                   # 1k, 10k, 100k, 1M
//   BENCH_JUDGE_SIZES=1000,10000,100000 npm run bench:judge   # a quick run (the 1M figures come from the largest size)
//
// Prints a table, then as its LAST line one JSON object. Figures, not assertions.

import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { fleetBodies, peakRssMb, shutdownRequests, startServe } from '../workload.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'server', 'cli', 'main.js');
const SIZES = (process.env.BENCH_JUDGE_SIZES ?? '1000,10000,100000,1000000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
/** Spans per POST sent while the largest shutdown is read (a small exporter batch). */
const PROBE_SPANS = 64;
/** At most one probe POST per this many milliseconds. */
const PROBE_INTERVAL_MS = 20;
/** The size the JSON line reports as `tasks`. */
const HEADLINE = 100_000;

const mod = (p) => import(pathToFileURL(join(ROOT, 'dist', p)).href);
const [{ decodeTraceRequest }, { toSpanRecord }, { SqliteStore }, judge] = await Promise.all([
  mod('collector/otlp/decode.js'),
  mod('collector/processor/toSpanRecord.js'),
  mod('server/store/SqliteStore.js'),
  mod('server/judge/index.js'),
]);

/** Writes a shutdown of `tasks` tasks into the store at `path` as the service would (decode, judge at ingest, group commit). */
async function ingest(path, tasks, instance) {
  const store = SqliteStore.open({ path, verdictOf: judge.judgeTaskAlone, judgmentOf: (t) => judge.judgeAtIngest(t) });
  let shutdownId;
  let inFlight = [];
  for (const request of shutdownRequests(tasks, 'protobuf', instance)) {
    if (request.shutdownId) shutdownId = request.shutdownId;
    inFlight.push(store.consume(decodeTraceRequest(request.body, 'protobuf').spans.map(toSpanRecord)));
    if (inFlight.length >= 8) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);
  await store.close();
  return shutdownId;
}

/** A bare read of the same task rows: every row body of the instance through one better-sqlite3 statement. */
function bareReadMs(path, instance) {
  const db = new Database(path, { readonly: true });
  try {
    const statement = db.prepare("SELECT trace_id, span_id, start_ns, end_ns, record FROM spans WHERE role = 'task' AND instance = ?").raw();
    const t = performance.now();
    let n = 0;
    for (const row of statement.iterate(instance)) n += row[4].length > 0 ? 1 : 0;
    const ms = performance.now() - t;
    return { ms, rows: n };
  } finally {
    db.close();
  }
}

/** GETs a URL to the end; returns { ms, status, bytes }. */
function get(url) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    http
      .get(url, (res) => {
        let bytes = 0;
        res.on('data', (d) => {
          bytes += d.length;
        });
        res.on('end', () => resolve({ ms: performance.now() - t, status: res.statusCode, bytes }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** POSTs the probe bodies one after another until `done()`; returns each request's latency in ms. */
async function probe(otlpUrl, bodies, done) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL('/v1/traces', otlpUrl);
  const latencies = [];
  let i = 0;
  while (!done()) {
    const { body } = bodies[i++ % bodies.length];
    const t = performance.now();
    const answered = await new Promise((resolve) => {
      const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } }, (res) => {
        res.resume();
        res.on('end', () => resolve(true));
      });
      req.on('error', () => resolve(false));
      req.end(body);
    });
    // A POST the server never answered counts as the slowest possible.
    const took = answered ? performance.now() - t : Number.POSITIVE_INFINITY;
    latencies.push(took);
    // An exporter's pace, not a flood: the probe must not be what keeps the server busy.
    if (!answered) break;
    if (took < PROBE_INTERVAL_MS) await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS - took));
  }
  agent.destroy();
  return latencies;
}

const p99 = (xs) => {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)];
};

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'canceltrace-bench-judge-'));
  const rows = [];
  try {
    const largest = Math.max(...SIZES);
    for (const tasks of SIZES) {
      const path = join(dir, `judge-${tasks}.db`);
      const instance = `judge-${tasks}`;
      const tIngest = performance.now();
      const shutdownId = await ingest(path, tasks, instance);
      const ingestMs = performance.now() - tIngest;
      const bare = bareReadMs(path, instance);
      const serve = await startServe(CLI, path);
      try {
        const compact = new URL(`/api/shutdowns/${shutdownId}?tasks=compact`, serve.ui);
        // A read that fails (no answer, a crash) is a figure too: recorded, and the run goes on.
        const failed = (error) => ({ ms: Number.NaN, status: `error: ${error.message}`, bytes: 0 });
        let latencies = [];
        let cold;
        if (tasks === largest) {
          const bodies = fleetBodies(PROBE_SPANS * 8, 'protobuf', PROBE_SPANS);
          let finished = false;
          const probing = probe(serve.otlp, bodies, () => finished);
          cold = await get(compact)
            .catch(failed)
            .finally(() => {
              finished = true;
            });
          latencies = await probing;
        } else cold = await get(compact).catch(failed);
        const warm = await get(compact).catch(failed);
        const full = tasks === largest ? await get(new URL(`/api/shutdowns/${shutdownId}`, serve.ui)).catch(failed) : undefined;
        rows.push({ tasks, ingestMs, bare, cold, warm, full, rss: peakRssMb(serve.pid), p99: p99(latencies), probes: latencies.length });
        const said = serve.stderr().trim();
        if (said) console.log(`serve (${tasks} tasks) said: ${said.split('\n').slice(0, 3).join(' | ')}`);
      } finally {
        await serve.stop();
      }
      rmSync(path, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const fmt = (n) => (n === undefined || n === null ? '-' : Math.round(n).toLocaleString('en-US'));
  console.log('tasks        ingest ms  bare read ms  cold ms  warm ms  cold/bare  status  MB sent   peak RSS MB  full view          POST p99 ms (n)');
  for (const r of rows) {
    console.log(
      `${fmt(r.tasks).padStart(9)}  ${fmt(r.ingestMs).padStart(9)}  ${fmt(r.bare.ms).padStart(12)}  ${fmt(r.cold.ms).padStart(7)}  ${fmt(r.warm.ms).padStart(7)}  ${(r.cold.ms / r.bare.ms).toFixed(1).padStart(9)}  ${String(r.cold.status).padStart(6)}  ${(r.cold.bytes / 1e6).toFixed(1).padStart(7)}  ${fmt(r.rss).padStart(12)}  ${r.full ? `${r.full.status} ${fmt(r.full.ms)} ms ${(r.full.bytes / 1e6).toFixed(0)} MB` : '-'}`.padEnd(
        150,
      ) + (r.p99 === null ? '' : `${r.p99.toFixed(1)} (${r.probes})`),
    );
  }
  const headline = rows.find((r) => r.tasks === HEADLINE) ?? rows[rows.length - 1];
  const big = rows[rows.length - 1];
  const summary = {
    tasks: headline.tasks,
    judge_ms: Math.round(headline.cold.ms),
    raw_read_ms: Math.round(headline.bare.ms),
    ratio: Number((headline.cold.ms / headline.bare.ms).toFixed(2)),
    judge_1m_ms: big.tasks >= 1_000_000 && Number.isFinite(big.cold.ms) ? Math.round(big.cold.ms) : null,
    rss_1m_mb: big.tasks >= 1_000_000 ? Math.round(big.rss) : null,
    ingest_p99_during_judge_ms: big.p99 === null ? null : Number(big.p99.toFixed(1)),
  };
  if (big.tasks < 1_000_000)
    console.log(
      `(largest size ${big.tasks}: the 1M figures are null; its cold read ${fmt(big.cold.ms)} ms, peak RSS ${fmt(big.rss)} MB, POST p99 ${summary.ingest_p99_during_judge_ms} ms)`,
    );
  console.log(JSON.stringify(summary));
}

await main();
