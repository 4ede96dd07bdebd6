import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JudgmentWatcher } from '../../../collector/forward/JudgmentWatcher.js';
import type { SettledBy } from '../../../collector/forward/judgmentSpan.js';
import { settledJudgmentOf } from '../../../collector/forward/settledJudgment.js';
import { readShutdown } from '../../../contract/contract.js';
import type { ShutdownReport, SpanRecord } from '../../../contract/records.js';
import { judgeShutdown } from '../../../server/judge/index.js';
import { RecordingConsumer } from '../../doubles/RecordingConsumer.js';
import { SEC, shutdownSpan, taskSpan } from '../../doubles/spans.js';

const QUIET = 1_000;
const MAX = 10_000;
const GONE = 60_000;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function setup(settleOnClose = false) {
  const store = new RecordingConsumer<SpanRecord>();
  const settled: [string, SettledBy][] = [];
  const watcher = new JudgmentWatcher({
    next: store,
    // The judge reads what the store holds now: the latest record of the shutdown.
    judge: async (id) => {
      const record = store.items.filter((s) => s.role === 'shutdown' && readShutdown(s).id === id).at(-1);
      return record ? settledJudgmentOf(judgeShutdown(readShutdown(record), []) as ShutdownReport) : undefined;
    },
    onSettled: (judgment, by) => settled.push([judgment.shutdownId, by]),
    settleQuietMillis: QUIET,
    settleMaxMillis: MAX,
    processGoneMillis: GONE,
    settleOnClose,
    now: () => Date.now(),
  });
  return { store, settled, watcher };
}

describe('JudgmentWatcher', () => {
  it('when a shutdown span ends and its instance goes quiet, then it settles once as ended', async () => {
    const { store, settled, watcher } = setup();
    const s = shutdownSpan({ start: 0n, end: SEC, outcome: 'clean' });
    await watcher.consume([s]);
    expect(store.items).toEqual([s]);
    await vi.advanceTimersByTimeAsync(QUIET - 1);
    expect(settled).toEqual([]);
    await vi.advanceTimersByTimeAsync(2);
    expect(settled).toEqual([[readShutdown(s).id, 'ended']]);
    // A retried export of the same span is not judged again.
    await watcher.consume([s]);
    await vi.advanceTimersByTimeAsync(QUIET * 2);
    expect(settled).toHaveLength(1);
  });

  it('when spans of the instance keep arriving after the shutdown span, then it waits for quiet, but no longer than the bound', async () => {
    const { settled, watcher } = setup();
    const s = shutdownSpan({ start: 0n, end: SEC });
    await watcher.consume([s]);
    for (let t = 0; t < MAX + QUIET; t += QUIET / 2) {
      await vi.advanceTimersByTimeAsync(QUIET / 2);
      if (t < MAX - QUIET) expect(settled).toEqual([]);
      await watcher.consume([taskSpan({})]);
    }
    expect(settled).toEqual([[readShutdown(s).id, 'ended']]);
  });

  it('when only snapshots of a shutdown arrived and its instance has been silent long enough, then it settles as process_gone', async () => {
    const { settled, watcher } = setup();
    const open = shutdownSpan({ start: 0n, end: SEC, snapshot: true });
    await watcher.consume([open]);
    await vi.advanceTimersByTimeAsync(GONE / 2);
    await watcher.consume([taskSpan({ snapshot: true })]);
    await vi.advanceTimersByTimeAsync(GONE - 1);
    expect(settled).toEqual([]);
    await vi.advanceTimersByTimeAsync(2);
    expect(settled).toEqual([[readShutdown(open).id, 'process_gone']]);
  });

  it('when the final span follows snapshots, then the shutdown settles as ended after the quiet time', async () => {
    const { settled, watcher } = setup();
    const open = shutdownSpan({ start: 0n, end: SEC, snapshot: true });
    await watcher.consume([open]);
    await vi.advanceTimersByTimeAsync(QUIET * 3);
    await watcher.consume([{ ...open, snapshot: false, attributes: { ...open.attributes, 'task.snapshot': false } }]);
    await vi.advanceTimersByTimeAsync(QUIET + 1);
    expect(settled).toEqual([[readShutdown(open).id, 'ended']]);
  });

  it('when spans of many instances without a shutdown arrive, then none of them is tracked, and a settled instance is forgotten', async () => {
    const { watcher } = setup();
    for (let i = 0; i < 100; i++) await watcher.consume([taskSpan({ instance: `worker-${i}` })]);
    expect(watcher.trackedInstances).toBe(0);
    await watcher.consume([shutdownSpan({ start: 0n, end: SEC, instance: 'worker-7' })]);
    expect(watcher.trackedInstances).toBe(1);
    await vi.advanceTimersByTimeAsync(QUIET + 1);
    expect([watcher.watching, watcher.trackedInstances]).toEqual([0, 0]);
  });

  it('when the next stage refuses a batch, then nothing of it is watched and the refusal reaches the caller', async () => {
    const { store, settled, watcher } = setup();
    store.failWith = new Error('store down');
    await expect(watcher.consume([shutdownSpan({})])).rejects.toThrow('store down');
    await vi.advanceTimersByTimeAsync(MAX);
    expect(settled).toEqual([]);
    expect(watcher.watching).toBe(0);
  });

  it('when closed without settleOnClose, then shutdowns still waiting are forgotten', async () => {
    const { settled, watcher } = setup();
    await watcher.consume([shutdownSpan({ start: 0n, end: SEC })]);
    await watcher.close();
    await vi.advanceTimersByTimeAsync(MAX);
    expect(settled).toEqual([]);
  });

  it('when closed with settleOnClose, then ended shutdowns still waiting are settled at once and open ones are forgotten', async () => {
    const { settled, watcher } = setup(true);
    const ended = shutdownSpan({ start: 0n, end: SEC });
    const open = shutdownSpan({ start: 0n, end: SEC, snapshot: true, instance: 'other' });
    await watcher.consume([ended, open]);
    await watcher.close();
    expect(settled).toEqual([[readShutdown(ended).id, 'ended']]);
    await watcher.close();
  });

  it('when the judge rejects (e.g. the worker it asks stopped), then the error goes to onError, nothing settles, and close still ends', async () => {
    const errors: unknown[] = [];
    const onSettled = vi.fn();
    const watcher = new JudgmentWatcher({
      next: new RecordingConsumer<SpanRecord>(),
      judge: () => Promise.reject(new Error('worker stopped')),
      onSettled,
      settleOnClose: true,
      onError: (error) => errors.push(error),
    });
    await watcher.consume([shutdownSpan({ start: 0n, end: SEC })]);
    await watcher.close();
    expect(errors).toEqual([new Error('worker stopped')]);
    expect(onSettled).not.toHaveBeenCalled();
  });
});
