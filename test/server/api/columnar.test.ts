import { describe, expect, it } from 'vitest';
import { ATTR, readShutdown, readTask } from '../../../contract/contract.js';
import { columnarReportJson } from '../../../server/api/columnar.js';
import { reportJson, toJsonText } from '../../../server/api/json.js';
import { judgeShutdown } from '../../../server/judge/index.js';
import { judgeBriefFromRecords } from '../../../server/judge/judgeBrief.js';
import type { ApiShutdownReport } from '../../../web/src/api/types.js';
import { fromColumnar } from '../../../web/src/layout/columnarTimeline.js';
import { windowStartOf } from '../../../web/src/layout/compactTimeline.js';
import { type TimelineTask, toTimelineTask } from '../../../web/src/layout/timelineTask.js';
import { shutdownSpan, taskSpan } from '../store/spanBuilder.js';

const T0 = 1_700_000_000_123_456_000n;
const MS = 1_000_000n;

const cancelAt = (ms: bigint) => ({ name: 'task.cancel_requested', time: T0 + ms * MS, attributes: {} });

function inputs() {
  const shutdown = readShutdown(shutdownSpan({ trace: 1, span: 100, start: T0, end: T0 + 2_000n * MS, outcome: 'survivors' }));
  const tasks = [
    taskSpan({
      trace: 1,
      span: 1,
      start: T0 - 10n * MS,
      end: T0 + 7n * MS,
      state: 'completed',
      attributes: { [ATTR.swallowSite]: '/app/a.py:12 in run', [ATTR.swallowLine]: 'except CancelledError: pass', [ATTR.parentId]: 'p-1' },
      events: [
        { name: 'task.cleanup.end', time: T0 + 5n * MS, attributes: { 'cleanup.name': 'close', 'cleanup.outcome': 'timeout' } },
        { name: 'task.cancel_requested', time: T0 + 1n * MS, attributes: {} },
        { name: 'task.cleanup.start', time: T0 + 3n * MS, attributes: { 'cleanup.name': 'close' } },
      ],
    }),
    taskSpan({ trace: 1, span: 2, start: T0 - 5n * MS, end: T0 + 9n * MS, state: 'cancelled', events: [cancelAt(2n)] }),
    taskSpan({ trace: 2, span: 3, start: T0 - 5n * MS, end: T0 + 2_500n * MS, snapshot: true, events: [cancelAt(2n)] }),
  ].map(readTask);
  return { shutdown, tasks };
}

const report = () => {
  const { shutdown, tasks } = inputs();
  return judgeShutdown(shutdown, tasks);
};
const brief = () => {
  const { shutdown, tasks } = inputs();
  return judgeBriefFromRecords(shutdown, tasks);
};

describe('columnarReportJson', () => {
  it('when a shutdown is sent as columns and decoded, then the timeline tasks equal those made from the full tasks', () => {
    const columnar = JSON.parse(toJsonText(columnarReportJson(brief())));
    const full = JSON.parse(toJsonText(reportJson(report()))) as ApiShutdownReport;
    const win = windowStartOf(2_000);
    const { timeline, tasks } = fromColumnar(columnar, win);
    // every field the timeline reads, whether stored or made on first use
    const view = (t: TimelineTask) => ({
      id: t.id,
      name: t.name,
      verdict: t.verdict,
      start: t.start,
      created: t.created,
      end: t.end,
      clippedStart: t.clippedStart,
      open: t.open,
      cancels: t.cancels,
      cancelRequested: t.cancelRequested,
      firstCancel: t.firstCancel,
      lastCancel: t.lastCancel,
      findingKinds: [...t.findingKinds],
      steps: t.steps,
      coroutine: t.coroutine,
      site: t.site,
      groupKey: t.groupKey,
      snapshot: t.snapshot,
      taskId: t.taskId,
    });
    expect(timeline.map(view)).toEqual(full.tasks.map((t) => view(toTimelineTask(t, T0, win))));
    expect(tasks.map((t) => [t.spanId, t.verdict, t.cancelRequestedAt, t.createdAt, t.endedAt, t.parentTaskId])).toEqual(
      full.tasks.map((t) => [t.spanId, t.verdict, t.cancelRequestedAt, t.createdAt, t.endedAt, t.parentTaskId]),
    );
    expect((tasks[0].swallowSite as { line?: string }).line).toBe('except CancelledError: pass');
  });

  it('when sites repeat, then each is sent once and tasks index it', () => {
    const c = columnarReportJson(brief()).columnar;
    expect(c.count).toBe(3);
    expect(c.sites.length).toBeLessThan(c.count);
    expect(c.site.every((i) => i >= 0 && i < c.sites.length)).toBe(true);
    expect(c.cancelOffset).toHaveLength(c.count + 1);
    expect(c.stepOffset).toHaveLength(c.count + 1);
  });
});
