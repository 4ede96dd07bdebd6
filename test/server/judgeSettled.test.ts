import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_JUDGMENT_EVENTS, settledJudgmentOf } from '../../collector/forward/settledJudgment.js';
import { readShutdown } from '../../contract/contract.js';
import { ShutdownViews } from '../../server/api/ShutdownViews.js';
import { judgeAtIngest, judgeTaskAlone } from '../../server/judge/index.js';
import { judgeSettled, settledJudgmentOfBrief } from '../../server/judgeSettled.js';
import { SqliteStore } from '../../server/store/SqliteStore.js';
import { events, MS, SEC, shutdownSpan, taskSpan } from '../doubles/spans.js';

describe('judgeSettled', () => {
  let store: SqliteStore;
  beforeEach(() => {
    const path = join(mkdtempSync(join(tmpdir(), 'canceltrace-settled-')), 'db.sqlite');
    store = SqliteStore.open({ path, verdictOf: judgeTaskAlone, judgmentOf: (task) => judgeAtIngest(task) });
  });
  afterEach(async () => {
    await store.close();
  });

  it('when the shutdown is stored, then its settled judgment counts the verdicts of its tasks and lists the bad ones', async () => {
    const s = shutdownSpan({ start: 0n, end: SEC, outcome: 'survivors' });
    await store.consume([
      s,
      taskSpan({ name: 'polite', start: -SEC, end: 100n * MS, finalState: 'cancelled', events: [events.cancel(10n * MS)] }),
      taskSpan({ name: 'swallower', start: -SEC, end: 200n * MS, finalState: 'completed', events: [events.cancel(10n * MS)] }),
    ]);
    const judgment = await judgeSettled(store, new ShutdownViews(store), readShutdown(s).id);
    expect(judgment).toMatchObject({ shutdownId: readShutdown(s).id, tasksCount: 2, counts: { cancelled: 1, swallowed: 1 }, badCount: 1 });
    expect(judgment?.badTasks.map((t) => [t.name, t.verdict])).toEqual([['swallower', 'swallowed']]);
  });

  it('when the shutdown is not in the store, then there is no judgment', async () => {
    expect(await judgeSettled(store, new ShutdownViews(store), `${'0'.repeat(31)}1-${'0'.repeat(15)}1`)).toBeUndefined();
  });

  describe('settledJudgmentOfBrief', () => {
    it('when a shutdown with findings, a swallow site and task findings is stored, then the brief report gives the judgment the whole report gives', async () => {
      const s = shutdownSpan({ start: 0n, end: 2n * SEC, outcome: 'survivors', events: [events.pending(0n, 4), events.pending(SEC, 1)] });
      await store.consume([
        s,
        taskSpan({
          name: 'polite',
          start: -SEC,
          end: 200n * MS,
          finalState: 'cancelled',
          events: [events.cancel(100n * MS), events.cleanupStart(110n * MS, 'db'), events.cleanupEnd(150n * MS, 'db', 'interrupted')],
        }),
        taskSpan({
          name: 'swallower',
          start: -SEC,
          end: 300n * MS,
          finalState: 'completed',
          events: [events.cancel(100n * MS)],
          attributes: { 'task.swallow_site': '/srv/app/w.py:42 in loop' },
        }),
        taskSpan({ name: 'zombie', start: -SEC, end: 2n * SEC, snapshot: true, events: [events.cancel(100n * MS), events.cleanupStart(110n * MS, 'db')] }),
        taskSpan({ name: 'forgotten', start: -SEC, end: 2n * SEC, snapshot: true }),
      ]);
      const shutdown = readShutdown(s);
      const views = new ShutdownViews(store);
      const whole = settledJudgmentOf(await views.report(shutdown));
      expect(whole.findings.length).toBeGreaterThan(0);
      expect(whole.badTasks.some((t) => t.swallowSite) && whole.badTasks.some((t) => t.findings.length > 0)).toBe(true);
      expect(settledJudgmentOfBrief(await views.briefReport(shutdown))).toEqual(whole);
      expect(await judgeSettled(store, views, shutdown.id)).toEqual(whole);
    });

    it('when more tasks have bad verdicts than the event bound, then the brief report keeps the same first ones and counts the same', async () => {
      const s = shutdownSpan({ start: 0n, end: SEC, outcome: 'survivors' });
      const tasks = Array.from({ length: MAX_JUDGMENT_EVENTS + 5 }, (_, i) =>
        taskSpan({
          name: `t${i}`,
          start: -SEC + BigInt(i % 7) * MS,
          end: SEC,
          snapshot: i % 2 === 0,
          finalState: i % 2 === 0 ? undefined : 'completed',
          events: [events.cancel(10n * MS)],
        }),
      );
      await store.consume([s, ...tasks]);
      const views = new ShutdownViews(store);
      const whole = settledJudgmentOf(await views.report(readShutdown(s)));
      expect(whole.badCount).toBe(MAX_JUDGMENT_EVENTS + 5);
      expect(settledJudgmentOfBrief(await views.briefReport(readShutdown(s)))).toEqual(whole);
    });
  });
});
