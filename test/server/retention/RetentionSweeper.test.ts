import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readShutdown } from '../../../contract/contract.js';
import type { SpanRecord } from '../../../contract/records.js';
import { judgeTaskAlone } from '../../../server/judge/index.js';
import { parseRetention, RetentionSweeper } from '../../../server/retention/RetentionSweeper.js';
import { PgStore } from '../../../server/store/PgStore.js';
import { SqliteStore } from '../../../server/store/SqliteStore.js';
import type { Store } from '../../../server/store/Store.js';
import { SEC, shutdownSpan, T0, taskSpan } from '../../doubles/spans.js';
import { createPgTestSchema, type PgTestSchema, pgUnreachable } from '../store/pgTestDb.js';

const RETENTION_MS = 14 * 86_400_000;
/** The cutoff is T0 + 10 s: the sweeper's clock is set so. */
const CUTOFF = T0 + 10n * SEC;
const nowForCutoff = () => Number(CUTOFF / 1_000_000n) + RETENTION_MS;

function other(spanId: string, endSec: bigint, instance = 'misc'): SpanRecord {
  const base = taskSpan({ spanId, start: endSec * SEC - SEC, end: endSec * SEC, instance });
  const attributes = { 'http.route': '/orders' };
  return { ...base, name: 'GET /orders', role: 'other', attributes, scope: { name: 'http' } };
}

/** Old and new shutdowns, tasks and other spans of three instances; the names say what retention must do. */
function scenario(): SpanRecord[] {
  return [
    // A: a shutdown that ended long ago, its task and a pending snapshot: all expired.
    shutdownSpan({ spanId: 'a0000000000000e1', instance: 'A', start: 0n, end: SEC, outcome: 'clean' }),
    taskSpan({ spanId: 'a0000000000000e2', name: 'a-task', instance: 'A', start: -SEC, end: SEC / 2n }),
    taskSpan({ spanId: 'a0000000000000e3', name: 'a-pending', instance: 'A', start: -10n * SEC, end: SEC, snapshot: true }),
    // B: a shutdown across the cutoff: it is kept, and so are the old tasks in its window.
    shutdownSpan({ spanId: 'b0000000000000c1', instance: 'B', start: 9n * SEC, end: 11n * SEC, outcome: 'survivors' }),
    taskSpan({ spanId: 'b0000000000000c2', name: 'b-in-window', instance: 'B', start: 0n, end: 9n * SEC + SEC / 2n }),
    taskSpan({ spanId: 'b0000000000000e3', name: 'b-before-window', instance: 'B', start: 0n, end: 5n * SEC }),
    taskSpan({ spanId: 'b0000000000000c4', name: 'b-old-snapshot', instance: 'B', start: 0n, end: 3n * SEC, snapshot: true }),
    // C: an open shutdown (snapshots only) that began before the cutoff: expired by its start.
    shutdownSpan({ spanId: 'c0000000000000e1', instance: 'C', start: 2n * SEC, end: 12n * SEC, snapshot: true }),
    taskSpan({ spanId: 'c0000000000000c2', name: 'c-recent', instance: 'C', start: 0n, end: 12n * SEC }),
    other('d0000000000000e1', 5n),
    other('d0000000000000c2', 15n),
    taskSpan({ spanId: 'e0000000000000c1', name: 'new', instance: 'E', start: 19n * SEC, end: 20n * SEC }),
  ];
}

/** Span ids whose 15th hex digit says whether retention must keep (c) or expire (e) them. */
const kept = (records: SpanRecord[]) => records.filter((r) => r.spanId[14] === 'c').map((r) => r.spanId);

const pgSkip = await pgUnreachable();

const stores: [string, () => Promise<{ store: Store; dispose: () => Promise<void> }>][] = [
  [
    'SqliteStore',
    async () => {
      const store = SqliteStore.open({ path: join(mkdtempSync(join(tmpdir(), 'ct-retention-')), 'r.db'), verdictOf: judgeTaskAlone });
      return { store, dispose: () => store.close() };
    },
  ],
];

describe('parseRetention', () => {
  it.each([
    ['14d', 14 * 86_400_000],
    ['36h', 36 * 3_600_000],
    ['90m', 90 * 60_000],
    ['2w', 14 * 86_400_000],
    ['30s', 30_000],
  ])('when given %s, then it is %d ms', (text, millis) => {
    expect(parseRetention(text)).toBe(millis);
  });

  it.each(['14', '0d', '-1d', '1.5d', '14 days', ''])('when given %j, then it says what is expected', (text) => {
    expect(() => parseRetention(text)).toThrow(/whole number with a unit s, m, h, d or w/);
  });
});

function sweepSuite(name: string, open: () => Promise<{ store: Store; dispose: () => Promise<void> }>) {
  describe(`RetentionSweeper on ${name}`, () => {
    it.each([1, 2, 500])(
      'when spans, tasks and shutdowns are older than the retention (batches of %d), then they go, and kept shutdowns keep every task',
      async (batchRows) => {
        const { store, dispose } = await open();
        try {
          const records = scenario();
          await store.consume(records);
          const before = await store.getShutdown(`${records[3].traceId}-b0000000000000c1`);
          const windowBefore = (await store.tasksInWindow('B', before!.start, before!.end)).map((t) => t.spanId).sort();
          const sweeper = new RetentionSweeper({ store, retentionMillis: RETENTION_MS, batchRows, pauseMillis: 0, now: nowForCutoff });
          const result = await sweeper.sweepOnce();
          const left = (await Promise.all([...new Set(records.map((r) => r.traceId))].map((t) => store.spansOfTrace(t)))).flat();
          expect(left.map((r) => r.spanId).sort()).toEqual(kept(records).sort());
          expect(result.deleted).toEqual({ shutdown: 2, task: 3, other: 1 });
          const after = await store.getShutdown(`${records[3].traceId}-b0000000000000c1`);
          expect((await store.tasksInWindow('B', after!.start, after!.end)).map((t) => t.spanId).sort()).toEqual(windowBefore);
          expect(sweeper.deletedTotal).toEqual({ shutdown: 2, task: 3, other: 1 });
          // A second sweep finds nothing more.
          expect((await sweeper.sweepOnce()).deleted).toEqual({ shutdown: 0, task: 0, other: 0 });
        } finally {
          await dispose();
        }
      },
    );

    it('when the list of shutdowns is read after a sweep, then no expired shutdown is in it', async () => {
      const { store, dispose } = await open();
      try {
        await store.consume(scenario());
        await new RetentionSweeper({ store, retentionMillis: RETENTION_MS, pauseMillis: 0, now: nowForCutoff }).sweepOnce();
        expect((await store.listShutdowns()).map((s) => readShutdown(s.span).instance)).toEqual(['B']);
      } finally {
        await dispose();
      }
    });
  });
}

for (const [name, open] of stores) sweepSuite(name, open);

describe.skipIf(pgSkip !== undefined && process.env.CI !== 'true')('RetentionSweeper on PgStore', () => {
  let db: PgTestSchema;
  beforeAll(async () => {
    if (pgSkip !== undefined) throw new Error(pgSkip);
    db = await createPgTestSchema();
  });
  afterAll(async () => {
    await db?.drop();
  });
  sweepSuite('PgStore', async () => {
    await db.clear();
    const store = await PgStore.open({ url: db.url, verdictOf: judgeTaskAlone });
    return { store, dispose: () => store.close() };
  });
});

describe('RetentionSweeper space on SQLite', () => {
  it('when a new file loses most of its spans, then the freed pages go back to the file system', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ct-retention-')), 'space.db');
    const store = SqliteStore.open({ path, verdictOf: judgeTaskAlone });
    try {
      const padding = 'x'.repeat(2_000);
      for (let b = 0; b < 10; b++) {
        await store.consume(
          Array.from({ length: 500 }, (_, i) => ({ ...other((b * 500 + i + 1).toString(16).padStart(16, '0'), 1n), attributes: { padding } })),
        );
      }
      const full = await store.sizeBytes();
      const result = await new RetentionSweeper({ store, retentionMillis: RETENTION_MS, pauseMillis: 0, now: nowForCutoff }).sweepOnce();
      expect(result.deleted.other).toBe(5_000);
      expect(result.reclaimedPages).toBeGreaterThan(1_000);
      expect(await store.sizeBytes()).toBeLessThan((full ?? 0) / 4);
    } finally {
      await store.close();
    }
    const db = new Database(path, { readonly: true });
    expect(db.pragma('auto_vacuum', { simple: true })).toBe(2);
    db.close();
    expect(statSync(path).size).toBeLessThan(2_000_000);
  });
});
