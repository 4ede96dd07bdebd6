import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { SpanRecord } from '../../../contract/records.js';
import { nextPhase } from '../../../server/retention/ExpiryCursor.js';
import { TASK_END_BUCKET_SHIFT, WINDOW_BUCKET_SHIFT } from '../../../server/store/columns.js';
import { SqliteStore } from '../../../server/store/SqliteStore.js';
import { taskSpan, verdictAlone } from './spanBuilder.js';

// The end-ordered indices are keyed by a bucket of the end time (migration 11, columns.ts); these tests
// spread tasks over many buckets, with ends on and around bucket edges, ties and arrival out of order,
// and check every read that bounds or orders by end time against the same rule applied in JavaScript.

/** A realistic time (unix ns), on a bucket edge of both shifts. */
const BASE = (1_800_000_000_000_000_000n >> WINDOW_BUCKET_SHIFT) << WINDOW_BUCKET_SHIFT;
const LIST_BUCKET = 1n << TASK_END_BUCKET_SHIFT;
const WINDOW_BUCKET = 1n << WINDOW_BUCKET_SHIFT;

/**
 * An end time: a few buckets of either size from BASE, right on an edge, one ns either side of it, or within.
 * Around zero and below it too (times before 1970 are valid OTLP; both SQLite's >> and BigInt's round down).
 */
const endTime = fc
  .tuple(fc.constantFrom(BASE, 0n, -BASE), fc.integer({ min: -3, max: 12 }), fc.constantFrom(LIST_BUCKET, WINDOW_BUCKET), fc.constantFrom(-1n, 0n, 1n, 12_345n))
  .map(([base, k, size, nudge]) => base + BigInt(k) * size + nudge);

/** Tasks with those end times, in arrival order, of two instances; ids unique. */
const tasks = fc.array(fc.tuple(endTime, fc.boolean()), { minLength: 1, maxLength: 40 }).map((ends) =>
  ends.map(([end, second], i) =>
    taskSpan({
      trace: 1,
      span: i + 1,
      instance: second ? 'svc-2' : 'svc-1',
      start: end - 5n * WINDOW_BUCKET,
      end,
      state: i % 3 === 0 ? 'completed' : 'cancelled',
      cancelled: true,
    }),
  ),
);

function openStore(): SqliteStore {
  return SqliteStore.open({ path: join(mkdtempSync(join(tmpdir(), 'ct-buckets-')), 'b.db'), verdictOf: verdictAlone });
}

const descending = (a: bigint, b: bigint) => (a < b ? 1 : a > b ? -1 : 0);

describe('SqliteStore: reads over the end-time buckets', () => {
  test.prop([tasks, fc.integer({ min: 1, max: 7 }), fc.option(endTime, { nil: undefined })], { numRuns: 40 })(
    'when tasks end across many buckets and pages are read with any limit and since, then each matching task comes once, newest end first',
    async (spans, limit, since) => {
      const store = openStore();
      try {
        // Arrival in two batches, the second with the earlier row ids ending later and earlier.
        await store.consume(spans.slice(0, Math.ceil(spans.length / 2)));
        await store.consume(spans.slice(Math.ceil(spans.length / 2)));
        const seen: SpanRecord[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.queryTasks({ limit, since, cursor });
          seen.push(...page.tasks.map((t) => t.task.span));
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        const expected = spans.filter((s) => since === undefined || s.endTime >= since);
        expect(seen.map((s) => s.spanId).sort()).toEqual(expected.map((s) => s.spanId).sort());
        const ends = seen.map((s) => s.endTime);
        expect(ends).toEqual([...ends].sort(descending));
      } finally {
        await store.close();
      }
    },
  );

  test.prop([tasks, endTime, fc.option(endTime, { nil: undefined })], { numRuns: 40 })(
    "when a shutdown's window starts and ends anywhere among the buckets, then the window read gives exactly the tasks alive in it",
    async (spans, start, endOrOpen) => {
      const store = openStore();
      try {
        await store.consume(spans);
        const end = endOrOpen === undefined || endOrOpen >= start ? endOrOpen : start;
        for (const instance of ['svc-1', 'svc-2']) {
          const expected = spans.filter((s) => s.instance === instance && s.endTime >= start && (end === undefined || s.startTime <= end));
          const read = await store.tasksInWindow(instance, start, end);
          expect(read.map((t) => t.spanId).sort()).toEqual(expected.map((s) => s.spanId).sort());
          // The brief read goes over the same rows (by a range of row ids or through the index), each once.
          const scanned: string[] = [];
          await store.scanTaskViews(instance, start, end, { view: () => false, record: (task) => scanned.push(task.spanId) });
          expect(scanned.sort()).toEqual(expected.map((s) => s.spanId).sort());
        }
      } finally {
        await store.close();
      }
    },
  );

  test.prop([tasks, endTime, fc.integer({ min: 1, max: 5 })], { numRuns: 40 })(
    'when retention sweeps tasks across many buckets in small batches, then exactly the tasks that ended before the cutoff are deleted',
    async (spans, cutoff, limit) => {
      const store = openStore();
      try {
        await store.consume(spans);
        let cursor = nextPhase('shutdown');
        let deleted = 0;
        let batches = 0;
        while (cursor !== undefined && cursor.phase === 'task') {
          const batch = await store.expireBatch(cutoff, limit, cursor);
          deleted += batch.deleted.task;
          cursor = batch.next;
          expect(++batches).toBeLessThanOrEqual(spans.length + 1);
        }
        const left = (await store.queryTasks({ limit: 100 })).tasks.map((t) => t.task.spanId).sort();
        expect(left).toEqual(
          spans
            .filter((s) => s.endTime >= cutoff)
            .map((s) => s.spanId)
            .sort(),
        );
        expect(deleted).toBe(spans.filter((s) => s.endTime < cutoff).length);
      } finally {
        await store.close();
      }
    },
  );
});
