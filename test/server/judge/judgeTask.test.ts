import { describe, expect, it } from 'vitest';
import { judgeTask } from '../../../server/judge/judgeTask.js';
import { judgeTaskAlone } from '../../../server/judge/judgeTaskAlone.js';
import { DEFAULT_SLOW_CANCEL_NS } from '../../../server/judge/options.js';
import { events as e, ev, MS, SEC, T0, task } from '../../doubles/spans.js';

const closed = { end: T0 + 2n * SEC, open: false };
const open = { end: T0 + 2n * SEC, open: true };
const kinds = (j: { findings: { kind: string }[] }) => j.findings.map((f) => f.kind);

describe('judgeTask', () => {
  describe('verdict table', () => {
    it('when a cancel was requested and the task ended cancelled, then it is cancelled', () => {
      const j = judgeTask(task({ finalState: 'cancelled', events: [e.cancel(100n * MS)] }), closed);
      expect(j.verdict).toBe('cancelled');
      expect(j.cancelRequestedAt).toBe(T0 + 100n * MS);
      expect(j.findings).toEqual([]);
    });

    it('when a cancel was requested and the task completed, then it is swallowed', () => {
      const j = judgeTask(task({ finalState: 'completed', events: [e.cancel(100n * MS)] }), closed);
      expect(j.verdict).toBe('swallowed');
    });

    it('when a cancel was requested and the task failed with another error, then it is replaced', () => {
      const t = task({
        finalState: 'failed',
        status: { code: 2, message: 'RuntimeError: rollback failed' },
        events: [e.cancel(100n * MS), e.exception(200n * MS, 'RuntimeError')],
      });
      expect(judgeTask(t, closed).verdict).toBe('replaced');
    });

    it.each([
      ['an AbortError exception event', { events: [e.exception(200n * MS, 'AbortError')] }],
      ['a CancelledError exception event', { events: [e.exception(200n * MS, 'asyncio.exceptions.CancelledError')] }],
      ['a CanceledError exception event', { events: [e.exception(200n * MS, 'CanceledError')] }],
      ['a DOMException abort', { events: [e.exception(200n * MS, 'DOMException', { 'exception.message': 'This operation was aborted' })] }],
      ['a status message naming CancelledError', { status: { code: 2, message: 'CancelledError: shutting down' } }],
    ])('when a cancelled task failed with %s, then it is cancelled', (_, extra) => {
      const t = task({
        finalState: 'failed',
        status: { code: 2 },
        ...extra,
        events: [e.cancel(100n * MS), ...((extra as { events?: [] }).events ?? [])],
      });
      expect(judgeTask(t, closed).verdict).toBe('cancelled');
    });

    it('when a DOMException is not an abort, then the failure is a replacement', () => {
      const t = task({
        finalState: 'failed',
        events: [e.cancel(100n * MS), e.exception(200n * MS, 'DOMException', { 'exception.message': 'quota exceeded' })],
      });
      expect(judgeTask(t, closed).verdict).toBe('replaced');
    });

    it('when a cancelled task is a pending snapshot, then it is a survivor', () => {
      const t = task({ snapshot: true, end: 1500n * MS, events: [e.cancel(100n * MS)] });
      expect(judgeTask(t, closed).verdict).toBe('survivor');
      expect(judgeTask(t, open).verdict).toBe('survivor');
    });

    it('when a cancelled task ended only after a closed window ended, then it is a survivor', () => {
      const t = task({ finalState: 'cancelled', end: 3n * SEC, events: [e.cancel(100n * MS)] });
      expect(judgeTask(t, closed).verdict).toBe('survivor');
    });

    it('when the task was destroyed, then it is destroyed whatever else happened', () => {
      expect(judgeTask(task({ finalState: 'destroyed' }), closed).verdict).toBe('destroyed');
      const cancelledLate = task({ finalState: 'destroyed', end: 5n * SEC, events: [e.cancel(100n * MS)] });
      expect(judgeTask(cancelledLate, closed).verdict).toBe('destroyed');
    });

    it('when a task ended within the clock tolerance after a closed window, then it ended within the shutdown', () => {
      const t = task({ finalState: 'cancelled', end: 2n * SEC + 28_000n, events: [e.cancel(100n * MS)] });
      expect(judgeTask(t, closed).verdict).toBe('cancelled');
      expect(judgeTask(t, closed, { clockToleranceNs: 0n }).verdict).toBe('survivor');
      expect(judgeTask(task({ finalState: 'cancelled', end: 2n * SEC + 6n * MS, events: [e.cancel(100n * MS)] }), closed).verdict).toBe('survivor');
    });

    it('when nobody cancelled a task that is pending at the end, then it is an orphan', () => {
      expect(judgeTask(task({ snapshot: true }), closed).verdict).toBe('orphan');
      expect(judgeTask(task({ finalState: 'completed', end: 3n * SEC }), closed).verdict).toBe('orphan');
    });

    it('when nobody cancelled a task that ended in the window, then it is finished', () => {
      expect(judgeTask(task({ finalState: 'completed' }), closed).verdict).toBe('finished');
      expect(judgeTask(task({ finalState: 'failed' }), closed).verdict).toBe('finished');
      expect(judgeTask(task({ finalState: 'cancelled' }), closed).verdict).toBe('finished');
    });

    it('when the window is open and the task ended after its last snapshot, then it is judged by how it ended', () => {
      expect(judgeTask(task({ finalState: 'completed', end: 3n * SEC }), open).verdict).toBe('finished');
      const t = task({ finalState: 'cancelled', end: 3n * SEC, events: [e.cancel(100n * MS)] });
      expect(judgeTask(t, open).verdict).toBe('cancelled');
    });

    it('when there is no window, then pending is orphan or survivor and an ended task is judged by its end', () => {
      expect(judgeTask(task({ snapshot: true })).verdict).toBe('orphan');
      expect(judgeTask(task({ snapshot: true, events: [e.cancel(1n)] })).verdict).toBe('survivor');
      expect(judgeTask(task({ finalState: 'completed', end: 99n * SEC })).verdict).toBe('finished');
    });

    it('when the span has no final state, then an error status is failed, a snapshot pending, else completed', () => {
      const cancel = [e.cancel(100n * MS)];
      expect(judgeTask(task({ finalState: null, status: { code: 2 }, events: cancel }), closed).verdict).toBe('replaced');
      expect(judgeTask(task({ finalState: null, events: cancel }), closed).verdict).toBe('swallowed');
      expect(judgeTask(task({ finalState: null, snapshot: true, events: cancel }), closed).verdict).toBe('survivor');
    });
  });

  describe('cancel accounting', () => {
    it('when asyncio.timeout handed its cancel back and the task completed, then it is finished and not flagged (P12)', () => {
      const t = task({ finalState: 'completed', events: [e.cancel(100n * MS), e.uncancel(150n * MS, true)] });
      const j = judgeTask(t, closed);
      expect(j.verdict).toBe('finished');
      expect(j.cancelRequestedAt).toBeUndefined();
      expect(j.findings).toEqual([]);
    });

    it('when the handed-off timeout surfaced as a TimeoutError, then the task is finished', () => {
      const t = task({
        finalState: 'failed',
        events: [e.cancel(100n * MS), e.uncancel(150n * MS, true), e.exception(150n * MS, 'TimeoutError')],
      });
      expect(judgeTask(t, closed).verdict).toBe('finished');
    });

    it('when a timeout was handed back and a later shutdown cancel arrived, then the later cancel counts', () => {
      const t = task({
        finalState: 'cancelled',
        events: [e.cancel(700n * MS), e.uncancel(150n * MS, true), e.cancel(100n * MS)],
      });
      const j = judgeTask(t, closed);
      expect(j.verdict).toBe('cancelled');
      expect(j.cancelRequestedAt).toBe(T0 + 700n * MS);
    });

    it('when a handoff uncancel comes before any cancel, then it hands nothing back', () => {
      const t = task({ finalState: 'completed', events: [e.uncancel(50n * MS, true), e.cancel(100n * MS)] });
      expect(judgeTask(t, closed).verdict).toBe('swallowed');
    });

    it('when uncancel() was called outside a handoff and the task returned, then it is swallowed with uncancel_misuse (P10)', () => {
      const t = task({ finalState: 'completed', events: [e.cancel(100n * MS), e.uncancel(120n * MS, false)] });
      const j = judgeTask(t, closed);
      expect(j.verdict).toBe('swallowed');
      expect(kinds(j)).toEqual(['uncancel_misuse']);
      expect(j.findings[0].message).toMatch(/re-raise/);
    });
  });

  describe('the task that drives the shutdown (task.shutdown_driver)', () => {
    it('when the driver is still running at the snapshot or after the end, then it is finished, not orphan', () => {
      const driver = { 'task.shutdown_driver': true };
      expect(judgeTask(task({ snapshot: true, attributes: driver }), { end: T0 + SEC, open: true }).verdict).toBe('finished');
      expect(judgeTask(task({ finalState: 'completed', end: 99n * SEC, attributes: driver }), closed).verdict).toBe('finished');
      expect(judgeTask(task({ snapshot: true }), { end: T0 + SEC, open: true }).verdict).toBe('orphan');
    });

    it('when the driver was cancelled and is still pending, then it is a survivor', () => {
      const t = task({ snapshot: true, attributes: { 'task.shutdown_driver': true }, events: [e.cancel(100n * MS)] });
      expect(judgeTask(t, closed).verdict).toBe('survivor');
    });
  });

  describe('cancel requests by owner (cancel.scope)', () => {
    const scoped = (at: bigint, scope: string) => e.cancel(at, { 'cancel.scope': scope });
    const handBack = (at: bigint, scope: string) => ev('task.uncancel', at, { 'uncancel.handoff': true, 'cancel.scope': scope });

    it("when a library's scope cancelled the task and absorbed its own cancel, then the task is finished and not flagged", () => {
      const anyio = 'anyio._backends._asyncio.CancelScope@7f00';
      const t = task({ finalState: 'completed', events: [scoped(100n * MS, anyio), handBack(150n * MS, anyio)] });
      const j = judgeTask(t, closed);
      expect(j.verdict).toBe('finished');
      expect(j.findings).toEqual([]);
    });

    it("when a scope absorbs the shutdown's cancel while its own is still open, then the shutdown's cancel stays and the task is swallowed", () => {
      const scope = 'anyio._backends._asyncio.CancelScope@7f00';
      const t = task({ finalState: 'completed', events: [e.cancel(100n * MS), scoped(120n * MS, scope), handBack(150n * MS, scope)] });
      const j = judgeTask(t, closed);
      expect(j.verdict).toBe('swallowed');
      expect(j.cancelRequestedAt).toBe(T0 + 100n * MS);
    });

    it('when the uncancel names a scope that requested no open cancel, then it is uncancel_misuse', () => {
      const t = task({
        finalState: 'completed',
        events: [e.cancel(100n * MS), ev('task.uncancel', 150n * MS, { 'cancel.scope': 'app.Worker@1' })],
      });
      const j = judgeTask(t, closed);
      expect(j.verdict).toBe('swallowed');
      expect(kinds(j)).toEqual(['uncancel_misuse']);
    });

    it('when two scopes nest, then each uncancel closes the request of its own scope whatever the order', () => {
      const outer = 'asyncio.timeouts.Timeout@1';
      const inner = 'anyio._backends._asyncio.CancelScope@2';
      const t = task({
        finalState: 'completed',
        events: [scoped(100n * MS, outer), scoped(110n * MS, inner), handBack(120n * MS, outer), handBack(130n * MS, inner)],
      });
      expect(judgeTask(t, closed).verdict).toBe('finished');
    });
  });

  describe('findings', () => {
    it('when a cleanup started and never ended in a final record, then cleanup_interrupted', () => {
      const t = task({
        finalState: 'cancelled',
        events: [e.cancel(100n * MS), e.cleanupStart(110n * MS, 'flush'), e.cleanupStart(120n * MS, 'close'), e.cleanupEnd(130n * MS, 'close', 'ok')],
      });
      const j = judgeTask(t, closed);
      expect(kinds(j)).toEqual(['cleanup_interrupted']);
      expect(j.findings[0].detail?.cleanup).toBe('flush');
      expect(j.findings[0].message).toMatch(/try\/finally/);
    });

    it('when a cleanup end has another name than its start, then the start is still unmatched', () => {
      const t = task({ finalState: 'cancelled', events: [e.cancel(1n), e.cleanupStart(2n, 'a'), e.cleanupEnd(3n, 'b', 'ok')] });
      expect(kinds(judgeTask(t, closed))).toEqual(['cleanup_interrupted']);
    });

    it('when a cleanup ended cancelled, then cleanup_interrupted', () => {
      const t = task({ finalState: 'cancelled', events: [e.cancel(1n), e.cleanupStart(2n, 'a'), e.cleanupEnd(3n, 'a', 'cancelled')] });
      expect(kinds(judgeTask(t, closed))).toEqual(['cleanup_interrupted']);
    });

    it('when a shield ended cancelled or interrupted, then cleanup_interrupted', () => {
      for (const outcome of ['cancelled', 'interrupted']) {
        const t = task({ finalState: 'cancelled', events: [e.cancel(1n), e.shieldStart(2n, 1000), e.shieldEnd(3n, outcome)] });
        expect(kinds(judgeTask(t, closed))).toEqual(['cleanup_interrupted']);
      }
    });

    it('when a pending snapshot is inside a cleanup, then it is not flagged while its shutdown may still finish it', () => {
      const t = task({ snapshot: true, events: [e.cancel(1n), e.cleanupStart(2n, 'a')] });
      expect(kinds(judgeTask(t, open))).toEqual([]);
      expect(kinds(judgeTask(t))).toEqual([]);
      expect(kinds(judgeTask(t, closed))).toEqual(['cleanup_interrupted']);
    });

    it('when a cleanup or a shield ended timeout, then cleanup_timeout (P6)', () => {
      const cleanup = task({ finalState: 'cancelled', events: [e.cancel(1n), e.cleanupStart(2n, 'a'), e.cleanupEnd(3n, 'a', 'timeout')] });
      expect(kinds(judgeTask(cleanup, closed))).toEqual(['cleanup_timeout']);
      const shield = task({ finalState: 'cancelled', events: [e.cancel(1n), e.shieldStart(2n, 1000), e.shieldEnd(3n, 'timeout')] });
      const j = judgeTask(shield, closed);
      expect(j.verdict).toBe('cancelled');
      expect(kinds(j)).toEqual(['cleanup_timeout']);
    });

    it('when a cleanup and a shield ended ok, then nothing is flagged (P3, P5)', () => {
      const t = task({
        finalState: 'cancelled',
        events: [e.cancel(1n), e.cleanupStart(2n, 'a'), e.shieldStart(3n, 1000), e.shieldEnd(4n, 'ok'), e.cleanupEnd(5n, 'a', 'ok')],
      });
      expect(judgeTask(t, closed).findings).toEqual([]);
    });

    it('when cancel to end took longer than the threshold, then slow_cancel; at the threshold, not', () => {
      const at = (end: bigint) => task({ finalState: 'cancelled', end, events: [e.cancel(100n * MS)] });
      expect(kinds(judgeTask(at(100n * MS + DEFAULT_SLOW_CANCEL_NS + 1n), closed))).toEqual(['slow_cancel']);
      expect(kinds(judgeTask(at(100n * MS + DEFAULT_SLOW_CANCEL_NS), closed))).toEqual([]);
      expect(kinds(judgeTask(at(400n * MS), closed, { slowCancelNs: 200n * MS }))).toEqual(['slow_cancel']);
    });

    it('when a survivor has been pending long after its cancel, then it is not slow_cancel (it has not ended)', () => {
      const t = task({ snapshot: true, end: 1900n * MS, events: [e.cancel(1n)] });
      expect(kinds(judgeTask(t, closed))).toEqual([]);
    });
  });

  describe('swallowSite', () => {
    it('when task.swallow_site is set, then it is parsed from the right', () => {
      const t = task({
        finalState: 'completed',
        attributes: { 'task.swallow_site': 'C:\\app\\work:er.py:42 in run_loop' },
        events: [e.cancel(1n)],
      });
      expect(judgeTask(t, closed).swallowSite).toEqual({ filepath: 'C:\\app\\work:er.py', lineno: 42, function: 'run_loop' });
    });

    it('when a cancellation exception event has code attributes, then they are the site and its stack is kept', () => {
      const t = task({
        finalState: 'completed',
        events: [
          e.cancel(1n),
          e.exception(2n, 'ValueError', { 'code.filepath': 'wrong.py', 'code.lineno': 1 }),
          e.exception(3n, 'CancelledError', { 'code.filepath': 'w.py', 'code.lineno': 7, 'code.function': 'loop', 'exception.stacktrace': 'tb' }),
        ],
      });
      expect(judgeTask(t, closed).swallowSite).toEqual({ filepath: 'w.py', lineno: 7, function: 'loop', stack: 'tb' });
    });

    it('when only a Python traceback is sent, then the innermost frame is the site (P1)', () => {
      const stack = [
        'Traceback (most recent call last):',
        '  File "/srv/main.py", line 10, in main',
        '    await worker()',
        '  File "/srv/worker.py", line 21, in worker',
        '    await asyncio.sleep(1)',
        'asyncio.exceptions.CancelledError',
      ].join('\n');
      const t = task({ snapshot: true, events: [e.cancel(1n), e.exception(2n, 'CancelledError', { 'exception.stacktrace': stack })] });
      const j = judgeTask(t, closed);
      expect(j.verdict).toBe('survivor');
      expect(j.swallowSite).toEqual({ filepath: '/srv/worker.py', lineno: 21, function: 'worker', stack });
    });

    it('when only a JS stack is sent, then its first frame is the site (N1)', () => {
      const stack = 'AbortError: This operation was aborted\n    at poll (/srv/job.js:33:11)\n    at async run (/srv/main.js:5:3)';
      const t = task({ events: [e.cancel(1n), e.exception(2n, 'AbortError', { 'exception.stacktrace': stack })] });
      expect(judgeTask(t, closed).swallowSite).toEqual({ filepath: '/srv/job.js', lineno: 33, function: 'poll', stack });
    });

    it('when the task was not swallowed, then there is no swallowSite', () => {
      const t = task({ finalState: 'cancelled', attributes: { 'task.swallow_site': 'a.py:1' }, events: [e.cancel(1n)] });
      expect(judgeTask(t, closed).swallowSite).toBeUndefined();
    });
  });

  describe('event order', () => {
    it('when the same events arrive in another array order, then the judgment is the same', () => {
      const evs = [e.cancel(100n * MS), e.cleanupStart(110n * MS, 'a'), e.cleanupEnd(120n * MS, 'a', 'timeout'), e.uncancel(130n * MS, false)];
      const a = task({ spanId: 'aaaaaaaaaaaaaaaa', finalState: 'completed', events: evs });
      const b = task({ spanId: 'aaaaaaaaaaaaaaaa', finalState: 'completed', events: [...evs].reverse() });
      const strip = (j: ReturnType<typeof judgeTask>) => ({ ...j, task: undefined });
      expect(strip(judgeTask(b, closed))).toEqual(strip(judgeTask(a, closed)));
      expect(kinds(judgeTask(a, closed))).toEqual(['cleanup_timeout', 'uncancel_misuse']);
    });
  });
});

describe('judgeTaskAlone', () => {
  it('when a task is judged with no window, then it gets the verdict judgeTask gives without one', () => {
    expect(judgeTaskAlone(task({ finalState: 'completed', events: [e.cancel(1n)] }))).toBe('swallowed');
    expect(judgeTaskAlone(task({ snapshot: true }))).toBe('orphan');
    expect(judgeTaskAlone(task({ finalState: 'completed', end: 100n * SEC }))).toBe('finished');
  });
});
