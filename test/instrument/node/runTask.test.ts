import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ATTR, EVENT } from '../../../contract/contract.js';
import { cleanup } from '../../../instrument/node/src/cleanup.js';
import { runTask } from '../../../instrument/node/src/runTask.js';
import { taskHarness } from './taskHarness.js';

let h: ReturnType<typeof taskHarness>;
beforeEach(() => {
  h = taskHarness();
});
afterEach(async () => {
  await h.close();
});

async function only(name: string) {
  const spans = (await h.finished()).filter((s) => s.name === name);
  expect(spans).toHaveLength(1);
  return spans[0];
}

describe('runTask', () => {
  it('when the function resolves without an abort, then the span ends completed with the contract attributes', async () => {
    async function fetchUser() {
      return 42;
    }
    await expect(runTask('fetch', fetchUser, { tracer: h.tracer, attributes: { 'app.k': 'v' } })).resolves.toBe(42);
    const span = await only('fetch');
    expect(span.attributes).toMatchObject({
      [ATTR.taskKind]: 'node',
      [ATTR.taskName]: 'fetch',
      [ATTR.coroutine]: 'fetchUser',
      [ATTR.finalState]: 'completed',
      'app.k': 'v',
    });
    expect(span.attributes[ATTR.codeFilepath]).toMatch(/runTask\.test\.ts$/);
    expect(typeof span.attributes[ATTR.codeLineno]).toBe('number');
    expect(span.events.some((e) => e.name === EVENT.cancelRequested)).toBe(false);
  });

  it('when the task rethrows the signal reason after cleanup, then it ends cancelled with the cleanup ok', async () => {
    const parent = new AbortController();
    const task = runTask(
      'rethrow',
      async (signal) => {
        try {
          await sleep(10_000, undefined, { signal });
        } finally {
          await cleanup('close', async () => sleep(5));
        }
      },
      { tracer: h.tracer, signal: parent.signal },
    );
    await sleep(5);
    parent.abort(new Error('shutting down'));
    await expect(task).rejects.toThrow();
    const span = await only('rethrow');
    expect(span.attributes[ATTR.finalState]).toBe('cancelled');
    const names = span.events.map((e) => e.name);
    expect(names).toEqual([EVENT.cancelRequested, EVENT.cleanupStart, EVENT.cleanupEnd]);
    expect(span.events[2].attributes).toMatchObject({ 'cleanup.name': 'close', 'cleanup.outcome': 'ok' });
  });

  it('when the parent aborts, then the cancel request names the site that called abort', async () => {
    const parent = new AbortController();
    const task = runTask('site', (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))), {
      tracer: h.tracer,
      signal: parent.signal,
    });
    function stopEverything() {
      parent.abort(new Error('bye'));
    }
    stopEverything();
    await expect(task).rejects.toThrow('bye');
    const span = await only('site');
    const cancel = span.events.find((e) => e.name === EVENT.cancelRequested)!;
    expect(cancel.attributes).toMatchObject({ 'cancel.message': 'Error: bye', 'cancel.count': 1, [ATTR.codeFunction]: 'stopEverything' });
    expect(String(cancel.attributes?.[ATTR.codeFilepath])).toMatch(/runTask\.test\.ts$/);
  });

  it('when the catch resolves normally after the abort, then the task ends completed (a swallow)', async () => {
    const parent = new AbortController();
    const task = runTask(
      'swallow',
      async (signal) => {
        try {
          await sleep(10_000, undefined, { signal });
          return 'done';
        } catch {
          return 'stopped';
        }
      },
      { tracer: h.tracer, signal: parent.signal },
    );
    parent.abort();
    await expect(task).resolves.toBe('stopped');
    const span = await only('swallow');
    expect(span.attributes[ATTR.finalState]).toBe('completed');
    expect(span.events.map((e) => e.name)).toContain(EVENT.cancelRequested);
  });

  it('when cleanup throws another error after the abort, then the task ends failed with the exception', async () => {
    const parent = new AbortController();
    const task = runTask(
      'replace',
      async (signal) => {
        try {
          await sleep(10_000, undefined, { signal });
        } finally {
          await cleanup('rollback', () => {
            throw new TypeError('rollback failed');
          });
        }
      },
      { tracer: h.tracer, signal: parent.signal },
    );
    parent.abort();
    await expect(task).rejects.toThrow('rollback failed');
    const span = await only('replace');
    expect(span.attributes[ATTR.finalState]).toBe('failed');
    const names = span.events.map((e) => e.name);
    expect(names).toEqual([EVENT.cancelRequested, EVENT.cleanupStart, EVENT.cleanupEnd, EVENT.exception]);
    expect(span.events[2].attributes?.['cleanup.outcome']).toBe('error');
    expect(span.events[3].attributes?.['exception.type']).toBe('TypeError');
  });

  it('when the parent signal was already aborted, then the task starts aborted and records the request', async () => {
    const task = runTask('late', async (signal) => signal.throwIfAborted(), { tracer: h.tracer, signal: AbortSignal.abort() });
    await expect(task).rejects.toThrow();
    const span = await only('late');
    expect(span.attributes[ATTR.finalState]).toBe('cancelled');
    expect(span.events[0].name).toBe(EVENT.cancelRequested);
  });

  it('when the function throws synchronously, then the promise rejects and the span ends failed', async () => {
    const task = runTask(
      'sync',
      () => {
        throw new RangeError('bad');
      },
      { tracer: h.tracer },
    );
    await expect(task).rejects.toThrow('bad');
    expect((await only('sync')).attributes[ATTR.finalState]).toBe('failed');
  });

  it('when a task runs another, then the child carries the parent task id and the parent span', async () => {
    await runTask('outer', () => runTask('inner', async () => 1, { tracer: h.tracer }), { tracer: h.tracer });
    const outer = await only('outer');
    const inner = await only('inner');
    expect(inner.attributes[ATTR.parentId]).toBe(outer.attributes[ATTR.taskId]);
    expect(inner.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
  });

  it('when a task never settles, then a snapshot exports it as pending with its cancel request', async () => {
    const parent = new AbortController();
    void runTask('ignorer', () => new Promise(() => undefined), { tracer: h.tracer, signal: parent.signal });
    parent.abort();
    await h.processor.snapshot();
    const snap = h.exporter.getFinishedSpans().find((s) => s.name === 'ignorer')!;
    expect(snap.attributes).toMatchObject({ [ATTR.finalState]: 'pending', [ATTR.snapshot]: true });
    expect(snap.events.map((e) => e.name)).toEqual([EVENT.cancelRequested]);
    expect(h.processor.openTaskCount()).toBe(1);
  });
});

describe('cleanup', () => {
  it('when the step outlives its bound, then it is recorded as timeout and resolves undefined', async () => {
    const result = await runTask('bounded', () => cleanup('flush', () => new Promise<string>(() => undefined), { timeoutMs: 20 }), { tracer: h.tracer });
    expect(result).toBeUndefined();
    const span = await only('bounded');
    expect(span.events.map((e) => [e.name, e.attributes?.['cleanup.outcome']])).toEqual([
      [EVENT.cleanupStart, undefined],
      [EVENT.cleanupEnd, 'timeout'],
    ]);
  });

  it('when called outside any task, then it only runs the step', async () => {
    await expect(cleanup('free', () => 7)).resolves.toBe(7);
  });
});
