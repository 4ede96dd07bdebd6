import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { test as base, describe, expect } from 'vitest';
import type { SpanRecord, TaskRecord, Verdict } from '../../../collector/records.js';
import { SqliteStore, StoreOpenError, StoreQueryError } from '../../../server/store/SqliteStore.js';
import { SpanCodecError, encodeSpanRecord } from '../../../server/store/codec.js';
import { MIGRATIONS, StoreSchemaError } from '../../../server/store/migrations.js';
import { otherSpan, shutdownSpan, spanId, taskSpan, traceId, verdictAlone } from './spanBuilder.js';

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

    it('when close is called twice, then the second call does nothing and later reads reject', async ({ openStore }) => {
      const store = openStore();
      await store.consume([taskSpan()]);
      await store.close();
      await expect(store.close()).resolves.toBeUndefined();
      await expect(store.stats()).rejects.toThrow(/closed/);
      await expect(store.consume([taskSpan()])).rejects.toThrow(/closed/);
    });

    it('when the store closes while another connection is open, then the WAL is checkpointed and truncated', async ({
      dir,
      openStore,
    }) => {
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

  describe('consume', () => {
    const snapshotAt = (end: bigint) => taskSpan({ trace: 9, span: 9, snapshot: true, end, cancelled: true });
    const finalAt = (end: bigint) => taskSpan({ trace: 9, span: 9, state: 'completed', end, cancelled: true });
    const stored = async (store: SqliteStore) => (await store.spansOfTrace(traceId(9)))[0];

    it('when a snapshot then a final record arrive, then the final record is kept with its verdict', async ({ openStore }) => {
      const store = openStore();
      await store.consume([snapshotAt(2_000n)]);
      expect((await store.queryTasks({ limit: 5, verdict: 'survivor' })).tasks).toHaveLength(1);
      await store.consume([finalAt(3_000n)]);
      expect(await stored(store)).toEqual(finalAt(3_000n));
      expect((await store.queryTasks({ limit: 5, verdict: 'survivor' })).tasks).toHaveLength(0);
      expect((await store.queryTasks({ limit: 5, verdict: 'swallowed' })).tasks).toHaveLength(1);
    });

    it('when a final record then a later snapshot arrive, then the final record is kept', async ({ openStore }) => {
      const store = openStore();
      await store.consume([finalAt(3_000n)]);
      await store.consume([snapshotAt(9_000n)]);
      expect(await stored(store)).toEqual(finalAt(3_000n));
      expect((await store.queryTasks({ limit: 5 })).tasks.map((t) => t.verdict)).toEqual(['swallowed']);
    });

    it('when two snapshots arrive in either order, then the later one is kept', async ({ openStore }) => {
      const store = openStore();
      await store.consume([snapshotAt(2_000n)]);
      await store.consume([snapshotAt(4_000n)]);
      expect((await stored(store)).endTime).toBe(4_000n);
      await store.consume([snapshotAt(3_000n)]);
      expect((await stored(store)).endTime).toBe(4_000n);
    });

    it('when one batch holds several records of the same span, then the same rule picks the one kept', async ({ openStore }) => {
      const store = openStore();
      await store.consume([snapshotAt(2_000n), finalAt(3_000n), snapshotAt(8_000n)]);
      expect(await stored(store)).toEqual(finalAt(3_000n));
      expect(await store.stats()).toEqual({ spans: 1, tasks: 1, shutdowns: 0 });
    });

    it('when a record in the middle of a batch cannot be encoded, then nothing of the batch is kept', async ({ openStore }) => {
      const store = openStore();
      await store.consume([snapshotAt(2_000n)]);
      const bad = otherSpan({ trace: 3, attributes: { f: (() => 0) as never } });
      const batch = [finalAt(3_000n), taskSpan({ trace: 3, span: 1 }), bad, taskSpan({ trace: 3, span: 2 })];
      await expect(store.consume(batch)).rejects.toThrow(SpanCodecError);
      expect(await stored(store)).toEqual(snapshotAt(2_000n));
      expect(await store.spansOfTrace(traceId(3))).toEqual([]);
      expect(await store.stats()).toEqual({ spans: 1, tasks: 1, shutdowns: 0 });
    });

    it('when the injected verdictOf throws half-way, then nothing of the batch is kept', async ({ openStore }) => {
      const store = openStore('store.db', (task) => {
        if (task.name === 'boom') throw new Error('judge failed');
        return verdictAlone(task);
      });
      const batch = [taskSpan({ trace: 4, span: 1 }), taskSpan({ trace: 4, span: 2, name: 'boom' })];
      await expect(store.consume(batch)).rejects.toThrow('judge failed');
      expect(await store.stats()).toEqual({ spans: 0, tasks: 0, shutdowns: 0 });
    });

    it('when times carry full nanosecond precision, then they come back exact, also in the INTEGER columns', async ({ dir, openStore }) => {
      const t = 1700000000123456789n;
      const span = taskSpan({ trace: 5, span: 5, start: t, end: t + 2n, created: t - 1n, attributes: { 'x.ns': t } });
      const store = openStore();
      await store.consume([span]);
      const [back] = await store.spansOfTrace(traceId(5));
      expect(back.startTime).toBe(t);
      expect(back.endTime).toBe(t + 2n);
      expect(back.attributes['x.ns']).toBe(t);
      const [task] = await store.tasksInWindow('svc-1', t + 2n, undefined);
      expect(task.createdAt).toBe(t - 1n);
      // one nanosecond past the end: a double would round both to the same value
      expect(await store.tasksInWindow('svc-1', t + 3n, undefined)).toEqual([]);
      const db = new Database(join(dir, 'store.db'), { readonly: true });
      try {
        const row = db.prepare('SELECT start_ns, end_ns, created_ns FROM spans').safeIntegers(true).get();
        expect(row).toEqual({ start_ns: t, end_ns: t + 2n, created_ns: t - 1n });
      } finally {
        db.close();
      }
    });
  });

  describe('resources', () => {
    /** Reads the file through a second connection. */
    const peek = <T>(path: string, read: (db: Database.Database) => T): T => {
      const db = new Database(path, { readonly: true });
      try {
        return read(db);
      } finally {
        db.close();
      }
    };

    it('when many spans share a few resources, then each resource is stored once and every record reads back with its own', async ({
      dir,
      openStore,
    }) => {
      const spans = Array.from({ length: 40 }, (_, n) =>
        n % 2 === 0 ? taskSpan({ trace: 6, span: n + 1, instance: 'svc-a' }) : otherSpan({ trace: 6, span: n + 1, instance: 'svc-b', attributes: { n } }),
      );
      const store = openStore();
      await store.consume(spans.slice(0, 25));
      await store.consume(spans.slice(25));
      expect(await store.spansOfTrace(traceId(6))).toEqual(spans);
      const path = join(dir, 'store.db');
      expect(peek(path, (db) => db.prepare('SELECT count(*) FROM resources').pluck().get())).toBe(2);
      const bodies = peek(path, (db) => db.prepare('SELECT record FROM spans').pluck().all() as string[]);
      expect(bodies.filter((b) => b.includes('service.instance.id'))).toEqual([]);
      await store.close();
      const again = SqliteStore.open({ path, verdictOf: verdictAlone });
      try {
        expect((await again.tasksInWindow('svc-a', 0n, undefined)).map((t) => t.span)).toEqual(spans.filter((s) => s.instance === 'svc-a'));
      } finally {
        await again.close();
      }
    });

    it('when a batch that brought a new resource is rolled back, then a later batch of that resource still stores it', async ({
      dir,
      openStore,
    }) => {
      const store = openStore();
      const bad = otherSpan({ trace: 7, span: 2, instance: 'svc-new', attributes: { f: (() => 0) as never } });
      await expect(store.consume([taskSpan({ trace: 7, span: 1, instance: 'svc-new' }), bad])).rejects.toThrow(SpanCodecError);
      const good = taskSpan({ trace: 7, span: 3, instance: 'svc-new' });
      await store.consume([good]);
      expect(await store.spansOfTrace(traceId(7))).toEqual([good]);
      expect(peek(join(dir, 'store.db'), (db) => db.prepare('SELECT count(*) FROM resources').pluck().get())).toBe(1);
    });
  });

  describe('tasksInWindow', () => {
    it('when tasks of several traces and instances exist, then it picks those of the instance alive at start or created in the window', async ({
      openStore,
    }) => {
      const store = openStore();
      const start = 10_000n;
      const end = 20_000n;
      const wanted = [
        taskSpan({ trace: 1, span: 1, start: 1_000n, end: 15_000n, name: 'alive at start' }),
        taskSpan({ trace: 2, span: 2, start: 12_000n, end: 30_000n, name: 'created during' }),
        taskSpan({ trace: 3, span: 3, start: 5_000n, end: 10_000n, name: 'ended exactly at start' }),
        taskSpan({ trace: 4, span: 4, start: 1_000n, end: 6_000n, snapshot: true, name: 'pending at an old snapshot' }),
        taskSpan({ trace: 5, span: 5, start: 25_000n, end: 26_000n, created: 19_000n, name: 'created during, span starts later' }),
      ];
      const unwanted = [
        taskSpan({ trace: 1, span: 11, start: 1_000n, end: 9_999n, name: 'ended before start' }),
        taskSpan({ trace: 2, span: 12, start: 20_001n, end: 21_000n, name: 'created after end' }),
        taskSpan({ trace: 3, span: 13, start: 1_000n, end: 15_000n, instance: 'svc-2', name: 'other instance' }),
        taskSpan({ trace: 6, span: 16, start: 20_500n, end: 20_600n, snapshot: true, name: 'pending, created after end' }),
        shutdownSpan({ trace: 1, span: 14, start: start, end: end, outcome: 'clean' }),
        otherSpan({ trace: 1, span: 15, start: 11_000n, end: 12_000n }),
      ];
      await store.consume([...unwanted, ...wanted]);
      const got = await store.tasksInWindow('svc-1', start, end);
      expect(got.map((t) => t.name).sort()).toEqual(wanted.map((s) => s.name).sort());
      expect(got.every((t) => t.instance === 'svc-1')).toBe(true);
      // they come back as task records, read through the contract
      expect(got.find((t) => t.spanId === spanId(5))?.createdAt).toBe(19_000n);
      expect(got.find((t) => t.spanId === spanId(4))?.finalState).toBe('pending');
    });

    it('when the window has no end, then tasks created any time after the start are included', async ({ openStore }) => {
      const store = openStore();
      await store.consume([
        taskSpan({ trace: 1, span: 1, start: 50_000n, end: 60_000n }),
        taskSpan({ trace: 1, span: 2, start: 1_000n, end: 2_000n }),
      ]);
      expect((await store.tasksInWindow('svc-1', 10_000n, undefined)).map((t) => t.spanId)).toEqual([spanId(1)]);
    });
  });

  describe('queryTasks', () => {
    /** 57 tasks over 3 services, several sharing an end time, with a mix of verdicts. */
    function manyTasks(): SpanRecord[] {
      const spans: SpanRecord[] = [];
      for (let i = 0; i < 57; i++) {
        spans.push(
          taskSpan({
            trace: 100 + (i % 7),
            span: i + 1,
            service: ['api', 'worker', 'cron'][i % 3],
            start: 1_000n,
            end: 10_000n + BigInt(Math.floor(i / 4)) * 100n,
            state: i % 5 === 0 ? 'completed' : 'cancelled',
            cancelled: true,
          }),
        );
      }
      return spans;
    }

    async function allPages(store: SqliteStore, query: Omit<Parameters<SqliteStore['queryTasks']>[0], 'cursor'>) {
      const seen: { task: TaskRecord; verdict: Verdict }[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.queryTasks({ ...query, cursor });
        seen.push(...page.tasks);
        cursor = page.nextCursor;
        pages++;
        expect(pages).toBeLessThan(100);
      } while (cursor !== undefined);
      return { seen, pages };
    }

    it('when paging through all tasks, then each task appears exactly once, newest end first', async ({ openStore }) => {
      const store = openStore();
      const spans = manyTasks();
      await store.consume(spans);
      const { seen, pages } = await allPages(store, { limit: 10 });
      expect(pages).toBe(6);
      expect(seen.map((t) => key(t.task)).sort()).toEqual(spans.map(key).sort());
      const ends = seen.map((t) => t.task.endTime);
      expect(ends).toEqual([...ends].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0)));
    });

    it('when the page size divides the count exactly, then the last page still ends the paging', async ({ openStore }) => {
      const store = openStore();
      await store.consume(manyTasks().slice(0, 20));
      const { seen } = await allPages(store, { limit: 5 });
      expect(new Set(seen.map((t) => key(t.task))).size).toBe(20);
    });

    it('when filtered by verdict, service and since, then only matching tasks come back, across pages', async ({ openStore }) => {
      const store = openStore();
      const spans = manyTasks();
      await store.consume([...spans, shutdownSpan({ trace: 1, span: 999, outcome: 'clean' })]);
      const expected = (pick: (s: SpanRecord) => boolean) => spans.filter(pick).map(key).sort();

      const swallowed = await allPages(store, { limit: 3, verdict: 'swallowed' });
      expect(swallowed.seen.map((t) => key(t.task)).sort()).toEqual(
        expected((s) => s.attributes['task.final_state'] === 'completed'),
      );
      expect(swallowed.seen.every((t) => t.verdict === 'swallowed')).toBe(true);

      const worker = await allPages(store, { limit: 4, service: 'worker' });
      expect(worker.seen.map((t) => key(t.task)).sort()).toEqual(expected((s) => s.service === 'worker'));

      const recent = await allPages(store, { limit: 4, since: 11_000n });
      expect(recent.seen.map((t) => key(t.task)).sort()).toEqual(expected((s) => s.endTime >= 11_000n));

      const all = await allPages(store, { limit: 4, since: 11_000n, service: 'api', verdict: 'cancelled' });
      expect(all.seen.map((t) => key(t.task)).sort()).toEqual(
        expected((s) => s.endTime >= 11_000n && s.service === 'api' && s.attributes['task.final_state'] === 'cancelled'),
      );
      expect(all.seen.length).toBeGreaterThan(0);
    });

    it('when the cursor is not one the store made, then it throws a StoreQueryError saying so', async ({ openStore }) => {
      const store = openStore();
      await store.consume(manyTasks());
      const good = (await store.queryTasks({ limit: 5 })).nextCursor!;
      const bad = ['not base64!', Buffer.from('hello').toString('base64url'), `${good}A`, Buffer.from('1.2.3').toString('base64url'), ''];
      for (const cursor of bad) {
        await expect(store.queryTasks({ limit: 5, cursor }), cursor).rejects.toThrow(StoreQueryError);
      }
      await expect(store.queryTasks({ limit: 5, cursor: 'zzz' })).rejects.toThrow(/invalid cursor/);
    });

    it('when the limit or verdict is out of range, then it throws a StoreQueryError', async ({ openStore }) => {
      const store = openStore();
      await expect(store.queryTasks({ limit: 0 })).rejects.toThrow(StoreQueryError);
      await expect(store.queryTasks({ limit: 10_001 })).rejects.toThrow(/1 to 10000/);
      await expect(store.queryTasks({ limit: 1.5 })).rejects.toThrow(StoreQueryError);
      await expect(store.queryTasks({ limit: 5, verdict: 'bogus' as Verdict })).rejects.toThrow(/invalid verdict/);
    });
  });

  describe('shutdowns', () => {
    it('when shutdowns of several services exist, then listShutdowns gives them newest start first, filtered and limited', async ({
      openStore,
    }) => {
      const store = openStore();
      await store.consume([
        shutdownSpan({ trace: 1, span: 1, start: 1_000n, service: 'api', outcome: 'clean' }),
        shutdownSpan({ trace: 2, span: 2, start: 3_000n, service: 'worker' }),
        shutdownSpan({ trace: 3, span: 3, start: 2_000n, service: 'api', outcome: 'survivors' }),
        taskSpan({ trace: 1, span: 4 }),
      ]);
      expect((await store.listShutdowns()).map((s) => s.start)).toEqual([3_000n, 2_000n, 1_000n]);
      expect((await store.listShutdowns({ service: 'api' })).map((s) => s.outcome)).toEqual(['survivors', 'clean']);
      expect((await store.listShutdowns({ limit: 1 })).map((s) => s.open)).toEqual([true]);
      await expect(store.listShutdowns({ limit: -1 })).rejects.toThrow(StoreQueryError);
    });

    it('when asked for one shutdown, then it finds it by id, and a missing one or a task is undefined', async ({ openStore }) => {
      const store = openStore();
      await store.consume([shutdownSpan({ trace: 1, span: 1, reason: 'SIGINT', outcome: 'clean' }), taskSpan({ trace: 1, span: 2 })]);
      const id = `${traceId(1)}-${spanId(1)}`;
      expect(await store.getShutdown(id)).toMatchObject({ id, reason: 'SIGINT', outcome: 'clean', open: false });
      expect((await store.getShutdown(id.toUpperCase()))?.id).toBe(id);
      expect(await store.getShutdown(`${traceId(1)}-${spanId(2)}`)).toBeUndefined();
      expect(await store.getShutdown(`${traceId(7)}-${spanId(1)}`)).toBeUndefined();
    });

    it('when the id is malformed, then getShutdown throws a StoreQueryError', async ({ openStore }) => {
      const store = openStore();
      for (const id of ['', 'abc', `${traceId(1)}${spanId(1)}`, `${traceId(1)}-${spanId(1)}x`, `${traceId(1)}-zz${spanId(1).slice(2)}`]) {
        await expect(store.getShutdown(id), id).rejects.toThrow(StoreQueryError);
      }
    });
  });

  describe('performance', () => {
    it('when an instance holds 100,000 tasks stored in batches of 10,000, then a shutdown window of it reads in well under a second', async ({
      openStore,
    }) => {
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

    it('when a version-1 database is opened, then it is migrated to the current version and its data is there', async ({
      dir,
      openStore,
    }) => {
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
      expect((await store.queryTasks({ limit: 5, verdict: 'cancelled' })).tasks.map((t) => t.task.endTime)).toEqual([
        1700000000123456789n,
      ]);
      expect((await store.getShutdown(`${traceId(1)}-${spanId(2)}`))?.outcome).toBe('clean');
      await store.consume([taskSpan({ trace: 1, span: 3 })]);
      expect(await store.stats()).toEqual({ spans: 3, tasks: 2, shutdowns: 1 });
      await store.close();

      const check = new Database(path, { readonly: true });
      try {
        expect(check.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
        const indices = check.prepare(`SELECT name FROM sqlite_master WHERE type = 'index'`).pluck().all();
        expect(indices).toContain('spans_task_verdict_end');
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
