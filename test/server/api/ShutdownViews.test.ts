import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SHARED_CACHE_MILLIS, ShutdownViews } from '../../../server/api/ShutdownViews.js';
import { judgeTaskAlone } from '../../../server/judge/index.js';
import { SqliteStore } from '../../../server/store/SqliteStore.js';
import { events, MS, SEC, shutdownSpan, taskSpan } from '../../doubles/spans.js';

describe('ShutdownViews', () => {
  let store: SqliteStore;
  let reads: number;
  let views: ShutdownViews;

  beforeEach(() => {
    store = SqliteStore.open({ path: join(mkdtempSync(join(tmpdir(), 'canceltrace-views-')), 'db.sqlite'), verdictOf: judgeTaskAlone });
    reads = 0;
    const tasksInWindow = store.tasksInWindow.bind(store);
    store.tasksInWindow = (...args) => {
      reads++;
      return tasksInWindow(...args);
    };
    // The views read tasks with their stored judgments when the store keeps them: count those reads too.
    const judgedTasksInWindow = store.judgedTasksInWindow.bind(store);
    store.judgedTasksInWindow = (...args) => {
      reads++;
      return judgedTasksInWindow(...args);
    };
    const scanTaskViews = store.scanTaskViews.bind(store);
    store.scanTaskViews = (...args) => {
      reads++;
      return scanTaskViews(...args);
    };
    views = new ShutdownViews(store, {}, 2);
  });
  afterEach(async () => {
    await store.close();
  });

  describe('summary', () => {
    it('when more shutdowns are listed than whole reports are kept, then polling the list again reads nothing', async () => {
      await views.consume(Array.from({ length: 5 }, (_, i) => shutdownSpan({ instance: `i${i}`, start: BigInt(i) * SEC, end: BigInt(i) * SEC + MS })));
      const shutdowns = await store.listShutdowns();
      for (const s of shutdowns) await views.summary(s);
      expect(reads).toBe(5);
      for (const s of shutdowns) await views.summary(s);
      expect(reads).toBe(5);
    });

    it('when a span of the instance arrives, then its summary is judged again and the others are not', async () => {
      await views.consume([shutdownSpan({ instance: 'a', end: 2n * SEC }), shutdownSpan({ instance: 'b', end: 2n * SEC })]);
      const [first, second] = await store.listShutdowns();
      await views.summary(first);
      await views.summary(second);
      await views.consume([taskSpan({ instance: first.instance, start: -SEC, end: SEC, finalState: 'completed', events: [events.cancel(100n * MS)] })]);
      expect((await views.summary(first)).counts.swallowed).toBe(1);
      await views.summary(second);
      expect(reads).toBe(3);
    });
  });

  describe('reports kept', () => {
    it('when the kept reports would hold more tasks than maxTasks, then the least recently used go first, and the newest stays whatever its size', async () => {
      const bounded = new ShutdownViews(store, {}, 10, { maxTasks: 3 });
      const tasksOf = (instance: string, n: number) =>
        Array.from({ length: n }, (_, i) =>
          taskSpan({
            instance,
            spanId: `${instance}${i}`.padStart(16, '0'),
            start: -SEC,
            end: SEC,
            finalState: 'cancelled',
            events: [events.cancel(100n * MS)],
          }),
        );
      await bounded.consume([
        shutdownSpan({ instance: 'a', end: 2n * SEC }),
        shutdownSpan({ instance: 'b', end: 2n * SEC }),
        shutdownSpan({ instance: 'c', end: 2n * SEC }),
        ...tasksOf('a', 2),
        ...tasksOf('b', 1),
        ...tasksOf('c', 4),
      ]);
      const byInstance = new Map((await store.listShutdowns()).map((s) => [s.instance, s]));
      const read = async (instance: string) => (await bounded.briefReport(byInstance.get(instance)!)).tasks.count;
      expect([await read('a'), await read('b')]).toEqual([2, 1]);
      expect(reads).toBe(2);
      // a and b (3 tasks) fit: both are served from the cache
      await read('a');
      await read('b');
      expect(reads).toBe(2);
      // c alone is over the bound: it is kept, a and b are dropped
      expect(await read('c')).toBe(4);
      await read('c');
      expect(reads).toBe(3);
      await read('a');
      expect(reads).toBe(4);
    });
  });

  describe('with a store other instances write to', () => {
    /** A span another canceltrace instance stored: it never passes through `views`. */
    const swallowedElsewhere = (instance: string) =>
      new ShutdownViews(store).consume([taskSpan({ instance, start: -SEC, end: SEC, finalState: 'completed', events: [events.cancel(100n * MS)] })]);

    it('when another instance writes, then a cached report and summary are reused only until maxAgeMillis has passed', async () => {
      let clock = 0;
      const shared = new ShutdownViews(store, {}, 2, { maxAgeMillis: DEFAULT_SHARED_CACHE_MILLIS, now: () => clock });
      await shared.consume([shutdownSpan({ instance: 'a', end: 2n * SEC })]);
      const [shutdown] = await store.listShutdowns();
      expect((await shared.summary(shutdown)).counts.swallowed ?? 0).toBe(0);
      expect(reads).toBe(1);

      await swallowedElsewhere('a');
      clock = DEFAULT_SHARED_CACHE_MILLIS - 1;
      expect((await shared.summary(shutdown)).counts.swallowed ?? 0).toBe(0);
      expect((await shared.briefReport(shutdown)).counts.swallowed ?? 0).toBe(0);
      expect(reads).toBe(1);

      clock = DEFAULT_SHARED_CACHE_MILLIS;
      expect((await shared.summary(shutdown)).counts.swallowed).toBe(1);
      expect((await shared.briefReport(shutdown)).counts.swallowed).toBe(1);
      expect(reads).toBe(2);
    });

    it('when no bound is set, then a write of another instance is never seen through the cache (why a shared store needs one)', async () => {
      await views.consume([shutdownSpan({ instance: 'b', end: 2n * SEC })]);
      const [shutdown] = await store.listShutdowns();
      await views.summary(shutdown);
      await swallowedElsewhere('b');
      expect((await views.summary(shutdown)).counts.swallowed ?? 0).toBe(0);
      expect(reads).toBe(1);
    });
  });
});
