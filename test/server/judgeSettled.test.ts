import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readShutdown } from '../../contract/contract.js';
import { ShutdownViews } from '../../server/api/ShutdownViews.js';
import { judgeAtIngest, judgeTaskAlone } from '../../server/judge/index.js';
import { judgeSettled } from '../../server/judgeSettled.js';
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
});
