import { describe, expect, it } from 'vitest';
import { MAX_JUDGMENT_EVENTS, settledJudgmentOf } from '../../../collector/forward/settledJudgment.js';
import { judgeShutdown } from '../../../server/judge/index.js';
import { events, MS, SEC, shutdown, task } from '../../doubles/spans.js';

describe('settledJudgmentOf', () => {
  it('when a shutdown is judged, then its settled judgment holds its ids, end, resource, outcome, counts and findings', () => {
    const s = shutdown({ start: 0n, end: 2n * SEC, outcome: 'survivors', events: [events.pending(0n, 2), events.pending(SEC, 1)] });
    const report = judgeShutdown(s, [
      task({ name: 'polite', start: -SEC, end: 200n * MS, finalState: 'cancelled', events: [events.cancel(100n * MS)] }),
      task({ name: 'zombie', start: -SEC, end: 2n * SEC, snapshot: true, events: [events.cancel(100n * MS)] }),
    ]);
    const judgment = settledJudgmentOf(report);
    expect(judgment).toMatchObject({
      shutdownId: s.id,
      traceId: s.span.traceId,
      spanId: s.span.spanId,
      end: s.end,
      resource: s.span.resource,
      outcome: 'survivors',
      tasksCount: 2,
      counts: { cancelled: 1, survivor: 1 },
      findings: report.findings.map(({ kind, message }) => ({ kind, message })),
      badCount: 1,
    });
    const zombie = report.tasks.find((t) => t.task.name === 'zombie');
    expect(judgment.badTasks).toEqual([
      { spanId: zombie?.task.spanId, traceId: s.span.traceId, name: 'zombie', verdict: 'survivor', endTime: zombie?.task.endTime, findings: [] },
    ]);
  });

  it('when more tasks have bad verdicts than the event bound, then the first ones are kept and all are counted', () => {
    const s = shutdown({ start: 0n, end: SEC, outcome: 'survivors' });
    const tasks = Array.from({ length: MAX_JUDGMENT_EVENTS + 3 }, (_, i) => task({ name: `t${i}`, start: -SEC, end: SEC, snapshot: true }));
    const judgment = settledJudgmentOf(judgeShutdown(s, tasks));
    expect(judgment.badCount).toBe(MAX_JUDGMENT_EVENTS + 3);
    expect(judgment.badTasks).toHaveLength(MAX_JUDGMENT_EVENTS);
    expect(judgment.tasksCount).toBe(MAX_JUDGMENT_EVENTS + 3);
  });
});
