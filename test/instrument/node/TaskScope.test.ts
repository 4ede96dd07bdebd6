import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ATTR } from '../../../contract/contract.js';
import { runTask } from '../../../instrument/node/src/runTask.js';
import { TaskScope } from '../../../instrument/node/src/TaskScope.js';
import { taskHarness } from './taskHarness.js';

let h: ReturnType<typeof taskHarness>;
beforeEach(() => {
  h = taskHarness();
});
afterEach(async () => {
  await h.close();
});

describe('TaskScope', () => {
  it('when cancelled, then every child is aborted, awaited, and carries the group and parent ids', async () => {
    await runTask(
      'supervisor',
      async () => {
        const scope = new TaskScope('workers', { tracer: h.tracer });
        for (const name of ['w1', 'w2']) {
          void scope.run(name, (signal) => sleep(10_000, undefined, { signal })).catch(() => undefined);
        }
        expect(scope.size).toBe(2);
        const result = await scope.cancel(new Error('stop'));
        expect(result).toEqual({ settled: 2, pending: 0 });
        expect(scope.size).toBe(0);
      },
      { tracer: h.tracer },
    );
    const spans = await h.finished();
    const supervisor = spans.find((s) => s.name === 'supervisor')!;
    const workers = spans.filter((s) => s.name.startsWith('w'));
    expect(workers).toHaveLength(2);
    for (const w of workers) {
      expect(w.attributes[ATTR.finalState]).toBe('cancelled');
      expect(String(w.attributes[ATTR.groupId])).toMatch(/^workers-/);
      expect(w.attributes[ATTR.parentId]).toBe(supervisor.attributes[ATTR.taskId]);
      expect(w.attributes[ATTR.codeFilepath]).toMatch(/TaskScope\.test\.ts$/);
    }
  });

  it('when a child ignores its signal, then cancel returns after its bound and reports it pending', async () => {
    const scope = new TaskScope('stubborn', { tracer: h.tracer, cancelTimeoutMs: 50 });
    void scope.run('good', (signal) => sleep(10_000, undefined, { signal })).catch(() => undefined);
    void scope.run('zombie', () => new Promise(() => undefined));
    const started = Date.now();
    const result = await scope.cancel();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(result).toEqual({ settled: 1, pending: 1 });
    expect(h.processor.openTaskCount()).toBe(1);
  });

  it('when its parent signal aborts, then the children are aborted too', async () => {
    const parent = new AbortController();
    const scope = new TaskScope('child-of', { tracer: h.tracer, signal: parent.signal });
    const child = scope.run('c', (signal) => sleep(10_000, undefined, { signal }));
    parent.abort();
    await expect(child).rejects.toThrow();
    await scope.settled();
    expect(scope.signal.aborted).toBe(true);
  });
});
