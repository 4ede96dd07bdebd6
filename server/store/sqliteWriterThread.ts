/**
 * The writer thread of a SQLite store (SqliteStore with `writerThread`): it owns the store's write
 * connection and runs the group commits (SqliteWriter) beside the thread that receives, decodes,
 * judges and encodes the spans. The batches that arrive while a commit runs make up the next group;
 * each batch is answered once its group is committed (or its savepoint rolled back).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GroupCommit, SqliteWriter, WRITER_THREAD_CACHE_KIB } from './SqliteWriter.js';
import { type SqliteWriterData, type WriterReply, type WriterRequest, wireError } from './sqliteWriterMessages.js';

const port = parentPort;
if (!port) throw new Error('canceltrace sqliteWriterThread: must run as a worker thread');
const data = workerData as SqliteWriterData;
const writer = SqliteWriter.open(data.path, data.busyTimeoutMs, data.writeBusyTimeoutMs, WRITER_THREAD_CACHE_KIB);
const reply = (message: WriterReply) => port.postMessage(message);

// Each batch is answered by its request's id.
const commits = new GroupCommit<number>(
  () => writer,
  (ids, errors) => reply({ type: 'written', ids, errors: errors.map((error) => (error === undefined ? undefined : wireError(error))) }),
);

port.on('message', (message: WriterRequest) => {
  if (message.type === 'write') {
    commits.add(message.batch, message.id);
    return;
  }
  // Everything accepted before a retention step or the close is committed first.
  commits.flush();
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
