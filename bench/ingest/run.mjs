// Ingest benchmark, as issue 11 defines it: realistic task spans (10–20 attributes, 2–6 events, 512 per
// request), protobuf and JSON, 4 concurrent senders against `canceltrace serve` on loopback; and in the
// same run the floor: the same bytes decoded by bare protobufjs / JSON.parse and the same rows inserted
// by a bare better-sqlite3 prepared statement into a table with only its primary key (10,000 rows per
// transaction, WAL, synchronous=NORMAL), and by a bare pg client (multi-row insert) into PostgreSQL.
//
//   npm run bench:ingest                     # 200,000 spans per run
//   BENCH_INGEST_SPANS=20000 npm run bench:ingest   # a quick run
//   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test (default); BENCH_PG_URL=off skips PostgreSQL
//
// Prints a table, then as its LAST line one JSON object. Figures, not assertions.

import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import pg from 'pg';
import { fleetBodies, hex, peakRssMb, startServe } from '../workload.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'server', 'cli', 'main.js');
/** Spans sent per encoding (and per store). */
const SPANS = Number(process.env.BENCH_INGEST_SPANS ?? 200_000);
/** Concurrent senders, as the issue defines the workload. */
const SENDERS = 4;
/** Passes of each in-process floor; the fastest counts. */
const FLOOR_PASSES = 3;
/** Rows per transaction of the bare floors. */
const FLOOR_ROWS_PER_TX = 10_000;
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** POSTs every body with `SENDERS` concurrent keep-alive senders; returns { ms, acknowledged, failed }. */
async function send(otlpUrl, bodies, contentType) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: SENDERS });
  const url = new URL('/v1/traces', otlpUrl);
  let next = 0;
  let acknowledged = 0;
  let failed = 0;
  const post = (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': body.length } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end(body);
    });
  const sender = async () => {
    while (next < bodies.length) {
      const item = bodies[next++];
      const status = await post(item.body);
      if (status === 200) acknowledged += item.spans;
      else failed += item.spans;
    }
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: SENDERS }, sender));
  const ms = performance.now() - t;
  agent.destroy();
  return { ms, acknowledged, failed };
}

/** The rows the floors insert: ids, name, times and the span's attributes and events as JSON text. */
function floorRows(jsonBodies) {
  const rows = [];
  for (const { body } of jsonBodies) {
    for (const rs of JSON.parse(Buffer.from(body).toString('utf8')).resourceSpans)
      for (const ss of rs.scopeSpans)
        for (const s of ss.spans)
          rows.push([s.traceId, s.spanId, s.name, BigInt(s.startTimeUnixNano), BigInt(s.endTimeUnixNano), JSON.stringify({ a: s.attributes, e: s.events })]);
  }
  return rows;
}

/** One floor measured in a worker thread of its own (floorThread.mjs): the fastest of FLOOR_PASSES passes, in ms. */
function floorInThread(kind, input, dir) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./floorThread.mjs', import.meta.url), {
      workerData: { kind, input, root: ROOT, dir, passes: FLOOR_PASSES, rowsPerTx: FLOOR_ROWS_PER_TX },
    });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`floor thread (${kind}) exited with code ${code}`)));
  });
}

async function pgFloorMs(rows, schema) {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(
      `CREATE TABLE ${schema}.spans (trace_id text NOT NULL, span_id text NOT NULL, name text, start_ns bigint, end_ns bigint, body text, PRIMARY KEY (trace_id, span_id))`,
    );
    const t = performance.now();
    for (let i = 0; i < rows.length; i += FLOOR_ROWS_PER_TX) {
      const chunk = rows.slice(i, i + FLOOR_ROWS_PER_TX);
      const cols = [0, 1, 2, 3, 4, 5].map((c) => chunk.map((r) => (typeof r[c] === 'bigint' ? r[c].toString() : r[c])));
      await client.query(`INSERT INTO ${schema}.spans SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[])`, cols);
    }
    return performance.now() - t;
  } finally {
    await client.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined);
    await client.end();
  }
}

/** One serve run: POST every body, stop, and count what the store kept. */
async function serveRun(db, bodies, contentType, countStored) {
  const serve = await startServe(CLI, db);
  try {
    const result = await send(serve.otlp, bodies, contentType);
    const health = await (await fetch(new URL('/api/health', serve.ui))).json();
    result.peakRssMb = peakRssMb(serve.pid);
    await serve.stop();
    result.stored = countStored ? await countStored() : health.spans;
    return result;
  } finally {
    await serve.stop();
  }
}

const rate = (spans, ms) => Math.round((spans * 1000) / ms);
const fmt = (n) => (n === undefined || Number.isNaN(n) ? '-' : typeof n === 'number' ? n.toLocaleString('en-US', { maximumFractionDigits: 2 }) : String(n));

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'canceltrace-bench-ingest-'));
  try {
    const protobuf = fleetBodies(SPANS, 'protobuf');
    const json = fleetBodies(SPANS, 'json');
    const spans = protobuf.reduce((n, b) => n + b.spans, 0);
    const rows = floorRows(json);

    // Floors, single-threaded, each in a thread whose heap holds only its input; the fastest of
    // FLOOR_PASSES passes counts (a slow floor flatters the ratio).
    const pbDecodeMs = await floorInThread(
      'protobuf',
      protobuf.map((b) => b.body),
      dir,
    );
    const jsonDecodeMs = await floorInThread(
      'json',
      json.map((b) => b.body),
      dir,
    );
    const sqliteInsertMs = await floorInThread('sqlite', rows, dir);
    const pgUsable = PG_URL !== 'off';
    const pgInsertMs = pgUsable ? await pgFloorMs(rows, `bench_floor_${hex(4)}`) : undefined;

    const sqlitePb = await serveRun(join(dir, 'pb.db'), protobuf, 'application/x-protobuf', () => countSqlite(join(dir, 'pb.db')));
    const sqliteJson = await serveRun(join(dir, 'json.db'), json, 'application/json', () => countSqlite(join(dir, 'json.db')));
    let pgPb;
    if (pgUsable) {
      const schema = `bench_serve_${hex(4)}`;
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      try {
        const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
        pgPb = await serveRun(url, protobuf, 'application/x-protobuf', async () =>
          Number((await admin.query(`SELECT count(*) AS n FROM ${schema}.spans`)).rows[0].n),
        );
      } finally {
        await admin.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined);
        await admin.end();
      }
    }

    const floor = rate(spans, pbDecodeMs + sqliteInsertMs);
    const pgFloor = pgInsertMs === undefined ? undefined : rate(spans, pbDecodeMs + pgInsertMs);
    const runs = [sqlitePb, sqliteJson, ...(pgPb ? [pgPb] : [])];
    const summary = {
      protobuf_spans_per_s: rate(sqlitePb.acknowledged, sqlitePb.ms),
      json_spans_per_s: rate(sqliteJson.acknowledged, sqliteJson.ms),
      floor_spans_per_s: floor,
      ratio_to_floor: Number((rate(sqlitePb.acknowledged, sqlitePb.ms) / floor).toFixed(3)),
      acknowledged: runs.reduce((n, r) => n + r.acknowledged, 0),
      stored: runs.reduce((n, r) => n + r.stored, 0),
      peak_rss_mb: Math.round(Math.max(...runs.map((r) => r.peakRssMb ?? 0))),
      pg_spans_per_s: pgPb ? rate(pgPb.acknowledged, pgPb.ms) : null,
      pg_floor_spans_per_s: pgFloor ?? null,
    };

    const table = [
      ['what', 'ms', 'spans/s', 'note'],
      ['floor: protobufjs decode', pbDecodeMs, rate(spans, pbDecodeMs), `${protobuf.length} requests of ≤512`],
      ['floor: JSON.parse', jsonDecodeMs, rate(spans, jsonDecodeMs), ''],
      ['floor: better-sqlite3 insert (PK only)', sqliteInsertMs, rate(spans, sqliteInsertMs), `${FLOOR_ROWS_PER_TX} rows/tx, WAL, NORMAL`],
      ['floor: protobuf decode + sqlite insert', pbDecodeMs + sqliteInsertMs, floor, 'single-threaded floor'],
      ['floor: pg multi-row insert (PK only)', pgInsertMs, pgInsertMs && rate(spans, pgInsertMs), 'unnest, 10,000 rows/statement'],
      ['floor: protobuf decode + pg insert', pgInsertMs && pbDecodeMs + pgInsertMs, pgFloor, ''],
      [
        'serve SQLite, protobuf, 4 senders',
        sqlitePb.ms,
        summary.protobuf_spans_per_s,
        `ack ${sqlitePb.acknowledged}, stored ${sqlitePb.stored}, failed ${sqlitePb.failed}, peak RSS ${fmt(sqlitePb.peakRssMb)} MB`,
      ],
      [
        'serve SQLite, JSON, 4 senders',
        sqliteJson.ms,
        summary.json_spans_per_s,
        `ack ${sqliteJson.acknowledged}, stored ${sqliteJson.stored}, failed ${sqliteJson.failed}, peak RSS ${fmt(sqliteJson.peakRssMb)} MB`,
      ],
      [
        'serve PostgreSQL, protobuf, 4 senders',
        pgPb?.ms,
        summary.pg_spans_per_s ?? undefined,
        pgPb ? `ack ${pgPb.acknowledged}, stored ${pgPb.stored}, failed ${pgPb.failed}, peak RSS ${fmt(pgPb.peakRssMb)} MB` : 'skipped',
      ],
    ];
    console.log(`ingest: ${spans.toLocaleString('en-US')} task spans per run (10–20 attributes, 2–6 events each)`);
    for (const [what, ms, perS, note] of table) {
      console.log(`${String(what).padEnd(42)} ${String(typeof ms === 'number' ? Math.round(ms) : (ms ?? '-')).padStart(8)} ${fmt(perS).padStart(10)}  ${note}`);
    }
    console.log(
      `ratio to floor ${summary.ratio_to_floor} (target ≥ 0.8), JSON/protobuf ${(summary.json_spans_per_s / summary.protobuf_spans_per_s).toFixed(2)} (≥ 0.5), ` +
        `PG/floor ${pgFloor ? (summary.pg_spans_per_s / pgFloor).toFixed(2) : '-'} (≥ 0.5), acknowledged ${summary.acknowledged} stored ${summary.stored}`,
    );
    console.log(JSON.stringify(summary));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function countSqlite(path) {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM spans').pluck().get();
  } finally {
    db.close();
  }
}

await main();
