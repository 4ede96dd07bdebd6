/**
 * One retention batch on the PostgreSQL store (see {@link ExpiryCursor} for the rules): one
 * statement, so one short transaction; space is reused after autovacuum, not given back.
 */
import type pg from 'pg';
import { type ExpiryBatch, type ExpiryCursor, emptyBatch, nextPhase } from './ExpiryCursor.js';

/** For each phase: the page of rows looked at (id, key), and which of them to delete. */
const PAGE_SQL: Record<ExpiryCursor['phase'], string> = {
  // spans_shutdown_start; an open shutdown's time is its start, a closed one's its end.
  shutdown: `SELECT id, start_ns AS key, (CASE WHEN snapshot THEN start_ns ELSE end_ns END) < $1 AS doomed FROM spans
              WHERE role = 'shutdown' AND start_ns < $1 AND (start_ns, id) > ($2, $3) ORDER BY start_ns, id LIMIT $4`,
  // spans_task_end; a task stays while a kept shutdown of its instance holds it in its window (spans_shutdown_instance).
  task: `SELECT t.id, t.end_ns AS key, NOT EXISTS (
             SELECT 1 FROM spans k
              WHERE k.role = 'shutdown' AND k.instance = t.instance
                AND (CASE WHEN k.snapshot THEN k.start_ns ELSE k.end_ns END) >= $1
                AND (k.snapshot OR k.end_ns >= t.created_ns)
                AND (t.snapshot OR k.start_ns <= t.end_ns)) AS doomed
           FROM spans t
          WHERE t.role = 'task' AND t.end_ns < $1 AND (t.end_ns, t.id) > ($2, $3) ORDER BY t.end_ns, t.id LIMIT $4`,
  // spans_other_end
  other: `SELECT id, end_ns AS key, true AS doomed FROM spans
           WHERE role = 'other' AND end_ns < $1 AND (end_ns, id) > ($2, $3) ORDER BY end_ns, id LIMIT $4`,
};

/** Deletes the expired records among the next `limit` rows from `cursor` on. */
export async function pgExpireBatch(pool: pg.Pool, cutoff: bigint, limit: number, cursor: ExpiryCursor): Promise<ExpiryBatch> {
  const result = await pool.query<{ looked: string; deleted: string; last_id: string | null; last_key: string | null }>(
    `WITH page AS (${PAGE_SQL[cursor.phase]}),
          gone AS (DELETE FROM spans WHERE id IN (SELECT id FROM page WHERE doomed) RETURNING id)
     SELECT (SELECT count(*) FROM page) AS looked, (SELECT count(*) FROM gone) AS deleted,
            (SELECT id FROM page ORDER BY key DESC, id DESC LIMIT 1) AS last_id,
            (SELECT key FROM page ORDER BY key DESC, id DESC LIMIT 1) AS last_key`,
    [cutoff.toString(), cursor.key.toString(), cursor.id.toString(), limit],
  );
  const row = result.rows[0];
  const next =
    Number(row.looked) < limit || row.last_id === null || row.last_key === null
      ? nextPhase(cursor.phase)
      : { phase: cursor.phase, key: BigInt(row.last_key), id: BigInt(row.last_id) };
  const batch = emptyBatch(next);
  batch.deleted[cursor.phase] = Number(row.deleted);
  return batch;
}

/** Bytes of the spans and resources tables with their indices and TOAST. */
export async function pgSizeBytes(pool: pg.Pool): Promise<number> {
  const result = await pool.query<{ bytes: string }>(
    `SELECT (pg_total_relation_size(to_regclass('spans')) + pg_total_relation_size(to_regclass('resources')))::text AS bytes`,
  );
  return Number(result.rows[0].bytes);
}
