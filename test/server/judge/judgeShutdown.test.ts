import { describe, expect, it } from 'vitest';
import type { TaskRecord } from '../../../contract/records.js';
import { judgeShutdown } from '../../../server/judge/judgeShutdown.js';
import { events as e, MS, SEC, shutdown, T0, task } from '../../doubles/spans.js';

/** A closed shutdown from 1 s to 3 s. */
const closedShutdown = (spec: Parameters<typeof shutdown>[0] = {}) => shutdown({ start: SEC, end: 3n * SEC, ...spec });
const verdictOf = (tasks: { task: TaskRecord; verdict: string }[], name: string) => tasks.find((t) => t.task.name === name)?.verdict;

describe('judgeShutdown', () => {
  describe('which tasks are judged', () => {
    it('when tasks are of other instances, ended before the start or created after the end, then they are left out', () => {
      const tasks = [
        task({ name: 'alive', start: 0n, end: 2n * SEC }),
        task({ name: 'other-instance', instance: 'svc-2', start: 0n, end: 2n * SEC }),
        task({ name: 'ended-before', start: 0n, end: SEC - 1n }),
        task({ name: 'ended-at-start', start: 0n, end: SEC }),
        task({ name: 'created-after', start: 3n * SEC + 1n, end: 4n * SEC }),
        task({ name: 'created-during', start: 2n * SEC, end: 2500n * MS }),
        task({ name: 'old-snapshot', snapshot: true, start: 0n, end: 500n * MS }),
      ];
      const report = judgeShutdown(closedShutdown(), tasks);
      expect(report.tasks.map((t) => t.task.name).sort()).toEqual(['alive', 'created-during', 'ended-at-start', 'old-snapshot']);
    });

    it('when the shutdown is open, then tasks created after its last snapshot are judged too', () => {
      const report = judgeShutdown(closedShutdown({ snapshot: true }), [task({ name: 'late', start: 4n * SEC, end: 5n * SEC })]);
      expect(report.tasks.map((t) => t.task.name)).toEqual(['late']);
    });

    it('when a snapshot and the final record of one span are both given, then only the final is judged, in any order', () => {
      const spanId = 'feedfacefeedface';
      const snap = task({ spanId, snapshot: true, end: 2n * SEC, events: [e.cancel(SEC + 100n * MS)] });
      const final = task({ spanId, finalState: 'cancelled', end: 2200n * MS, events: [e.cancel(SEC + 100n * MS)] });
      for (const tasks of [
        [snap, final],
        [final, snap],
      ]) {
        const report = judgeShutdown(closedShutdown(), tasks);
        expect(report.tasks).toHaveLength(1);
        expect(report.tasks[0].verdict).toBe('cancelled');
        expect(report.tasks[0].task.snapshot).toBe(false);
      }
    });
  });

  describe('counts, order and outcome', () => {
    it('when tasks have different verdicts, then counts add up and bad verdicts come first, then by creation', () => {
      const cancel = [e.cancel(SEC + 10n * MS)];
      const tasks = [
        task({ name: 'finished', start: 0n, end: 2n * SEC }),
        task({ name: 'cancelled', start: 10n, finalState: 'cancelled', end: 2n * SEC, events: cancel }),
        task({ name: 'orphan', start: 20n, snapshot: true, end: 3n * SEC }),
        task({ name: 'swallowed-late', start: 40n, finalState: 'completed', end: 2n * SEC, events: cancel }),
        task({ name: 'swallowed-early', start: 30n, finalState: 'completed', end: 2n * SEC, events: cancel }),
        task({ name: 'survivor', start: 50n, snapshot: true, end: 3n * SEC, events: cancel }),
        task({ name: 'destroyed', start: 60n, finalState: 'destroyed', end: 4n * SEC }),
        task({ name: 'replaced', start: 70n, finalState: 'failed', end: 2n * SEC, events: cancel }),
      ];
      const report = judgeShutdown(closedShutdown(), tasks);
      expect(report.tasks.map((t) => t.task.name)).toEqual([
        'swallowed-early',
        'swallowed-late',
        'survivor',
        'replaced',
        'destroyed',
        'orphan',
        'cancelled',
        'finished',
      ]);
      expect(report.counts).toEqual({ swallowed: 2, survivor: 1, replaced: 1, destroyed: 1, orphan: 1, end_not_received: 0, cancelled: 1, finished: 1 });
      expect(report.outcome).toBe('survivors');
    });

    it('when the outcome was sent, then it is kept; while open it is open; with no survivor it is clean', () => {
      const survivor = task({ snapshot: true, end: 3n * SEC, events: [e.cancel(SEC)] });
      expect(judgeShutdown(closedShutdown({ outcome: 'timeout' }), [survivor]).outcome).toBe('timeout');
      expect(judgeShutdown(closedShutdown({ snapshot: true }), [survivor]).outcome).toBe('open');
      expect(judgeShutdown(closedShutdown(), [task({ end: 2n * SEC })]).outcome).toBe('clean');
    });

    it('when 1,000 well-behaved workers are cancelled, then all are cancelled and the outcome is clean (P15)', () => {
      const tasks = Array.from({ length: 1000 }, (_, i) =>
        task({ name: `w${i}`, taskId: String(i), start: 0n, finalState: 'cancelled', end: SEC + 50n * MS, events: [e.cancel(SEC + 1n)] }),
      );
      const sd = closedShutdown({ events: [e.pending(SEC, 1000), e.pending(SEC + 100n * MS, 0)] });
      const report = judgeShutdown(sd, tasks);
      expect(report.counts.cancelled).toBe(1000);
      expect(report.outcome).toBe('clean');
      expect(report.findings).toEqual([]);
    });
  });

  describe('ends that never arrived', () => {
    const lost = () => task({ name: 'lost', snapshot: true, end: 1500n * MS, events: [e.cancel(SEC + 100n * MS)] });
    const idle = () => task({ name: 'idle', snapshot: true, end: 1500n * MS });

    it('when the shutdown drained to its baseline but a task is only a pending snapshot, then it is end_not_received', () => {
      const sd = closedShutdown({ attributes: { 'shutdown.pending_baseline': 0 }, events: [e.pending(SEC, 2), e.pending(2900n * MS, 0)] });
      const report = judgeShutdown(sd, [lost(), idle()]);
      expect(verdictOf(report.tasks, 'lost')).toBe('end_not_received');
      expect(verdictOf(report.tasks, 'idle')).toBe('end_not_received');
      expect(report.counts.end_not_received).toBe(2);
      expect(report.counts.survivor).toBe(0);
    });

    it('when the pending count stayed above its baseline, or the shutdown is still open, then the snapshot is a survivor', () => {
      const stuck = closedShutdown({ events: [e.pending(SEC, 2), e.pending(2900n * MS, 1)] });
      expect(verdictOf(judgeShutdown(stuck, [lost()]).tasks, 'lost')).toBe('survivor');
      const open = closedShutdown({ snapshot: true, events: [e.pending(SEC, 2), e.pending(2900n * MS, 0)] });
      expect(verdictOf(judgeShutdown(open, [lost()]).tasks, 'lost')).toBe('survivor');
    });
  });

  describe('pending samples', () => {
    it('when the last sample is above the baseline attribute, then pending_not_at_baseline (P8)', () => {
      const sd = closedShutdown({
        attributes: { 'shutdown.pending_baseline': 1 },
        events: [e.pending(2n * SEC, 2), e.pending(SEC, 5)],
      });
      const report = judgeShutdown(sd, []);
      expect(report.pending).toEqual([
        { t: T0 + SEC, value: 5 },
        { t: T0 + 2n * SEC, value: 2 },
      ]);
      expect(report.pendingBaseline).toBe(1);
      expect(report.findings.map((f) => f.kind)).toEqual(['pending_not_at_baseline']);
    });

    it('when no baseline is sent, then the last sample before the shutdown began is the baseline (the contract rule)', () => {
      const before = closedShutdown({ start: SEC, events: [e.pending(SEC / 2n, 2), e.pending(SEC, 9), e.pending(2n * SEC, 2)] });
      const report = judgeShutdown(before, []);
      expect(report.pendingBaseline).toBe(2);
      expect(report.findings).toEqual([]);
      const stuck = judgeShutdown(closedShutdown({ start: SEC, events: [e.pending(SEC / 2n, 2), e.pending(2n * SEC, 3)] }), []);
      expect(stuck.findings.map((f) => f.kind)).toEqual(['pending_not_at_baseline']);
    });

    it('when the samples carry the baseline, then it is used; when none does, it is 0', () => {
      const withSampleBaseline = closedShutdown({ events: [e.pending(SEC, 3, { 'tasks.pending.baseline': 2 }), e.pending(2n * SEC, 2)] });
      const r1 = judgeShutdown(withSampleBaseline, []);
      expect(r1.pendingBaseline).toBe(2);
      expect(r1.findings).toEqual([]);
      const r2 = judgeShutdown(closedShutdown({ events: [e.pending(SEC, 3), e.pending(2n * SEC, 1)] }), []);
      expect(r2.pendingBaseline).toBe(0);
      expect(r2.findings.map((f) => f.kind)).toEqual(['pending_not_at_baseline']);
    });
  });

  describe('resource gauges', () => {
    it('when a gauge ends above its value at the shutdown start, then resource_not_released (P14)', () => {
      const sd = closedShutdown({
        events: [
          e.gauge(500n * MS, 'pool.in_use', 1),
          e.gauge(SEC, 'pool.in_use', 4),
          e.gauge(2n * SEC, 'pool.in_use', 6),
          e.gauge(2900n * MS, 'pool.in_use', 5),
          e.gauge(SEC, 'files', 3),
          e.gauge(2n * SEC, 'files', 3),
        ],
      });
      const report = judgeShutdown(sd, []);
      expect(report.gauges.map((g) => [g.name, g.baseline, g.samples.length])).toEqual([
        ['files', 3, 2],
        ['pool.in_use', 4, 4],
      ]);
      expect(report.findings.map((f) => [f.kind, f.detail?.resource])).toEqual([['resource_not_released', 'pool.in_use']]);
    });

    it('when a sample sends resource.baseline, then it is the baseline; when all samples are after the start, the first is', () => {
      const sent = closedShutdown({ events: [e.gauge(SEC, 'handles', 9), e.gauge(2n * SEC, 'handles', 2, { 'resource.baseline': 2 })] });
      expect(judgeShutdown(sent, []).gauges[0].baseline).toBe(2);
      expect(judgeShutdown(sent, []).findings).toEqual([]);
      const late = closedShutdown({ events: [e.gauge(2n * SEC, 'handles', 3), e.gauge(1500n * MS, 'handles', 2)] });
      const report = judgeShutdown(late, []);
      expect(report.gauges[0].baseline).toBe(2);
      expect(report.findings.map((f) => f.kind)).toEqual(['resource_not_released']);
    });
  });

  describe('group_blocked', () => {
    it('when a TaskGroup child swallowed, then its parent and the shutdown get group_blocked naming it (P11)', () => {
      const cancel = [e.cancel(SEC + 10n * MS)];
      const tasks = [
        task({ name: 'parent', taskId: 'p', finalState: 'cancelled', end: 2n * SEC, events: cancel }),
        task({
          name: 'child-ok',
          taskId: 'c1',
          attributes: { 'task.parent_id': 'p', 'task.group_id': 'g1' },
          finalState: 'cancelled',
          end: 2n * SEC,
          events: cancel,
        }),
        task({
          name: 'child-bad',
          taskId: 'c2',
          attributes: { 'task.parent_id': 'p', 'task.group_id': 'g1' },
          finalState: 'completed',
          end: 2n * SEC,
          events: cancel,
        }),
        task({ name: 'loose', taskId: 'c3', attributes: { 'task.parent_id': 'p' }, finalState: 'completed', end: 2n * SEC, events: cancel }),
      ];
      const report = judgeShutdown(closedShutdown(), tasks);
      const parent = report.tasks.find((t) => t.task.name === 'parent');
      expect(parent?.findings.map((f) => f.kind)).toEqual(['group_blocked']);
      expect(parent?.findings[0].message).toContain('child-bad');
      expect(report.findings.map((f) => [f.kind, f.detail?.groupId])).toEqual([['group_blocked', 'g1']]);
      expect(verdictOf(report.tasks, 'child-bad')).toBe('swallowed');
    });

    it('when a group child is a survivor and the parent is not among the tasks, then only the shutdown finding is made', () => {
      const child = task({
        name: 'stuck',
        taskId: 'c',
        attributes: { 'task.parent_id': 'gone', 'task.group_id': 'g2' },
        snapshot: true,
        end: 3n * SEC,
        events: [e.cancel(SEC)],
      });
      const report = judgeShutdown(closedShutdown(), [child]);
      expect(report.findings.map((f) => f.kind)).toEqual(['group_blocked']);
      expect(report.tasks[0].findings).toEqual([]);
    });
  });

  describe('warnings', () => {
    it('when the shutdown and destroyed tasks carry loop warnings, then they are listed by time (P9)', () => {
      const msg = 'Task was destroyed but it is pending!';
      const sd = closedShutdown({ events: [e.warning(2900n * MS, 'loop closing')] });
      const destroyed = task({ finalState: 'destroyed', end: 3500n * MS, events: [e.warning(3500n * MS, msg)] });
      const finished = task({ end: 2n * SEC, events: [e.warning(SEC, 'not collected')] });
      const report = judgeShutdown(sd, [destroyed, finished]);
      expect(report.warnings).toEqual([
        { t: T0 + 2900n * MS, message: 'loop closing' },
        { t: T0 + 3500n * MS, message: msg },
      ]);
    });
  });

  describe('options', () => {
    it('when slowCancelNs is given, then it reaches every task; when omitted, the 1 s default holds', () => {
      const t = task({ finalState: 'cancelled', end: 1300n * MS, events: [e.cancel(SEC)] });
      expect(judgeShutdown(closedShutdown(), [t], { slowCancelNs: 100n * MS }).tasks[0].findings.map((f) => f.kind)).toEqual(['slow_cancel']);
      expect(judgeShutdown(closedShutdown(), [t]).tasks[0].findings).toEqual([]);
    });
  });

  describe('scale', () => {
    it('when 100,000 tasks in 6,250 groups are judged, then every swallow and blocked group is counted', () => {
      const cancel = e.cancel(SEC + 5n * MS);
      const tasks = Array.from({ length: 100_000 }, (_, i) =>
        task({
          taskId: String(i),
          spanId: i.toString(16).padStart(16, '0'),
          start: BigInt(i),
          finalState: i % 10 === 0 ? 'completed' : 'cancelled',
          end: 2n * SEC,
          attributes: { 'task.parent_id': String(i >> 4), 'task.group_id': `g${i >> 4}` },
          events: [cancel, e.cleanupStart(SEC + 6n * MS, 'close'), e.cleanupEnd(SEC + 7n * MS, 'close', 'ok')],
        }),
      );
      const report = judgeShutdown(closedShutdown(), tasks);
      expect(report.counts.swallowed).toBe(10_000);
    });
  });
});
