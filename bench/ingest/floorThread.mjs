// One single-threaded floor of bench:ingest, measured in a worker thread of its own so that its heap
// holds only its input: in the benchmark's process, which holds every body in both encodings and every
// row, the collector made one pass of the protobuf decode floor take anywhere from 2.9 to 5.7 s.
// workerData: { kind: 'protobuf' | 'json' | 'sqlite', input (bodies or rows), root, dir, passes, rowsPerTx };
// posts the fastest pass in ms (a warm-up pass on the first 20 inputs comes first).

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { kind, input, root, dir, passes, rowsPerTx } = workerData;

function decodeMs(bodies, decode) {
  const t = performance.now();
  let n = 0;
  for (const body of bodies) n += decode(body);
  const ms = performance.now() - t;
  if (n === 0) throw new Error('decoded nothing');
  return ms;
}

function sqliteMs(rows, pass) {
  const db = new Database(join(dir, `floor-${pass}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(
    'CREATE TABLE spans (trace_id TEXT NOT NULL, span_id TEXT NOT NULL, name TEXT, start_ns INTEGER, end_ns INTEGER, body TEXT, PRIMARY KEY (trace_id, span_id))',
  );
  const insert = db.prepare('INSERT INTO spans VALUES (?, ?, ?, ?, ?, ?)');
  const tx = db.transaction((chunk) => {
    for (const row of chunk) insert.run(...row);
  });
  const t = performance.now();
  for (let i = 0; i < rows.length; i += rowsPerTx) tx(rows.slice(i, i + rowsPerTx));
  const ms = performance.now() - t;
  db.close();
  return ms;
}

let measure;
if (kind === 'sqlite') measure = (pass) => sqliteMs(input, pass);
else {
  const { OtlpTypes } = await import(pathToFileURL(join(root, 'dist', 'collector', 'otlp', 'schema.js')).href);
  const decode =
    kind === 'protobuf'
      ? (body) => OtlpTypes.ExportTraceServiceRequest.decode(body).resourceSpans.length
      : (body) => JSON.parse(Buffer.from(body).toString('utf8')).resourceSpans.length;
  decodeMs(input.slice(0, 20), decode);
  measure = () => decodeMs(input, decode);
}
let best = Number.POSITIVE_INFINITY;
for (let pass = 0; pass < passes; pass++) best = Math.min(best, measure(pass));
parentPort.postMessage(best);
