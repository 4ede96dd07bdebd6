import { describe, expect, it } from 'vitest';
import { drainStats, findingCounts, percentile } from '../../../web/src/layout/drainStats.js';
import { filterTasks } from '../../../web/src/layout/taskFilters.js';
import { toTimelineTask } from '../../../web/src/layout/timelineTask.js';
import { apiTask, at, ORIGIN_NS } from '../fixtures.js';

const tasks = [
  apiTask({ spanId: 'a', coroutine: 'w', cancelRequestedAt: at(10), endedAt: at(20) }),
  apiTask({ spanId: 'b', coroutine: 'w', cancelRequestedAt: at(10), endedAt: at(110), verdict: 'swallowed' }),
  apiTask({ spanId: 'c', coroutine: 'w', cancelRequestedAt: at(10), endedAt: at(60), findings: [{ kind: 'slow_cancel', message: 'm' }] }),
  apiTask({ spanId: 'd', coroutine: 'x', endedAt: at(30), verdict: 'finished', name: 'order ORD-1' }),
].map((t) => toTimelineTask(t, ORIGIN_NS, -1_000));

describe('drainStats', () => {
  it('when tasks of a coroutine were cancelled, then count, verdicts and cancel-to-end percentiles are theirs', () => {
    const [w, x] = drainStats(tasks, 'coroutine');
    expect(w).toMatchObject({ key: 'w', count: 3, verdicts: { cancelled: 2, swallowed: 1 }, cancelled: 3, p50: 50, p95: 100, max: 100, heldUntil: 110 });
    expect(x).toMatchObject({ key: 'x', count: 1, cancelled: 0 });
    expect(Number.isNaN(x.p50)).toBe(true);
  });

  it('percentile(sorted, p) is the nearest rank', () => {
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(percentile([1, 2, 3, 4], 0.95)).toBe(4);
    expect(Number.isNaN(percentile([], 0.5))).toBe(true);
  });

  it('when findings are counted, then each kind gets its tasks', () => {
    expect(findingCounts(tasks)).toEqual([{ kind: 'slow_cancel', tasks: 1 }]);
  });
});

describe('filterTasks', () => {
  it('when filters combine, then only tasks matching all of them remain', () => {
    expect(filterTasks(tasks, { coroutine: 'w', verdict: 'cancelled' }).map((t) => t.id)).toEqual(['a', 'c']);
    expect(filterTasks(tasks, { finding: 'slow_cancel' }).map((t) => t.id)).toEqual(['c']);
    expect(filterTasks(tasks, { q: 'ord-1' }).map((t) => t.id)).toEqual(['d']);
  });

  it("when the server's search hits a task, then the text filter keeps it", () => {
    expect(filterTasks(tasks, { q: 'value-only-in-attributes' }, new Set(['b'])).map((t) => t.id)).toEqual(['b']);
  });
});
