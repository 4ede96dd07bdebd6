import { test as base, describe, expect } from 'vitest';
import type { SpanRecord, TaskRecord, Verdict } from '../../../contract/records.js';
import { SpanCodecError } from '../../../server/store/codec.js';
import type { Store, TaskQuery } from '../../../server/store/Store.js';
import { StoreQueryError } from '../../../server/store/StoreQueryError.js';
import { otherSpan, shutdownSpan, spanId, taskSpan, traceId, verdictAlone } from './spanBuilder.js';

/** What a contract test reads of a store's storage directly, past the {@link Store} interface. */
export interface StorePeek {
  /** rows in the resources table */
  resourceCount(): Promise<number>;
  /** the stored bodies (record column) of every span row */
  bodies(): Promise<string[]>;
  /** the integer time columns of every span row, exactly as the database holds them */
  times(): Promise<{ start: bigint; end: bigint; created: bigint }[]>;
}

/** Fresh, empty storage for one test, and how to open stores on it. */
export interface StoreHarness {
  /** opens a store on this test's storage; every call opens another store on the same storage */
  open(verdictOf: (task: TaskRecord) => Verdict): Promise<Store>;
  peek: StorePeek;
  /** removes the storage, after every store on it is closed */
  dispose(): Promise<void>;
}

interface Fixtures {
  /** opens a store on this test's fresh storage (closed after the test) */
  openStore: (verdictOf?: (task: TaskRecord) => Verdict) => Promise<Store>;
  peek: StorePeek;
}

/** The key of a record, for comparing sets of records. */
const key = (r: { traceId: string; spanId: string }) => `${r.traceId}/${r.spanId}`;

/**
 * Registers the behaviour every {@link Store} must have, for the store that `harness` makes: the
 * same cases run against SqliteStore and PgStore, so the two cannot drift apart.
 */
export function storeContract(name: string, harness: () => Promise<StoreHarness>): void {
  const it = base.extend<Fixtures & { storage: StoreHarness }>({
    // eslint-disable-next-line no-empty-pattern
    storage: async ({}, use) => {
      const storage = await harness();
      await use(storage);
      await storage.dispose();
    },
    openStore: async ({ storage }, use) => {
      const stores: Store[] = [];
      await use(async (verdictOf = verdictAlone) => {
        const store = await storage.open(verdictOf);
        stores.push(store);
        return store;
      });
      for (const store of stores) await store.close();
    },
    peek: async ({ storage }, use) => {
      await use(storage.peek);
    },
  });

  describe(`${name} (Store contract)`, () => {
    describe('open and close', () => {
      it('when the store is closed and opened again on the same storage, then every record is still there', async ({ openStore }) => {
        const spans = [
          taskSpan({ trace: 1, span: 1, state: 'cancelled', cancelled: true, attributes: { big: 12345678901234567890n } }),
          taskSpan({ trace: 1, span: 2, snapshot: true, end: 5_000n }),
          shutdownSpan({ trace: 2, span: 3, outcome: 'clean' }),
          otherSpan({ trace: 2, span: 4, attributes: { 'http.route': '/x' } }),
        ];
        const first = await openStore();
        await first.consume(spans);
        await first.close();

        const again = await openStore();
        expect([...(await again.spansOfTrace(traceId(1))), ...(await again.spansOfTrace(traceId(2)))]).toEqual(spans);
        expect(await again.stats()).toEqual({ spans: 4, tasks: 2, shutdowns: 1 });
        expect((await again.queryTasks({ limit: 10, verdict: 'cancelled' })).tasks.map((t) => t.task.spanId)).toEqual([spanId(1)]);
      });

      it('when close is called twice, then the second call does nothing and later reads reject', async ({ openStore }) => {
        const store = await openStore();
        await store.consume([taskSpan()]);
        await store.close();
        await expect(store.close()).resolves.toBeUndefined();
        await expect(store.stats()).rejects.toThrow(/closed/);
        await expect(store.consume([taskSpan()])).rejects.toThrow(/closed/);
      });
    });

    describe('consume', () => {
      const snapshotAt = (end: bigint) => taskSpan({ trace: 9, span: 9, snapshot: true, end, cancelled: true });
      const finalAt = (end: bigint) => taskSpan({ trace: 9, span: 9, state: 'completed', end, cancelled: true });
      const stored = async (store: Store) => (await store.spansOfTrace(traceId(9)))[0];

      it('when a snapshot then a final record arrive, then the final record is kept with its verdict', async ({ openStore }) => {
        const store = await openStore();
        await store.consume([snapshotAt(2_000n)]);
        expect((await store.queryTasks({ limit: 5, verdict: 'survivor' })).tasks).toHaveLength(1);
        await store.consume([finalAt(3_000n)]);
        expect(await stored(store)).toEqual(finalAt(3_000n));
        expect((await store.queryTasks({ limit: 5, verdict: 'survivor' })).tasks).toHaveLength(0);
        expect((await store.queryTasks({ limit: 5, verdict: 'swallowed' })).tasks).toHaveLength(1);
      });

      it('when a final record then a later snapshot arrive, then the final record is kept', async ({ openStore }) => {
        const store = await openStore();
        await store.consume([finalAt(3_000n)]);
        await store.consume([snapshotAt(9_000n)]);
        expect(await stored(store)).toEqual(finalAt(3_000n));
        expect((await store.queryTasks({ limit: 5 })).tasks.map((t) => t.verdict)).toEqual(['swallowed']);
      });

      it('when two snapshots arrive in either order, then the later one is kept', async ({ openStore }) => {
        const store = await openStore();
        await store.consume([snapshotAt(2_000n)]);
        await store.consume([snapshotAt(4_000n)]);
        expect((await stored(store)).endTime).toBe(4_000n);
        await store.consume([snapshotAt(3_000n)]);
        expect((await stored(store)).endTime).toBe(4_000n);
      });

      it('when two records of the same kind end at the same time, then the one with more events is kept, else the stored one', async ({ openStore }) => {
        const store = await openStore();
        const withEvents = (n: number, name: string) =>
          taskSpan({
            trace: 9,
            span: 9,
            state: 'cancelled',
            end: 3_000n,
            name,
            events: Array.from({ length: n }, (_, i) => ({ name: 'e', time: 1_000n + BigInt(i), attributes: {} })),
          });
        await store.consume([withEvents(1, 'first')]);
        await store.consume([withEvents(1, 'same count')]);
        expect((await stored(store)).name).toBe('first');
        await store.consume([withEvents(3, 'more events')]);
        expect((await stored(store)).name).toBe('more events');
        await store.consume([withEvents(2, 'fewer events')]);
        expect((await stored(store)).name).toBe('more events');
      });

      it('when one batch holds several records of the same span, then the same rule picks the one kept', async ({ openStore }) => {
        const store = await openStore();
        await store.consume([snapshotAt(2_000n), finalAt(3_000n), snapshotAt(8_000n)]);
        expect(await stored(store)).toEqual(finalAt(3_000n));
        expect(await store.stats()).toEqual({ spans: 1, tasks: 1, shutdowns: 0 });
      });

      it('when a record in the middle of a batch cannot be encoded, then nothing of the batch is kept', async ({ openStore }) => {
        const store = await openStore();
        await store.consume([snapshotAt(2_000n)]);
        const bad = otherSpan({ trace: 3, attributes: { f: (() => 0) as never } });
        const batch = [finalAt(3_000n), taskSpan({ trace: 3, span: 1 }), bad, taskSpan({ trace: 3, span: 2 })];
        await expect(store.consume(batch)).rejects.toThrow(SpanCodecError);
        expect(await stored(store)).toEqual(snapshotAt(2_000n));
        expect(await store.spansOfTrace(traceId(3))).toEqual([]);
        expect(await store.stats()).toEqual({ spans: 1, tasks: 1, shutdowns: 0 });
      });

      it('when the injected verdictOf throws half-way, then nothing of the batch is kept', async ({ openStore }) => {
        const store = await openStore((task) => {
          if (task.name === 'boom') throw new Error('judge failed');
          return verdictAlone(task);
        });
        const batch = [taskSpan({ trace: 4, span: 1 }), taskSpan({ trace: 4, span: 2, name: 'boom' })];
        await expect(store.consume(batch)).rejects.toThrow('judge failed');
        expect(await store.stats()).toEqual({ spans: 0, tasks: 0, shutdowns: 0 });
      });

      it('when times carry full nanosecond precision, then they come back exact, also in the integer columns', async ({ openStore, peek }) => {
        const t = 1700000000123456789n;
        const span = taskSpan({ trace: 5, span: 5, start: t, end: t + 2n, created: t - 1n, attributes: { 'x.ns': t } });
        const store = await openStore();
        await store.consume([span]);
        const [back] = await store.spansOfTrace(traceId(5));
        expect(back.startTime).toBe(t);
        expect(back.endTime).toBe(t + 2n);
        expect(back.attributes['x.ns']).toBe(t);
        const [task] = await store.tasksInWindow('svc-1', t + 2n, undefined);
        expect(task.createdAt).toBe(t - 1n);
        // one nanosecond past the end: a double would round both to the same value
        expect(await store.tasksInWindow('svc-1', t + 3n, undefined)).toEqual([]);
        expect(await peek.times()).toEqual([{ start: t, end: t + 2n, created: t - 1n }]);
      });
    });

    describe('resources', () => {
      it('when many spans share a few resources, then each resource is stored once and every record reads back with its own', async ({ openStore, peek }) => {
        const spans = Array.from({ length: 40 }, (_, n) =>
          n % 2 === 0 ? taskSpan({ trace: 6, span: n + 1, instance: 'svc-a' }) : otherSpan({ trace: 6, span: n + 1, instance: 'svc-b', attributes: { n } }),
        );
        const store = await openStore();
        await store.consume(spans.slice(0, 25));
        await store.consume(spans.slice(25));
        expect(await store.spansOfTrace(traceId(6))).toEqual(spans);
        expect(await peek.resourceCount()).toBe(2);
        const bodies = await peek.bodies();
        expect(bodies).toHaveLength(40);
        expect(bodies.filter((b) => b.includes('service.instance.id'))).toEqual([]);
        await store.close();
        const again = await openStore();
        const window = await again.tasksInWindow('svc-a', 0n, undefined);
        expect(window.map((t) => t.span).sort((a, b) => a.spanId.localeCompare(b.spanId))).toEqual(spans.filter((s) => s.instance === 'svc-a'));
      });

      it('when a batch that brought a new resource is rolled back, then a later batch of that resource still stores it', async ({ openStore, peek }) => {
        const store = await openStore();
        const bad = otherSpan({ trace: 7, span: 2, instance: 'svc-new', attributes: { f: (() => 0) as never } });
        await expect(store.consume([taskSpan({ trace: 7, span: 1, instance: 'svc-new' }), bad])).rejects.toThrow(SpanCodecError);
        const good = taskSpan({ trace: 7, span: 3, instance: 'svc-new' });
        await store.consume([good]);
        expect(await store.spansOfTrace(traceId(7))).toEqual([good]);
        expect(await peek.resourceCount()).toBe(1);
      });
    });

    describe('tasksInWindow', () => {
      it('when tasks of several traces and instances exist, then it picks those of the instance alive at start or created in the window', async ({
        openStore,
      }) => {
        const store = await openStore();
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
        const store = await openStore();
        await store.consume([taskSpan({ trace: 1, span: 1, start: 50_000n, end: 60_000n }), taskSpan({ trace: 1, span: 2, start: 1_000n, end: 2_000n })]);
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

      async function allPages(store: Store, query: Omit<TaskQuery, 'cursor'>) {
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
        const store = await openStore();
        const spans = manyTasks();
        await store.consume(spans);
        const { seen, pages } = await allPages(store, { limit: 10 });
        expect(pages).toBe(6);
        expect(seen.map((t) => key(t.task)).sort()).toEqual(spans.map(key).sort());
        const ends = seen.map((t) => t.task.endTime);
        expect(ends).toEqual([...ends].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0)));
      });

      it('when the page size divides the count exactly, then the last page still ends the paging', async ({ openStore }) => {
        const store = await openStore();
        await store.consume(manyTasks().slice(0, 20));
        const { seen } = await allPages(store, { limit: 5 });
        expect(new Set(seen.map((t) => key(t.task))).size).toBe(20);
      });

      it('when filtered by verdict, service and since, then only matching tasks come back, across pages', async ({ openStore }) => {
        const store = await openStore();
        const spans = manyTasks();
        await store.consume([...spans, shutdownSpan({ trace: 1, span: 999, outcome: 'clean' })]);
        const expected = (pick: (s: SpanRecord) => boolean) => spans.filter(pick).map(key).sort();

        const swallowed = await allPages(store, { limit: 3, verdict: 'swallowed' });
        expect(swallowed.seen.map((t) => key(t.task)).sort()).toEqual(expected((s) => s.attributes['task.final_state'] === 'completed'));
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
        const store = await openStore();
        await store.consume(manyTasks());
        const good = (await store.queryTasks({ limit: 5 })).nextCursor!;
        const bad = ['not base64!', Buffer.from('hello').toString('base64url'), `${good}A`, Buffer.from('1.2.3').toString('base64url'), ''];
        for (const cursor of bad) {
          await expect(store.queryTasks({ limit: 5, cursor }), cursor).rejects.toThrow(StoreQueryError);
        }
        await expect(store.queryTasks({ limit: 5, cursor: 'zzz' })).rejects.toThrow(/invalid cursor/);
      });

      it('when the limit or verdict is out of range, then it throws a StoreQueryError', async ({ openStore }) => {
        const store = await openStore();
        await expect(store.queryTasks({ limit: 0 })).rejects.toThrow(StoreQueryError);
        await expect(store.queryTasks({ limit: 10_001 })).rejects.toThrow(/1 to 10000/);
        await expect(store.queryTasks({ limit: 1.5 })).rejects.toThrow(StoreQueryError);
        await expect(store.queryTasks({ limit: 5, verdict: 'bogus' as Verdict })).rejects.toThrow(/invalid verdict/);
      });
    });

    describe('shutdowns', () => {
      it('when shutdowns of several services exist, then listShutdowns gives them newest start first, filtered and limited', async ({ openStore }) => {
        const store = await openStore();
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
        const store = await openStore();
        await store.consume([shutdownSpan({ trace: 1, span: 1, reason: 'SIGINT', outcome: 'clean' }), taskSpan({ trace: 1, span: 2 })]);
        const id = `${traceId(1)}-${spanId(1)}`;
        expect(await store.getShutdown(id)).toMatchObject({ id, reason: 'SIGINT', outcome: 'clean', open: false });
        expect((await store.getShutdown(id.toUpperCase()))?.id).toBe(id);
        expect(await store.getShutdown(`${traceId(1)}-${spanId(2)}`)).toBeUndefined();
        expect(await store.getShutdown(`${traceId(7)}-${spanId(1)}`)).toBeUndefined();
      });

      it('when the id is malformed, then getShutdown throws a StoreQueryError', async ({ openStore }) => {
        const store = await openStore();
        for (const id of ['', 'abc', `${traceId(1)}${spanId(1)}`, `${traceId(1)}-${spanId(1)}x`, `${traceId(1)}-zz${spanId(1).slice(2)}`]) {
          await expect(store.getShutdown(id), id).rejects.toThrow(StoreQueryError);
        }
      });
    });
  });
}
