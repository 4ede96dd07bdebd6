/**
 * How a retention sweep walks a store: three phases, each in the order of an index, each batch
 * resuming after the last row the previous batch looked at (so rows a batch keeps are not read again).
 *
 * A record's retention time is its end, except an open shutdown (only snapshots of it arrived) whose
 * time is its start. A task is kept, whatever its time, while a shutdown that is kept holds it in
 * its window (same instance, created by the shutdown's end, and ended at or after its start or still
 * pending): a shutdown in the store is never missing some of its tasks.
 */
export interface ExpiryCursor {
  /** shutdown spans first (they may hold tasks), then task spans, then other spans */
  phase: 'shutdown' | 'task' | 'other';
  /** the sort key of the last row looked at: unix ns (start for shutdowns, end for other spans), or what the store orders tasks by (SQLite: a bucket of end times) */
  key: bigint;
  /** the row id of the last row looked at */
  id: bigint;
}

/** What one batch of a sweep did. */
export interface ExpiryBatch {
  /** span records deleted, by role */
  deleted: { shutdown: number; task: number; other: number };
  /** where the next batch starts; undefined when the sweep is complete */
  next?: ExpiryCursor;
}

/** Where a sweep starts. */
export const FIRST_EXPIRY_CURSOR: ExpiryCursor = { phase: 'shutdown', key: -(2n ** 63n), id: -1n };

/** The phase after `phase`, or undefined after the last. */
export function nextPhase(phase: ExpiryCursor['phase']): ExpiryCursor | undefined {
  if (phase === 'shutdown') return { ...FIRST_EXPIRY_CURSOR, phase: 'task' };
  if (phase === 'task') return { ...FIRST_EXPIRY_CURSOR, phase: 'other' };
  return undefined;
}

/** A batch that deleted nothing. */
export function emptyBatch(next: ExpiryCursor | undefined): ExpiryBatch {
  return { deleted: { shutdown: 0, task: 0, other: 0 }, ...(next ? { next } : {}) };
}
