import { readTask } from '../../contract/contract.js';
import { type SpanRecord, type TaskRecord, VERDICTS, type Verdict } from '../../contract/records.js';
import { StoreQueryError } from './StoreQueryError.js';

/** The range of a 64-bit signed integer column (SQLite INTEGER, PostgreSQL BIGINT). */
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

/**
 * The time buckets of the end-ordered SQLite indices (migration 11): `spans_task_end_buckets` is keyed by
 * {@link TASK_END_BUCKET} (2^28 ns, about 268 ms) and then the row id, `task_views_window_buckets` by the
 * instance and {@link WINDOW_BUCKET} (2^30 ns, about 1.07 s). Reads name the same expressions, written as
 * the indices write them, so that SQLite uses the indices, and compare the exact end time besides.
 */
export const TASK_END_BUCKET = 'end_ns >> 28';
export const WINDOW_BUCKET = 'end_ns >> 30';
/** The shifts of {@link TASK_END_BUCKET} and {@link WINDOW_BUCKET}, for the bounds of a query. */
export const TASK_END_BUCKET_SHIFT = 28n;
export const WINDOW_BUCKET_SHIFT = 30n;

const KNOWN_VERDICTS: ReadonlySet<string> = new Set(VERDICTS);

/** A time clamped into the range an int64 column keeps (for query bounds, never for stored values). */
export function clampInt64(t: bigint): bigint {
  return t < INT64_MIN ? INT64_MIN : t > INT64_MAX ? INT64_MAX : t;
}

/** A page size from a query: an integer from 1 to `max`, else a {@link StoreQueryError}. */
export function checkLimit(limit: unknown, max: number, what: string): number {
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new StoreQueryError(`invalid ${what} ${String(limit)}: expected an integer from 1 to ${max}`);
  }
  return limit;
}

/** A verdict filter from a query, else a {@link StoreQueryError}. */
export function checkVerdict(verdict: string): Verdict {
  if (!KNOWN_VERDICTS.has(verdict)) {
    throw new StoreQueryError(`invalid verdict ${JSON.stringify(verdict)}: expected one of ${VERDICTS.join(', ')}`);
  }
  return verdict as Verdict;
}

/**
 * The derived columns of a stored span: its creation time (`task.created_at` when an int64 can keep
 * it, else the span start) and, for a task, the verdict it gets judged alone (`verdictOf`, checked).
 */
export function derivedColumns(span: SpanRecord, verdictOf: (task: TaskRecord) => Verdict, storeName: string): { created: bigint; verdict: Verdict | null } {
  if (span.role !== 'task') return { created: span.startTime, verdict: null };
  const task = readTask(span);
  // task.created_at is an attribute and may hold anything; only a value the column can keep is used.
  const created = task.createdAt >= INT64_MIN && task.createdAt <= INT64_MAX ? task.createdAt : span.startTime;
  const verdict = verdictOf(task);
  if (!KNOWN_VERDICTS.has(verdict)) {
    throw new TypeError(`${storeName}: verdictOf returned ${JSON.stringify(verdict)} for task ${span.traceId}/${span.spanId}`);
  }
  return { created, verdict };
}
