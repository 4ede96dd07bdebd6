import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FIRST_EXPIRY_CURSOR } from '../../../server/retention/ExpiryCursor.js';
import { SqliteStore } from '../../../server/store/SqliteStore.js';
import { StoreBusyError } from '../../../server/store/StoreBusyError.js';
import { otherSpan, spanId, taskSpan, traceId, verdictAlone } from './spanBuilder.js';
import { storeContract } from './storeContract.js';
import { writerThreadScript } from './writerThreadScript.js';

let script: { url: URL; dispose: () => void };
beforeAll(async () => {
  script = await writerThreadScript();
});
afterAll(() => script.dispose());

storeContract('SqliteStore with a writer thread', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'canceltrace-store-'));
  const path = join(dir, 'store.db');
  const peek = <T>(read: (db: Database.Database) => T): T => {
    const db = new Database(path, { readonly: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  };
  return {
    open: async (verdictOf) => SqliteStore.open({ path, verdictOf, writerThread: script.url }),
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

describe('SqliteStore with a writer thread', () => {
  let dir: string;
  let store: SqliteStore | undefined;
  let other: Database.Database | undefined;
  afterEach(async () => {
    other?.close();
    other = undefined;
    await store?.close();
    store = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  const open = (options: { writeBusyTimeoutMs?: number } = {}) => {
    dir = mkdtempSync(join(tmpdir(), 'canceltrace-writer-store-'));
    const path = join(dir, 'store.db');
    store = SqliteStore.open({ path, verdictOf: verdictAlone, writerThread: script.url, ...options });
    return { store, path };
  };

  it('when several batches are written, then each is answered only after all of it is readable from another connection', async () => {
    const { store, path } = open();
    const reader = new Database(path, { readonly: true });
    try {
      const count = () => reader.prepare('SELECT count(*) FROM spans').pluck().get() as number;
      const batches = [1, 2, 3, 4].map((trace) => Array.from({ length: 50 }, (_, n) => taskSpan({ trace, span: n + 1 })));
      const seen: number[] = [];
      await Promise.all(batches.map((batch) => store.consume(batch).then(() => seen.push(count()))));
      // Every answer came after its batch was committed: never fewer rows than the batches answered so far hold.
      expect(seen.map((rows, i) => rows >= 50 * (i + 1))).toEqual([true, true, true, true]);
      expect(count()).toBe(200);
    } finally {
      reader.close();
    }
  });

  it('when one batch of a group fails in the writer thread, then only that batch is rejected and leaves nothing, and the others are kept', async () => {
    const { store, path } = open();
    await store.consume([otherSpan({ trace: 1, span: 1 })]);
    // A row the writer's INSERT refuses (SQLite, not the encoder on the calling thread).
    other = new Database(path);
    other.exec(`CREATE TRIGGER refuse BEFORE INSERT ON spans WHEN new.span_id = '${spanId(66)}' BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    const results = await Promise.allSettled([
      store.consume([taskSpan({ trace: 7, span: 1 }), taskSpan({ trace: 7, span: 2 })]),
      store.consume([taskSpan({ trace: 9, span: 1 }), taskSpan({ trace: 9, span: 66 }), taskSpan({ trace: 9, span: 2 })]),
      store.consume([taskSpan({ trace: 8, span: 1 })]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ message: expect.stringContaining('refused') });
    expect(await store.spansOfTrace(traceId(9))).toEqual([]);
    expect((await store.spansOfTrace(traceId(7))).map((s) => s.spanId)).toEqual([spanId(1), spanId(2)]);
    expect(await store.stats()).toEqual({ spans: 4, tasks: 3, shutdowns: 0 });
    // Task view rows went with their batch: none for the refused trace.
    expect(other.prepare('SELECT count(*) FROM task_views').pluck().get()).toBe(3);
  });

  it('when the store is closed while batches wait for their commit, then they are committed and answered first', async () => {
    const { store, path } = open();
    const consumed = store.consume([taskSpan({ trace: 5, span: 1 }), taskSpan({ trace: 5, span: 2 })]);
    await store.close();
    await expect(consumed).resolves.toBeUndefined();
    await expect(store.consume([taskSpan({ trace: 5, span: 3 })])).rejects.toThrow(/closed/);
    await store.close();
    const again = SqliteStore.open({ path, verdictOf: verdictAlone });
    try {
      expect(await again.stats()).toEqual({ spans: 2, tasks: 2, shutdowns: 0 });
    } finally {
      await again.close();
    }
  });

  it('when another connection holds the write lock, then a batch is refused with a retryable StoreBusyError, busy() says so, and a retry after the lock stores it', async () => {
    const { store, path } = open({ writeBusyTimeoutMs: 20 });
    other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    const batch = [otherSpan({ trace: 3, span: 1 }), otherSpan({ trace: 3, span: 2 })];
    const error = await store.consume(batch).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreBusyError);
    expect(error).toMatchObject({ busy: true, retryable: true });
    expect(store.busy()).toBe(true);
    other.exec('COMMIT');
    for (let i = 0; ; i++) {
      const stored = await store.consume(batch).then(
        () => true,
        (e) => (e instanceof StoreBusyError && i < 50 ? false : Promise.reject(e)),
      );
      if (stored) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await store.spansOfTrace(traceId(3))).map((s) => s.spanId)).toEqual([spanId(1), spanId(2)]);
  });

  it('when retention expires records, then the writer thread deletes them and bumps their instance generation', async () => {
    const { store } = open();
    await store.consume([taskSpan({ trace: 1, span: 1, start: 10n, end: 20n }), taskSpan({ trace: 1, span: 2, start: 10n, end: 5_000n })]);
    const before = await store.answers.generation('svc-1');
    let cursor = FIRST_EXPIRY_CURSOR;
    let deleted = 0;
    for (let batch = await store.expireBatch(1_000n, 100, cursor); ; batch = await store.expireBatch(1_000n, 100, cursor)) {
      deleted += batch.deleted.task;
      if (!batch.next) break;
      cursor = batch.next;
    }
    expect(deleted).toBe(1);
    expect((await store.spansOfTrace(traceId(1))).map((s) => s.spanId)).toEqual([spanId(2)]);
    expect(await store.answers.generation('svc-1')).toBeGreaterThan(before);
    expect(await store.reclaimSpace(10)).toBeGreaterThanOrEqual(0);
  });
});
