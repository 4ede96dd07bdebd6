import { describe, expect, it } from 'vitest';
import { toTimelineTask } from '../../../web/src/layout/timelineTask.js';
import { apiTask, at, ORIGIN_NS } from '../fixtures.js';

describe('toTimelineTask', () => {
  it('when a task was created before the window, then its bar starts at the window start and is marked clipped', () => {
    const t = toTimelineTask(apiTask({ spanId: 'a', createdAt: at(-5000), endedAt: at(200) }), ORIGIN_NS, -100);
    expect(t).toMatchObject({ start: -100, end: 200, clippedStart: true });
  });

  it('when the cleanup has a start and an end, then one step is paired with its outcome', () => {
    const t = toTimelineTask(
      apiTask({
        spanId: 'b',
        events: [
          { name: 'task.cancel_requested', time: at(10), attributes: {} },
          { name: 'task.cleanup.start', time: at(12), attributes: { 'cleanup.name': 'flush' } },
          { name: 'task.cleanup.end', time: at(40), attributes: { 'cleanup.name': 'flush', 'cleanup.outcome': 'timeout' } },
        ],
      }),
      ORIGIN_NS,
      -100,
    );
    expect(t.cancels).toEqual([10]);
    expect(t.steps).toEqual([{ kind: 'cleanup', name: 'flush', start: 12, end: 40, outcome: 'timeout' }]);
  });

  it('when a cleanup never ended, then it is an interrupted step running to the task end', () => {
    const t = toTimelineTask(
      apiTask({
        spanId: 'c',
        endedAt: at(90),
        events: [{ name: 'task.shield.start', time: at(30), attributes: {} }],
      }),
      ORIGIN_NS,
      -100,
    );
    expect(t.steps).toEqual([{ kind: 'shield', name: 'shield', start: 30, end: 90, outcome: 'interrupted' }]);
  });

  it('when the task is a survivor or a pending snapshot, then its end is open', () => {
    expect(toTimelineTask(apiTask({ spanId: 'd', verdict: 'survivor', finalState: 'pending', snapshot: true }), ORIGIN_NS, 0).open).toBe(true);
    expect(toTimelineTask(apiTask({ spanId: 'e' }), ORIGIN_NS, 0).open).toBe(false);
  });

  it('when two tasks share coroutine, creation site and verdict, then they share a group key', () => {
    const a = toTimelineTask(apiTask({ spanId: 'f' }), ORIGIN_NS, 0);
    const b = toTimelineTask(apiTask({ spanId: 'g', createdAt: at(50) }), ORIGIN_NS, 0);
    const c = toTimelineTask(apiTask({ spanId: 'h', verdict: 'swallowed' }), ORIGIN_NS, 0);
    expect(a.groupKey).toBe(b.groupKey);
    expect(a.groupKey).not.toBe(c.groupKey);
  });
});
