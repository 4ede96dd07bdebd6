// Judge benchmark, as issue 11 defines it: shutdowns of 1,000, 10,000, 100,000 and 1,000,000 tasks read
// through `GET /api/shutdowns/:id?tasks=compact` cold (a freshly started serve) and warm (again), beside
// a bare read of the same rows from SQLite; the p99 of OTLP POSTs sent while the largest one is read
// cold; the serve's peak RSS; and whether the full view of the largest answers.
//
// Each shutdown goes the service's whole way: POSTed over OTLP to a serve, which settles it and keeps
// its answers (server/api/answers.ts); then a restart and the cold read (`cold`: the kept answer); then
// the kept answers deleted, another restart and the cold read again (`judged cold`: judged from the
// task views, what a shutdown costs that was never settled by a running service).
//
//   npm run bench:judge                                   # 1k, 10k, 100k, 1M
//   BENCH_JUDGE_SIZES=1000,10000,100000 npm run bench:judge   # a quick run (the 1M figures come from the largest size)
//
// Prints a table, then as its LAST line one JSON object. Figures, not assertions.

import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
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
/** Concurrent senders of the ingest. */
const SENDERS = 4;
/** How long the serve may take to settle a shutdown and keep its answers, in ms. */
const KEPT_TIMEOUT_MS = 10 * 60_000;
/** The size the JSON line reports as `tasks`. */
const HEADLINE = 100_000;

/** POSTs a shutdown of `tasks` tasks to a running serve as an exporter fleet would: {@link SENDERS} requests at a time, a 503 retried after its Retry-After. */
async function ingest(otlpUrl, tasks, instance) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: SENDERS });
  const url = new URL('/v1/traces', otlpUrl);
  const requests = shutdownRequests(tasks, 'protobuf', instance);
  let shutdownId;
  const send = (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, retryAfter: Number(res.headers['retry-after'] ?? 1) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const sender = async () => {
    for (let next = requests.next(); !next.done; next = requests.next()) {
      if (next.value.shutdownId) shutdownId = next.value.shutdownId;
      for (;;) {
        const { status, retryAfter } = await send(next.value.body);
        if (status === 200) break;
        if (status !== 503 && status !== 429) throw new Error(`ingest: POST answered ${status}`);
        await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
      }
    }
  };
  await Promise.all(Array.from({ length: SENDERS }, sender));
  agent.destroy();
  return shutdownId;
}

/** Waits until the serve has kept both answers of the shutdown (it settled and they were derived); resolves with the ms waited. */
async function keptAnswers(path, shutdownId) {
  const t = performance.now();
  const deadline = t + KEPT_TIMEOUT_MS;
  for (;;) {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    let n;
    try {
      n = db.prepare('SELECT count(*) FROM shutdown_answers WHERE shutdown_id = ?').pluck().get(shutdownId);
    } finally {
      db.close();
    }
    if (n === 2) return performance.now() - t;
    if (performance.now() > deadline) throw new Error(`the answers of ${shutdownId} were not kept within ${KEPT_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Deletes the kept answers (bare SQLite), so that the next serve has to judge the shutdown from its task views. */
function dropAnswers(path) {
  const db = new Database(path);
  try {
    db.exec('DELETE FROM shutdown_answers; DELETE FROM shutdown_answer_chunks');
  } finally {
    db.close();
  }
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
        res.on('end', () => resolve({ ms: performance.now() - t, status: res.statusCode, bytes, answer: res.headers['x-canceltrace-answer'] ?? null }));
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

/** A read that fails (no answer, a crash) is a figure too: recorded, and the run goes on. */
const failed = (error) => ({ ms: Number.NaN, status: `error: ${error.message}`, bytes: 0, answer: null });

/**
 * Starts a serve on `path`, reads `url(serve)` once (cold), probing OTLP POSTs meanwhile when `probing`,
 * then `more(serve)`; stops it. Resolves with the cold read, the probes' p99, the serve's peak RSS and what `more` gave.
 */
async function readCold(path, url, probing, more) {
  const serve = await startServe(CLI, path);
  try {
    let latencies = [];
    let cold;
    if (probing) {
      const bodies = fleetBodies(PROBE_SPANS * 8, 'protobuf', PROBE_SPANS);
      let finished = false;
      const probes = probe(serve.otlp, bodies, () => finished);
      cold = await get(url(serve))
        .catch(failed)
        .finally(() => {
          finished = true;
        });
      latencies = await probes;
    } else cold = await get(url(serve)).catch(failed);
    const extra = await more(serve);
    const said = serve.stderr().trim();
    if (said) console.log(`serve said: ${said.split('\n').slice(0, 3).join(' | ')}`);
    return { cold, ...extra, rss: peakRssMb(serve.pid), p99: p99(latencies), probes: latencies.length };
  } finally {
    await serve.stop();
  }
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
      // 1. The service takes the shutdown over OTLP, settles it and keeps its answers.
      const first = await startServe(CLI, path);
      let ingestMs;
      let keptMs;
      let shutdownId;
      let rss;
      try {
        const tIngest = performance.now();
        shutdownId = await ingest(first.otlp, tasks, instance);
        ingestMs = performance.now() - tIngest;
        keptMs = await keptAnswers(path, shutdownId);
        rss = peakRssMb(first.pid);
      } finally {
        await first.stop();
      }
      const bare = bareReadMs(path, instance);
      // 2. After a restart: the kept answer, cold then warm.
      const compact = (serve) => new URL(`/api/shutdowns/${shutdownId}?tasks=compact`, serve.ui);
      const kept = await readCold(path, compact, tasks === largest, async (serve) => ({
        warm: await get(compact(serve)).catch(failed),
        full: tasks === largest ? await get(new URL(`/api/shutdowns/${shutdownId}`, serve.ui)).catch(failed) : undefined,
      }));
      // 3. After a restart without the kept answers: judged from the task views.
      dropAnswers(path);
      const judged = await readCold(path, compact, tasks === largest, async () => ({}));
      rows.push({
        tasks,
        ingestMs,
        keptMs,
        bare,
        cold: kept.cold,
        warm: kept.warm,
        full: kept.full,
        judged: judged.cold,
        rss: Math.max(rss ?? 0, kept.rss ?? 0, judged.rss ?? 0),
        rssEach: [rss, kept.rss, judged.rss],
        p99: judged.p99,
        probes: judged.probes,
        keptP99: kept.p99,
      });
      rmSync(path, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const fmt = (n) => (n === undefined || n === null || Number.isNaN(n) ? '-' : Math.round(n).toLocaleString('en-US'));
  console.log(
    'tasks      ingest ms  kept after ms  bare read ms  cold ms (answer)  warm ms  cold/bare  judged cold ms  status  MB sent  peak RSS MB (settle/kept/judged)  full view            POST p99 ms (n): kept read / judged read',
  );
  for (const r of rows) {
    const cold = `${fmt(r.cold.ms)} (${r.cold.answer ?? '?'})`;
    const full = r.full ? `${r.full.status} ${fmt(r.full.ms)} ms ${(r.full.bytes / 1e6).toFixed(0)} MB` : '-';
    const probes = r.p99 === null ? '' : `${r.keptP99?.toFixed(1) ?? '-'} / ${r.p99.toFixed(1)} (${r.probes})`;
    console.log(
      `${fmt(r.tasks).padStart(9)}  ${fmt(r.ingestMs).padStart(9)}  ${fmt(r.keptMs).padStart(13)}  ${fmt(r.bare.ms).padStart(12)}  ${cold.padStart(16)}  ${fmt(r.warm.ms).padStart(7)}  ${(r.cold.ms / r.bare.ms).toFixed(1).padStart(9)}  ${`${fmt(r.judged.ms)} (${r.judged.answer ?? '?'})`.padStart(14)}  ${String(r.cold.status).padStart(6)}  ${(r.cold.bytes / 1e6).toFixed(1).padStart(7)}  ${`${fmt(r.rss)} (${r.rssEach.map(fmt).join('/')})`.padStart(32)}  ${full.padEnd(19)} ${probes}`,
    );
  }
  console.log(
    'cold: the first read after a restart of a shutdown the service settled (its answer kept); judged cold: the same after the kept answers were deleted (judged from the task views).',
  );
  const headline = rows.find((r) => r.tasks === HEADLINE) ?? rows[rows.length - 1];
  const big = rows[rows.length - 1];
  const is1m = big.tasks >= 1_000_000;
  const summary = {
    tasks: headline.tasks,
    judge_ms: Math.round(headline.cold.ms),
    raw_read_ms: Math.round(headline.bare.ms),
    ratio: Number((headline.cold.ms / headline.bare.ms).toFixed(2)),
    judge_1m_ms: is1m && Number.isFinite(big.cold.ms) ? Math.round(big.cold.ms) : null,
    rss_1m_mb: is1m ? Math.round(big.rss) : null,
    // the worse of the two reads: during the judged one the server works far longer
    ingest_p99_during_judge_ms: big.p99 === null ? null : Number(Math.max(big.p99, big.keptP99 ?? 0).toFixed(1)),
    judged_cold_ms: Math.round(headline.judged.ms),
    judged_cold_1m_ms: is1m && Number.isFinite(big.judged.ms) ? Math.round(big.judged.ms) : null,
  };
  if (!is1m)
    console.log(
      `(largest size ${big.tasks}: the 1M figures are null; its cold read ${fmt(big.cold.ms)} ms, judged ${fmt(big.judged.ms)} ms, peak RSS ${fmt(big.rss)} MB, POST p99 ${summary.ingest_p99_during_judge_ms} ms)`,
    );
  console.log(JSON.stringify(summary));
}

await main();
