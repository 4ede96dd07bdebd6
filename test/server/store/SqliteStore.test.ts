import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { test as base, describe, expect } from 'vitest';
import type { SpanRecord, TaskRecord, Verdict } from '../../../contract/records.js';
import { encodeSpanRecord } from '../../../server/store/codec.js';
import { TASK_END_BUCKET, WINDOW_BUCKET } from '../../../server/store/columns.js';
import { MIGRATIONS, StoreSchemaError } from '../../../server/store/migrations.js';
import { GROUP_COMMIT_MAX_SPANS, SqliteStore, StoreOpenError } from '../../../server/store/SqliteStore.js';
import { otherSpan, shutdownSpan, spanId, taskSpan, traceId, verdictAlone } from './spanBuilder.js';
import { storeContract } from './storeContract.js';

interface Fixtures {
  /** a fresh temp directory, removed after the test */
  dir: string;
  /** opens a store on a file in `dir` (closed after the test) */
  openStore: (file?: string, verdictOf?: (task: TaskRecord) => Verdict) => SqliteStore;
}

const it = base.extend<Fixtures>({
  // eslint-disable-next-line no-empty-pattern
  dir: async ({}, use) => {
    const dir = mkdtempSync(join(tmpdir(), 'canceltrace-store-'));
    await use(dir);
    rmSync(dir, { recursive: true, force: true });
  },
  openStore: async ({ dir }, use) => {
    const stores: SqliteStore[] = [];
    await use((file = 'store.db', verdictOf = verdictAlone) => {
      const store = SqliteStore.open({ path: join(dir, file), verdictOf });
      stores.push(store);
      return store;
    });
    for (const store of stores) await store.close();
  },
});

/** The key of a record, for comparing sets of records. */
const key = (r: { traceId: string; spanId: string }) => `${r.traceId}/${r.spanId}`;

storeContract('SqliteStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'canceltrace-store-'));
  const path = join(dir, 'store.db');
  /** Reads the file through a second, read-only connection. */
  const peek = <T>(read: (db: Database.Database) => T): T => {
    const db = new Database(path, { readonly: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  };
  return {
    open: async (verdictOf) => SqliteStore.open({ path, verdictOf }),
    peek: {
      resourceCount: async () => peek((db) => db.prepare('SELECT count(*) FROM resources').pluck().get() as number),
      bodies: async () => peek((db) => db.prepare('SELECT record FROM spans').pluck().all() as string[]),
      times: async () =>
        peek((db) =>
          (db.prepare('SELECT start_ns, end_ns, created_ns FROM spans ORDER BY id').raw().safeIntegers(true).all() as bigint[][]).map(
            ([start, end, created]) => ({ start, end, created }),
          ),
        ),
    },
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('SqliteStore', () => {
  describe('open and close', () => {
    it('when the store is closed and the same file reopened, then every record is still there', async ({ dir, openStore }) => {
      const spans = [
        taskSpan({ trace: 1, span: 1, state: 'cancelled', cancelled: true, attributes: { big: 12345678901234567890n } }),
        taskSpan({ trace: 1, span: 2, snapshot: true, end: 5_000n }),
        shutdownSpan({ trace: 2, span: 3, outcome: 'clean' }),
        otherSpan({ trace: 2, span: 4, attributes: { 'http.route': '/x' } }),
      ];
      const first = openStore('nested/dir/store.db');
      await first.consume(spans);
      await first.close();

      const again = SqliteStore.open({ path: join(dir, 'nested/dir/store.db'), verdictOf: verdictAlone });
      try {
        expect([...(await again.spansOfTrace(traceId(1))), ...(await again.spansOfTrace(traceId(2)))]).toEqual(spans);
        expect(await again.stats()).toEqual({ spans: 4, tasks: 2, shutdowns: 1 });
        expect((await again.queryTasks({ limit: 10, verdict: 'cancelled' })).tasks.map((t) => t.task.spanId)).toEqual([spanId(1)]);
      } finally {
        await again.close();
      }
    });

    it('when the path cannot hold a database (a folder, a file where a folder should be), then the error names the path', ({ dir }) => {
      const asFolder = join(dir, 'a-folder');
      mkdirSync(asFolder);
      const underFile = join(dir, 'plain-file', 'store.db');
      writeFileSync(join(dir, 'plain-file'), 'not a folder');
      for (const path of [asFolder, underFile]) {
        expect(() => SqliteStore.open({ path, verdictOf: verdictAlone }), path).toThrow(StoreOpenError);
        expect(() => SqliteStore.open({ path, verdictOf: verdictAlone }), path).toThrow(`cannot open the database ${path}: `);
      }
    });

    it('when the store closes while another connection is open, then the WAL is checkpointed and truncated', async ({ dir, openStore }) => {
      const path = join(dir, 'store.db');
      const store = openStore();
      // SQLite checkpoints by itself when the last connection closes; a second one keeps that from hiding ours.
      const other = new Database(path);
      try {
        other.prepare('SELECT count(*) FROM spans').get();
        await store.consume([taskSpan({ span: 77 })]);
        expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
        await store.close();
        expect(statSync(`${path}-wal`).size).toBe(0);
        expect(other.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(other.prepare('SELECT count(*) FROM spans').pluck().get()).toBe(1);
      } finally {
        other.close();
      }
    });
  });

  describe('indices', () => {
    it('when /api/tasks filters by verdict, service or neither, then SQLite reads the one covering index by end bucket and sorts only within a bucket', async ({
      dir,
      openStore,
    }) => {
      const store = openStore();
      await store.consume([taskSpan({ span: 1 })]);
      const db = new Database(join(dir, 'store.db'), { readonly: true });
      try {
        for (const filter of ['', " AND verdict = 'swallowed'", " AND service = 'svc'", " AND verdict = 'swallowed' AND service = 'svc'"]) {
          const plan = (
            db
              .prepare(`EXPLAIN QUERY PLAN SELECT id FROM spans WHERE role = 'task'${filter} ORDER BY (${TASK_END_BUCKET}) DESC, end_ns DESC, id DESC LIMIT 50`)
              .all() as {
              detail: string;
            }[]
          )
            .map((row) => row.detail)
            .join('; ');
          expect(plan, filter).toContain('COVERING INDEX spans_task_end_buckets');
          // A sort of the rows of each bucket read (LIMIT stops it after the page), never of all tasks.
          expect(plan, filter).toContain('USE TEMP B-TREE FOR LAST 2 TERMS OF ORDER BY');
        }
        const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'spans_task%' ORDER BY name").pluck().all();
        expect(names).toEqual(['spans_task_end_buckets']);
      } finally {
        db.close();
      }
    });

    it("when a shutdown's window is read whole, then SQLite reads task_views' two indices and each spans row by its row id", async ({ dir, openStore }) => {
      const store = openStore();
      const open = taskSpan({ span: 1, start: 100n, end: 150n, snapshot: true });
      const ended = taskSpan({ span: 2, start: 100n, end: 300n });
      const before = taskSpan({ span: 3, start: 10n, end: 50n });
      const after = taskSpan({ span: 4, start: 900n, end: 950n });
      await store.consume([open, ended, before, after]);
      expect((await store.tasksInWindow('svc-1', 200n, 500n)).map((t) => t.spanId).sort()).toEqual([open.spanId, ended.spanId].sort());
      expect((await store.judgedTasksInWindow('svc-1', 200n, 500n)).map((t) => t.task.spanId).sort()).toEqual([open.spanId, ended.spanId].sort());
      const db = new Database(join(dir, 'store.db'), { readonly: true });
      try {
        const sql = `SELECT s.id FROM task_views v INDEXED BY task_views_window_buckets CROSS JOIN spans s ON s.id = v.span_row
                       WHERE v.instance = 'svc-1' AND (v.${WINDOW_BUCKET}) >= 0 AND v.end_ns >= 200 AND v.created_ns <= 500
                     UNION ALL
                     SELECT s.id FROM task_views v INDEXED BY task_views_pending CROSS JOIN spans s ON s.id = v.span_row
                       WHERE v.snapshot = 1 AND v.instance = 'svc-1' AND v.created_ns <= 500 AND v.end_ns < 200`;
        const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((row) => row.detail);
        expect(plan.filter((d) => d.startsWith('SEARCH v'))).toEqual([
          expect.stringContaining('task_views_window_buckets'),
          expect.stringContaining('task_views_pending'),
        ]);
        expect(plan.filter((d) => d.startsWith('SEARCH s'))).toEqual([
          expect.stringContaining('INTEGER PRIMARY KEY (rowid=?)'),
          expect.stringContaining('INTEGER PRIMARY KEY (rowid=?)'),
        ]);
        expect(plan.join('; ')).not.toContain('SCAN');
      } finally {
        db.close();
      }
    });
  });

  describe('group commit', () => {
    it('when several batches arrive together, then each is answered only after all of it is readable from another connection', async ({ dir, openStore }) => {
      const store = openStore();
      const reader = new Database(join(dir, 'store.db'), { readonly: true });
      try {
        const count = () => reader.prepare('SELECT count(*) FROM spans').pluck().get() as number;
        const batches = [1, 2, 3, 4].map((trace) => Array.from({ length: 50 }, (_, n) => taskSpan({ trace, span: n + 1 })));
        const answered: number[] = [];
        const consumed = batches.map((batch, i) => store.consume(batch).then(() => answered.push(i)));
        // Nothing is committed, and nobody answered, before the group's transaction ends.
        expect(count()).toBe(0);
        expect(answered).toEqual([]);
        await Promise.all(consumed);
        expect(count()).toBe(200);
        expect(answered.sort()).toEqual([0, 1, 2, 3]);
      } finally {
        reader.close();
      }
    });

    it('when one batch of a group cannot be stored, then only that batch is rejected and the others are kept', async ({ openStore }) => {
      const store = openStore();
      const bad = otherSpan({ trace: 9, span: 3, attributes: { f: (() => 0) as never } });
      const results = await Promise.allSettled([
        store.consume([taskSpan({ trace: 7, span: 1 }), taskSpan({ trace: 7, span: 2 })]),
        store.consume([taskSpan({ trace: 9, span: 1 }), bad, taskSpan({ trace: 9, span: 2 })]),
        store.consume([taskSpan({ trace: 8, span: 1 })]),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((await store.spansOfTrace(traceId(7))).map((s) => s.spanId)).toEqual([spanId(1), spanId(2)]);
      expect(await store.spansOfTrace(traceId(9))).toEqual([]);
      expect(await store.stats()).toEqual({ spans: 3, tasks: 3, shutdowns: 0 });
    });

    it('when the store is closed while batches wait for their commit, then they are committed and answered first', async ({ dir, openStore }) => {
      const store = openStore();
      const consumed = store.consume([taskSpan({ trace: 5, span: 1 }), taskSpan({ trace: 5, span: 2 })]);
      await store.close();
      await expect(consumed).resolves.toBeUndefined();
      const again = SqliteStore.open({ path: join(dir, 'store.db'), verdictOf: verdictAlone });
      try {
        expect(await again.stats()).toEqual({ spans: 2, tasks: 2, shutdowns: 0 });
      } finally {
        await again.close();
      }
    });

    it('when more spans arrive than one group holds, then they are committed in several groups and all kept', async ({ openStore }) => {
      const store = openStore();
      const per = Math.ceil(GROUP_COMMIT_MAX_SPANS / 3);
      const batches = [0, 1, 2, 3, 4].map((b) => Array.from({ length: per }, (_, n) => taskSpan({ trace: 100 + b, span: n + 1 })));
      await Promise.all(batches.map((batch) => store.consume(batch)));
      expect((await store.stats()).spans).toBe(5 * per);
    });
  });

  describe('performance', () => {
    it('when an instance holds 100,000 tasks stored in batches of 10,000, then a shutdown window of it reads in well under a second', async ({ openStore }) => {
      const store = openStore();
      const TASKS = 100_000;
      const BATCH = 10_000;
      const spans: SpanRecord[] = [];
      for (let n = 0; n < TASKS; n++) {
        // each task lives 5 ms; one in 997 is still pending, snapshotted 1 µs after it started
        const start = BigInt(n) * 1_000n;
        const pending = n % 997 === 0;
        spans.push(
          taskSpan({
            trace: 1 + (n % 500),
            span: n + 1,
            start,
            end: pending ? start + 1_000n : start + 5_000_000n,
            snapshot: pending,
            state: 'cancelled',
            cancelled: true,
            attributes: { 'task.id': String(n), 'task.coroutine': 'app.worker.run', 'code.filepath': '/srv/app/worker.py', 'code.lineno': 42 },
          }),
        );
      }
      let insertMs = 0;
      for (let i = 0; i < TASKS; i += BATCH) {
        const t0 = performance.now();
        await store.consume(spans.slice(i, i + BATCH));
        insertMs += performance.now() - t0;
      }
      const windowStart = 50_000_000n;
      const windowEnd = 51_000_000n;
      const t0 = performance.now();
      const got = await store.tasksInWindow('svc-1', windowStart, windowEnd);
      const windowMs = performance.now() - t0;
      const expected = spans.filter((s) => (s.endTime >= windowStart || s.snapshot) && s.startTime <= windowEnd);
      expect(got.map(key).sort()).toEqual(expected.map(key).sort());
      expect(expected.length).toBeGreaterThan(6_000);

      // The newest page must come straight off the end-time index, not from sorting every task.
      const t1 = performance.now();
      const page = await store.queryTasks({ limit: 100 });
      const pageMs = performance.now() - t1;
      expect(page.tasks[0].task.endTime).toBe(spans[TASKS - 1].endTime);
      console.log(
        `SqliteStore: ${Math.round((TASKS / insertMs) * 1000)} spans/s inserted in batches of ${BATCH}; ` +
          `window of ${got.length} of ${TASKS} tasks read in ${windowMs.toFixed(0)} ms; ` +
          `first page of queryTasks in ${pageMs.toFixed(1)} ms`,
      );
    });
  });

  describe('task views', () => {
    it('when a window is read over its row ids or through the index (rows of other instances interleaved few or many), then it holds the same tasks as tasksInWindow', async ({
      dir,
    }) => {
      const store = SqliteStore.open({
        path: join(dir, 'interleaved.db'),
        verdictOf: verdictAlone,
        judgmentOf: (t) => ({ verdict: 'finished', text: '{}', view: JSON.stringify([key(t)]) }),
      });
      try {
        const at = (n: number) => taskSpan({ instance: n % 2 === 0 ? 'near' : 'other', start: 1_000n * BigInt(n), end: 5_000n + BigInt(n) });
        // near: every other row (a range twice its size); far: one row in ten (through the index)
        await store.consume(Array.from({ length: 40 }, (_, n) => at(n)));
        await store.consume(Array.from({ length: 40 }, (_, n) => taskSpan({ instance: n % 10 === 0 ? 'far' : 'filler', start: BigInt(n), end: 6_000n })));
        for (const instance of ['near', 'far']) {
          for (const [start, end] of [
            [0n, undefined],
            [5_020n, 30_000n],
          ] as const) {
            const seen: string[] = [];
            await store.scanTaskViews(instance, start, end, { view: (text) => seen.push(JSON.parse(text as string)[0]) > 0, record: () => {} });
            const expected = (await store.tasksInWindow(instance, start, end)).map(key);
            expect(seen.sort()).toEqual(expected.sort());
            expect(expected.length).toBeGreaterThan(0);
          }
        }
      } finally {
        await store.close();
      }
    });
    it('when task rows are scanned, then each comes with the view kept at ingest, and a row without a usable view comes as its whole record', async ({
      dir,
    }) => {
      const instance = 'views-1';
      const tasks = [1, 2, 3].map((n) =>
        taskSpan({
          instance,
          start: 1_000n * BigInt(n),
          end: 5_000n * BigInt(n),
          attributes: { 'task.name': `t${n}`, 'code.function': 'work', 'http.route': '/x' },
          events: [{ name: 'task.cancel_requested', time: 1_500n * BigInt(n), attributes: {} }],
        }),
      );
      const path = join(dir, 'views.db');
      // Storage knows nothing of analysis: any judgment and view text will do.
      const store = SqliteStore.open({
        path,
        verdictOf: verdictAlone,
        judgmentOf: (t) => ({ verdict: 'finished', text: '{}', view: JSON.stringify([1, 'k', key(t)]) }),
      });
      try {
        await store.consume(tasks);
        const scan = async () => {
          const views: string[] = [];
          const records: string[] = [];
          await store.scanTaskViews(instance, 0n, undefined, {
            view: (text) => {
              if (text === null || text.startsWith('"')) return false;
              views.push(JSON.parse(text)[2]);
              return true;
            },
            record: (task) => records.push(key(task)),
          });
          return { views: views.sort(), records: records.sort() };
        };
        const all = tasks.map(key).sort();
        expect(await scan()).toEqual({ views: all, records: [] });
        // Rows without a view (written before views were kept) or with one the reader refuses: read whole.
        const other = new Database(path);
        try {
          other.prepare('UPDATE task_views SET view = NULL WHERE span_row = (SELECT id FROM spans WHERE span_id = ?)').run(tasks[0].spanId);
          other.prepare('UPDATE task_views SET view = \'"old"\' WHERE span_row = (SELECT id FROM spans WHERE span_id = ?)').run(tasks[1].spanId);
        } finally {
          other.close();
        }
        expect(await scan()).toEqual({ views: [key(tasks[2])], records: [key(tasks[0]), key(tasks[1])].sort() });
      } finally {
        await store.close();
      }
    });
  });

  describe('schema versions', () => {
    /** The version-1 schema exactly as the first release created it; never change this text. */
    const VERSION_1_SCHEMA = `
      CREATE TABLE spans (
        id INTEGER PRIMARY KEY, trace_id TEXT NOT NULL, span_id TEXT NOT NULL, role TEXT NOT NULL,
        service TEXT NOT NULL, instance TEXT NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
        created_ns INTEGER NOT NULL, snapshot INTEGER NOT NULL, verdict TEXT, record TEXT NOT NULL,
        UNIQUE (trace_id, span_id)
      );
      CREATE INDEX spans_shutdown_start ON spans (start_ns) WHERE role = 'shutdown';
      CREATE INDEX spans_task_instance_end ON spans (instance, end_ns) WHERE role = 'task';
      CREATE INDEX spans_task_pending ON spans (instance, created_ns) WHERE role = 'task' AND snapshot = 1;
      CREATE INDEX spans_task_end ON spans (end_ns) WHERE role = 'task';
      PRAGMA user_version = 1;`;

    it('when a version-1 database is opened, then it is migrated to the current version and its data is there', async ({ dir, openStore }) => {
      const path = join(dir, 'store.db');
      const old = new Database(path);
      old.exec(VERSION_1_SCHEMA);
      const task = taskSpan({ trace: 1, span: 1, state: 'cancelled', cancelled: true, end: 1700000000123456789n });
      const shutdown = shutdownSpan({ trace: 1, span: 2, outcome: 'clean' });
      const insert = old.prepare(
        `INSERT INTO spans (trace_id, span_id, role, service, instance, start_ns, end_ns, created_ns, snapshot, verdict, record)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      insert.run(task.traceId, task.spanId, 'task', 'svc', 'svc-1', task.startTime, task.endTime, task.startTime, 0, 'cancelled', encodeSpanRecord(task));
      insert.run(shutdown.traceId, shutdown.spanId, 'shutdown', 'svc', 'svc-1', 1_000n, 1_010n, 1_000n, 0, null, encodeSpanRecord(shutdown));
      old.close();

      const store = openStore();
      expect(await store.spansOfTrace(traceId(1))).toEqual([task, shutdown]);
      expect((await store.queryTasks({ limit: 5, verdict: 'cancelled' })).tasks.map((t) => t.task.endTime)).toEqual([1700000000123456789n]);
      expect((await store.getShutdown(`${traceId(1)}-${spanId(2)}`))?.outcome).toBe('clean');
      await store.consume([taskSpan({ trace: 1, span: 3 })]);
      expect(await store.stats()).toEqual({ spans: 3, tasks: 2, shutdowns: 1 });
      await store.close();

      const check = new Database(path, { readonly: true });
      try {
        expect(check.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
        const indices = check.prepare(`SELECT name FROM sqlite_master WHERE type = 'index'`).pluck().all();
        expect(indices).toContain('spans_task_end_buckets');
        expect(indices).toContain('task_views_window_buckets');
      } finally {
        check.close();
      }
    });

    /** Version 2 added these to version 1; never change this text. */
    const VERSION_2_STEP = `
      CREATE INDEX spans_task_verdict_end ON spans (verdict, end_ns) WHERE role = 'task';
      CREATE INDEX spans_task_service_end ON spans (service, end_ns) WHERE role = 'task';
      PRAGMA user_version = 2;`;

    it('when a version-2 database holding records is opened, then resources move to their table and every record reads back equal', async ({
      dir,
      openStore,
    }) => {
      const path = join(dir, 'store.db');
      const old = new Database(path);
      old.exec(VERSION_1_SCHEMA);
      old.exec(VERSION_2_STEP);
      const snapshot = taskSpan({ trace: 1, span: 1, snapshot: true, cancelled: true, end: 1700000000123456789n });
      const spans = [
        snapshot,
        taskSpan({ trace: 1, span: 2, state: 'cancelled', cancelled: true, attributes: { big: 2n ** 70n, tagLike: '\u0001s', nan: NaN } }),
        shutdownSpan({ trace: 1, span: 3, outcome: 'clean', instance: 'svc-2' }),
        otherSpan({ trace: 1, span: 4, attributes: { 'http.route': '/x' } }),
      ];
      spans[1].resource = { ...spans[1].resource, 'process.pid': 2n ** 64n };
      const insert = old.prepare(
        `INSERT INTO spans (trace_id, span_id, role, service, instance, start_ns, end_ns, created_ns, snapshot, verdict, record)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const s of spans) {
        const verdict = s.role === 'task' ? verdictAlone({ span: s, finalState: s.snapshot ? 'pending' : 'cancelled' } as TaskRecord) : null;
        insert.run(s.traceId, s.spanId, s.role, s.service, s.instance, s.startTime, s.endTime, s.startTime, s.snapshot ? 1 : 0, verdict, encodeSpanRecord(s));
      }
      // a row no version could read: it must not stop the migration nor the reads of other traces
      insert.run(traceId(2), spanId(9), 'other', 'svc', 'svc-1', 1n, 2n, 1n, 0, null, '{"v": 1, "broken');
      old.close();

      const store = openStore();
      expect(await store.spansOfTrace(traceId(1))).toEqual(spans);
      expect((await store.tasksInWindow('svc-1', 0n, undefined)).map((t) => t.span)).toEqual(expect.arrayContaining(spans.slice(0, 2)));
      await expect(store.spansOfTrace(traceId(2))).rejects.toThrow();
      // the replace rule holds across migrated rows
      const final = taskSpan({ trace: 1, span: 1, state: 'completed', cancelled: true, end: 1700000000223456789n });
      await store.consume([final]);
      expect((await store.spansOfTrace(traceId(1)))[0]).toEqual(final);
      await store.close();

      const check = new Database(path, { readonly: true });
      try {
        expect(check.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
        expect(check.prepare('SELECT count(*) FROM resources').pluck().get()).toBe(3);
        const rows = check.prepare('SELECT trace_id, resource_id, record FROM spans ORDER BY id').raw().all() as [string, number | null, string][];
        expect(rows.filter(([t]) => t === traceId(1)).every(([, rid, record]) => rid !== null && record.startsWith('['))).toBe(true);
        expect(rows.find(([t]) => t === traceId(2))).toEqual([traceId(2), null, '{"v": 1, "broken']);
      } finally {
        check.close();
      }
    });

    it('when the database was written by a newer version, then open fails with a clear StoreSchemaError', async ({ dir }) => {
      const path = join(dir, 'future.db');
      const future = new Database(path);
      future.pragma(`user_version = ${MIGRATIONS.length + 5}`);
      future.close();
      const open = () => SqliteStore.open({ path, verdictOf: verdictAlone });
      expect(open).toThrow(StoreSchemaError);
      expect(open).toThrow(new RegExp(`schema version ${MIGRATIONS.length + 5}, but this canceltrace knows versions up to ${MIGRATIONS.length}`));
      const after = new Database(path, { readonly: true });
      expect(after.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length + 5);
      after.close();
    });
  });
});
