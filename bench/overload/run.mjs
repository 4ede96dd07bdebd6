// Overload and lock benchmark (issue 12): how canceltrace serve sheds ingest and stays responsive.
//
// Phase "flood": SENDERS concurrent senders post 512-span protobuf batches for DURATION_S, honouring
// Retry-After as the official exporters do, while a prober reads /api/health and the dashboard's
// shutdown list every PROBE_MS. Phase "gzip": 96 concurrent gzip bodies that inflate to 15.5 MiB
// each (peak RSS). Phase "locked": another connection holds the SQLite write lock for LOCK_S while
// senders post. Prints the figures and, as its last line, one JSON object.
//
//   npm run build && node bench/overload/run.mjs            # short (CI): 5 s, 32 senders
//   BENCH_LONG=1 node bench/overload/run.mjs                # long: 30 s, 128 senders

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import Database from 'better-sqlite3';
import { benchResource, fleetBodies, hex, peakRssMb, readable, startServe } from '../workload.mjs';

const LONG = process.env.BENCH_LONG === '1';
const DURATION_S = LONG ? 30 : 5;
const SENDERS = LONG ? 128 : 32;
const GZIP_SENDERS = 96;
const GZIP_INFLATED_BYTES = 15.5 * 1024 * 1024;
const LOCK_S = LONG ? 10 : 3;
const LOCK_SENDERS = 16;
const PROBE_MS = 100;
const NS_PER_S = 1_000_000_000n;
const CLI = fileURLToPath(new URL('../../dist/server/cli/main.js', import.meta.url));

function pct(values, p) {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** `canceltrace serve` without its /metrics, on free ports and the file `db`. */
function startServeNoMetrics(db) {
  return startServe(CLI, db, [], ['--metrics', 'off']);
}

/** Reads /api/health and the shutdown list every PROBE_MS until `stop()`; returns their latencies (ms). */
function probe(ui) {
  const health = [];
  const list = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const [path, into] of [
        ['/api/health', health],
        ['/api/shutdowns?limit=50', list],
      ]) {
        const t = performance.now();
        const res = await fetch(`${ui}${path}`);
        await res.arrayBuffer();
        into.push(performance.now() - t);
      }
      await new Promise((r) => setTimeout(r, PROBE_MS));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { health, list };
    },
  };
}

/** `n` senders posting `bodies` round-robin until `until`, waiting Retry-After when shed. */
async function send(otlp, bodies, n, until, { gzip = false, once = false } = {}) {
  const statuses = {};
  const latencies = [];
  let acceptedSpans = 0;
  const acceptedBodies = new Set();
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let first = true; once ? first : Date.now() < until; first = false) {
        const index = next++ % bodies.length;
        const { body, spans } = bodies[index];
        const t = performance.now();
        let status;
        let retryAfter;
        try {
          const res = await fetch(`${otlp}/v1/traces`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-protobuf', ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
            body,
          });
          await res.arrayBuffer();
          status = res.status;
          retryAfter = Number(res.headers.get('retry-after') ?? 0);
        } catch (error) {
          status = `error:${error.cause?.code ?? error.message}`;
        }
        latencies.push(performance.now() - t);
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === 200) {
          acceptedSpans += spans;
          acceptedBodies.add(index);
        } else if (retryAfter > 0) await new Promise((r) => setTimeout(r, retryAfter * 1000));
      }
    }),
  );
  // Bodies are sent again round-robin; the store keeps one record per span, so count each body once.
  const distinctSpans = [...acceptedBodies].reduce((sum, i) => sum + bodies[i].spans, 0);
  return { statuses, acceptedSpans, distinctSpans, p50: pct(latencies, 50), p99: pct(latencies, 99) };
}

function gzipBodies(count) {
  // Spans with long, repetitive attributes: ~15.5 MiB of protobuf that gzip shrinks to well under 1 MiB.
  const resource = benchResource('gzip');
  const traceId = hex(16);
  const spans = [];
  const pad = 'x'.repeat(64 * 1024);
  for (let i = 0; spans.length * (pad.length + 200) < GZIP_INFLATED_BYTES; i++) {
    const start = 1_700_000_000n * NS_PER_S + BigInt(i);
    spans.push(readable(traceId, (i + 1).toString(16).padStart(16, '0'), `big-${i}`, start, start + NS_PER_S, { pad }, [], resource));
  }
  const body = gzipSync(ProtobufTraceSerializer.serializeRequest(spans));
  return Array.from({ length: count }, () => ({ body, spans: spans.length }));
}

const dir = mkdtempSync(join(tmpdir(), 'canceltrace-overload-'));
const results = {};
try {
  // Flood
  {
    const db = join(dir, 'flood.db');
    const served = await startServeNoMetrics(db);
    const bodies = fleetBodies(512 * (LONG ? 2048 : 256), 'protobuf');
    const prober = probe(served.ui);
    const sent = await send(served.otlp, bodies, SENDERS, Date.now() + DURATION_S * 1000);
    const { health, list } = await prober.stop();
    const stored = (await (await fetch(`${served.ui}/api/health`)).json()).spans;
    await served.stop();
    results.flood = {
      senders: SENDERS,
      seconds: DURATION_S,
      statuses: sent.statuses,
      ingestP50Ms: Math.round(sent.p50),
      ingestP99Ms: Math.round(sent.p99),
      healthP50Ms: Math.round(pct(health, 50)),
      healthP99Ms: Math.round(pct(health, 99)),
      listP99Ms: Math.round(pct(list, 99)),
      acknowledgedDistinctSpans: sent.distinctSpans,
      storedSpans: stored,
    };
    console.log(
      `flood: ${SENDERS} senders × ${DURATION_S} s: statuses ${JSON.stringify(sent.statuses)}; ingest p50 ${results.flood.ingestP50Ms} ms p99 ${results.flood.ingestP99Ms} ms; /api/health p50 ${results.flood.healthP50Ms} ms p99 ${results.flood.healthP99Ms} ms; shutdown list p99 ${results.flood.listP99Ms} ms; distinct spans acknowledged ${sent.distinctSpans}, stored ${stored}`,
    );
  }
  // Gzip bodies
  {
    const served = await startServeNoMetrics(join(dir, 'gzip.db'));
    const before = peakRssMb(served.pid);
    const bodies = gzipBodies(1);
    const sent = await send(served.otlp, bodies, GZIP_SENDERS, 0, { gzip: true, once: true });
    const peak = peakRssMb(served.pid);
    await served.stop();
    results.gzip = {
      concurrent: GZIP_SENDERS,
      compressedKiB: Math.round(bodies[0].body.length / 1024),
      statuses: sent.statuses,
      peakRssMb: Math.round(peak),
      rssBeforeMb: Math.round(before),
    };
    console.log(
      `gzip: ${GZIP_SENDERS} concurrent bodies of ${results.gzip.compressedKiB} KiB inflating to 15.5 MiB: statuses ${JSON.stringify(sent.statuses)}; peak RSS ${results.gzip.peakRssMb} MB (at start ${results.gzip.rssBeforeMb} MB)`,
    );
  }
  // Locked store
  {
    const db = join(dir, 'locked.db');
    const served = await startServeNoMetrics(db);
    const lock = new Database(db);
    lock.exec('BEGIN IMMEDIATE');
    const prober = probe(served.ui);
    const sent = await send(served.otlp, fleetBodies(512 * 8, 'protobuf'), LOCK_SENDERS, Date.now() + LOCK_S * 1000);
    const { health, list } = await prober.stop();
    const said = (await (await fetch(`${served.ui}/api/health`)).json()).status;
    lock.exec('ROLLBACK');
    lock.close();
    await served.stop();
    results.locked = {
      seconds: LOCK_S,
      statuses: sent.statuses,
      healthP99Ms: Math.round(pct(health, 99)),
      listP99Ms: Math.round(pct(list, 99)),
      healthSaid: said,
    };
    console.log(
      `locked: write lock held ${LOCK_S} s, ${LOCK_SENDERS} senders: statuses ${JSON.stringify(sent.statuses)}; /api/health p99 ${results.locked.healthP99Ms} ms (says "${said}"); shutdown list p99 ${results.locked.listP99Ms} ms`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify({ bench: 'overload', long: LONG, ...results }));
