/**
 * The writer thread of a SQLite store (SqliteStore with `writerThread`): it owns the store's write
 * connection and runs the group commits (SqliteWriter) beside the thread that receives, decodes,
 * judges and encodes the spans. The batches that arrive while a commit runs make up the next group;
 * each batch is answered once its group is committed (or its savepoint rolled back).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GROUP_COMMIT_MAX_SPANS, SqliteWriter, WRITER_THREAD_CACHE_KIB } from './SqliteWriter.js';
import { type SqliteWriterData, type WriterReply, type WriterRequest, wireError } from './sqliteWriterMessages.js';

const port = parentPort;
if (!port) throw new Error('canceltrace sqliteWriterThread: must run as a worker thread');
const data = workerData as SqliteWriterData;
const writer = SqliteWriter.open(data.path, data.busyTimeoutMs, data.writeBusyTimeoutMs, WRITER_THREAD_CACHE_KIB);
const reply = (message: WriterReply) => port.postMessage(message);

let pending: Extract<WriterRequest, { type: 'write' }>[] = [];
let pendingSpans = 0;
let flushScheduled = false;

/** Commits every pending batch in one transaction, then answers each. */
function flush(): void {
  flushScheduled = false;
  const group = pending;
  if (group.length === 0) return;
  pending = [];
  pendingSpans = 0;
  let errors: unknown[];
  try {
    errors = writer.write(group.map((request) => request.batch));
  } catch (error) {
    errors = group.map(() => error);
  }
  reply({ type: 'written', ids: group.map((request) => request.id), errors: errors.map((error) => (error === undefined ? undefined : wireError(error))) });
}

port.on('message', (message: WriterRequest) => {
  if (message.type === 'write') {
    pending.push(message);
    pendingSpans += message.batch.rows.length;
    if (pendingSpans >= GROUP_COMMIT_MAX_SPANS) flush();
    else if (!flushScheduled) {
      flushScheduled = true;
      // After the messages already queued, so that the batches that came in during the last commit join the group.
      setImmediate(flush);
    }
    return;
  }
  // Everything accepted before a retention step or the close is committed first.
  flush();
  if (message.type === 'close') {
    try {
      writer.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      writer.db.close();
      reply({ type: 'closed' });
      port.close();
    }
    return;
  }
  try {
    const value = message.type === 'expire' ? writer.expire(message.cutoff, message.limit, message.cursor) : writer.reclaim(message.maxPages);
    reply({ type: 'done', id: message.id, value });
  } catch (error) {
    reply({ type: 'done', id: message.id, error: wireError(error) });
  }
});
reply({ type: 'ready' });
