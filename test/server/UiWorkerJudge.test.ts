import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { settledJudgmentOf } from '../../collector/forward/settledJudgment.js';
import { judgeShutdown } from '../../server/judge/index.js';
import { UiWorkerJudge } from '../../server/UiWorkerJudge.js';
import type { UiWorkerReply, UiWorkerRequest } from '../../server/uiWorkerMessages.js';
import { SEC, shutdown } from '../doubles/spans.js';

/** A worker thread that keeps what it is sent; the test answers for it. */
class FakeWorker extends EventEmitter {
  readonly posted: UiWorkerRequest[] = [];
  postMessage(message: UiWorkerRequest): void {
    this.posted.push(message);
  }
  reply(message: UiWorkerReply): void {
    this.emit('message', message);
  }
}

const judgment = settledJudgmentOf(judgeShutdown(shutdown({ start: 0n, end: SEC, outcome: 'clean' }), []));

describe('UiWorkerJudge', () => {
  describe('judge', () => {
    it('when the worker answers, then the judgment it sent is returned, and a shutdown it did not find is undefined', async () => {
      const worker = new FakeWorker();
      const judge = new UiWorkerJudge();
      judge.attach(worker);
      const found = judge.judge(judgment.shutdownId);
      const missing = judge.judge('gone');
      expect(worker.posted).toEqual([
        { type: 'judge', id: 1, shutdownId: judgment.shutdownId },
        { type: 'judge', id: 2, shutdownId: 'gone' },
      ]);
      worker.reply({ type: 'judged', id: 2 });
      worker.reply({ type: 'judged', id: 1, judgment });
      expect(await found).toEqual(judgment);
      expect(await missing).toBeUndefined();
      expect(judge.pending).toBe(0);
    });

    it('when the worker reports an error, then the request rejects with it and the shutdown id', async () => {
      const worker = new FakeWorker();
      const judge = new UiWorkerJudge();
      judge.attach(worker);
      const asked = judge.judge('s-1');
      worker.reply({ type: 'judged', id: 1, error: 'database is locked' });
      await expect(asked).rejects.toThrow(/s-1.*database is locked/);
    });

    it('when asked before the worker is attached, then the request is sent once it is', async () => {
      const worker = new FakeWorker();
      const judge = new UiWorkerJudge();
      const asked = judge.judge('s-1');
      await Promise.resolve();
      judge.attach(worker);
      await new Promise((resolve) => setImmediate(resolve));
      expect(worker.posted).toEqual([{ type: 'judge', id: 1, shutdownId: 's-1' }]);
      worker.reply({ type: 'judged', id: 1, judgment });
      expect(await asked).toEqual(judgment);
    });

    it('when the worker exits with requests pending, then they reject, and so does every later request', async () => {
      const worker = new FakeWorker();
      const judge = new UiWorkerJudge();
      judge.attach(worker);
      const asked = judge.judge('s-1');
      worker.emit('exit', 1);
      await expect(asked).rejects.toThrow(/s-1 was not judged.*exited \(code 1\)/);
      await expect(judge.judge('s-2')).rejects.toThrow(/s-2 was not judged/);
      expect(judge.pending).toBe(0);
      expect(worker.posted).toHaveLength(1);
    });

    it('when stopped before a worker was attached (it failed to start), then waiting requests reject', async () => {
      const judge = new UiWorkerJudge();
      const asked = judge.judge('s-1');
      judge.stop(new Error('did not start'));
      await expect(asked).rejects.toThrow(/s-1 was not judged: did not start/);
    });
  });
});
