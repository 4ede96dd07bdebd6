/**
 * One retention batch on a SQLite store (see {@link ExpiryCursor} for the rules), in one short
 * IMMEDIATE transaction, so that ingest waits at most one batch for the write lock.
 */
import type Database from 'better-sqlite3';
import { TASK_END_BUCKET, TASK_END_BUCKET_SHIFT } from '../store/columns.js';
import { type ExpiryBatch, type ExpiryCursor, emptyBatch, nextPhase } from './ExpiryCursor.js';

type Statements = ReturnType<typeof prepare>;
const statements = new WeakMap<Database.Database, Statements>();

function prepare(db: Database.Database) {
  const raw = (sql: string) => db.prepare(sql).raw().safeIntegers(true);
  return {
    // spans_shutdown_start; an open shutdown's time is its start, a closed one's its end (never before its start).
    shutdowns: raw(
      `SELECT id, start_ns, CASE WHEN snapshot = 1 THEN start_ns ELSE end_ns END FROM spans
        WHERE role = 'shutdown' AND start_ns < @cutoff AND (start_ns, id) > (@key, @id)
        ORDER BY start_ns, id LIMIT @limit`,
    ),
    // spans_task_end_buckets, in its own order (bucket, row id): the cursor's key is a bucket of end times.
    tasks: raw(
      `SELECT id, ${TASK_END_BUCKET}, end_ns, instance, created_ns, snapshot FROM spans
        WHERE role = 'task' AND (${TASK_END_BUCKET}) BETWEEN @key AND @cutoffBucket AND end_ns < @cutoff AND ((${TASK_END_BUCKET}), id) > (@key, @id)
        ORDER BY (${TASK_END_BUCKET}), id LIMIT @limit`,
    ),
    // spans_shutdown_instance: a kept shutdown of the task's instance whose window holds the task
    holder: db
      .prepare(
        `SELECT 1 FROM spans
          WHERE role = 'shutdown' AND instance = @instance
            AND (CASE WHEN snapshot = 1 THEN start_ns ELSE end_ns END) >= @cutoff
            AND (snapshot = 1 OR end_ns >= @created)
            AND (@taskSnapshot = 1 OR start_ns <= @end)
          LIMIT 1`,
      )
      .pluck(),
    // spans_other_end
    others: raw(
      `SELECT id, end_ns FROM spans
        WHERE role = 'other' AND end_ns < @cutoff AND (end_ns, id) > (@key, @id)
        ORDER BY end_ns, id LIMIT @limit`,
    ),
    remove: db.prepare('DELETE FROM spans WHERE id = ?'),
  };
}

/** Deletes up to `limit` expired records from `cursor` on; returns what it did and where to go on. */
export function sqliteExpireBatch(db: Database.Database, cutoff: bigint, limit: number, cursor: ExpiryCursor): ExpiryBatch {
  let s = statements.get(db);
  if (!s) {
    s = prepare(db);
    statements.set(db, s);
  }
  const stmt = s;
  const params = { cutoff, cutoffBucket: cutoff >> TASK_END_BUCKET_SHIFT, key: cursor.key, id: cursor.id, limit };
  return db
    .transaction((): ExpiryBatch => {
      if (cursor.phase === 'shutdown') {
        const rows = stmt.shutdowns.all(params) as [bigint, bigint, bigint][];
        let deleted = 0;
        for (const [id, , time] of rows) if (time < cutoff) deleted += stmt.remove.run(id).changes;
        const batch = emptyBatch(resume(cursor, rows, limit));
        batch.deleted.shutdown = deleted;
        return batch;
      }
      if (cursor.phase === 'task') {
        const rows = stmt.tasks.all(params) as [bigint, bigint, bigint, string, bigint, bigint][];
        let deleted = 0;
        for (const [id, , end, instance, created, snapshot] of rows) {
          const held = stmt.holder.get({ instance, cutoff, created, end, taskSnapshot: snapshot });
          if (held === undefined) deleted += stmt.remove.run(id).changes;
        }
        const batch = emptyBatch(resume(cursor, rows, limit));
        batch.deleted.task = deleted;
        return batch;
      }
      const rows = stmt.others.all(params) as [bigint, bigint][];
      let deleted = 0;
      for (const [id] of rows) deleted += stmt.remove.run(id).changes;
      const batch = emptyBatch(resume(cursor, rows, limit));
      batch.deleted.other = deleted;
      return batch;
    })
    .immediate();
}

/** After the last row of a full page, the same phase; after a short page, the next phase. */
function resume(cursor: ExpiryCursor, rows: [bigint, bigint, ...unknown[]][], limit: number): ExpiryCursor | undefined {
  if (rows.length < limit) return nextPhase(cursor.phase);
  const [id, key] = rows[rows.length - 1];
  return { phase: cursor.phase, key, id };
}

/** Returns up to `maxPages` free pages to the file system (incremental vacuum); a no-op unless auto_vacuum is INCREMENTAL. */
export function sqliteReclaim(db: Database.Database, maxPages: number): number {
  const before = db.pragma('freelist_count', { simple: true }) as number;
  if (before === 0 || (db.pragma('auto_vacuum', { simple: true }) as number) !== 2) return 0;
  db.pragma(`incremental_vacuum(${Math.max(1, Math.trunc(maxPages))})`);
  return before - (db.pragma('freelist_count', { simple: true }) as number);
}

/** Bytes the database's pages in use occupy (free pages not counted). */
export function sqliteSizeBytes(db: Database.Database): number {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  return (pages - free) * pageSize;
}
