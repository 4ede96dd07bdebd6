import { gunzipSync } from 'node:zlib';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { ShutdownReport, SpanRecord } from '../../../contract/records.js';
import { columnarReportJson, columnarReportText } from '../../../server/api/columnar.js';
import { compactReportJson, streamedCompact } from '../../../server/api/json.js';
import { ShutdownViews } from '../../../server/api/ShutdownViews.js';
import { judgeBriefFromRecords } from '../../../server/judge/judgeBrief.js';
import { judgeShutdown } from '../../../server/judge/judgeShutdown.js';
import { judgeTask } from '../../../server/judge/judgeTask.js';
import { judgeTaskAlone } from '../../../server/judge/judgeTaskAlone.js';
import { judgeAtIngest, judgedFromStored } from '../../../server/judge/storedJudgment.js';
import { SqliteStore } from '../../../server/store/SqliteStore.js';
import { headOf, rowsOfBrief, rowsOfReport } from '../../doubles/briefRows.js';
import { drawnTaskRecords, taskEventArbOf, taskSpanFieldsOf } from '../../doubles/judgeArbitraries.js';
import { shuffle } from '../../doubles/shuffle.js';
import { ev, events, MS, SEC, shutdownSpan, T0, TRACE, task } from '../../doubles/spans.js';

/** Few distinct times around the shutdown's window (1 s → 3 s), so that ends fall before, in and after it. */
const timeArb = fc.constantFrom(0n, 500n * MS, SEC, 1500n * MS, 2n * SEC, 3n * SEC, 3n * SEC + 3n * MS, 3n * SEC + 10n * MS, 4n * SEC);

const taskEventArb = taskEventArbOf(timeArb);

/** One task span: its final record (maybe itself a snapshot) and up to two earlier snapshots. */
const spanArb = fc.record({
  ...taskSpanFieldsOf(timeArb, taskEventArb),
});

const scenarioArb = fc.record({
  spans: fc.array(spanArb, { maxLength: 8 }),
  /** the shutdown arrives as a snapshot first (still draining), then maybe as its final record */
  shutdownEnds: fc.boolean(),
  slowCancelNs: fc.constantFrom(500n * MS, SEC, 2n * SEC),
  clockToleranceNs: fc.constantFrom(0n, 5n * MS),
  seed: fc.integer(),
  /** where the arrival order is cut into batches (positions, modulo the record count) */
  cuts: fc.array(fc.nat({ max: 40 }), { maxLength: 5 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer S> ? S : never;

const SHUTDOWN_SPAN = 'ffffffffffffffff';

/** Every record the scenario sends: the tasks' snapshots and finals, the shutdown's snapshot and final. */
function recordsOf(s: Scenario): SpanRecord[] {
  const out: SpanRecord[] = [];
  s.spans.forEach((sp, i) => {
    const { final, snapshot } = drawnTaskRecords(sp, i);
    out.push(final);
    // Snapshots end strictly before the final record, so that no two records of a span tie.
    for (const snap of sp.snapshots) {
      if (snap.end < sp.end) out.push(snapshot(snap.end, snap.keep));
    }
  });
  const pending = [ev('tasks.pending', SEC, { 'tasks.pending.count': s.spans.length })];
  out.push(shutdownSpan({ spanId: SHUTDOWN_SPAN, start: SEC, end: 2n * SEC, snapshot: true, events: pending }));
  if (s.shutdownEnds) out.push(shutdownSpan({ spanId: SHUTDOWN_SPAN, start: SEC, end: 3n * SEC, outcome: 'clean', events: pending }));
  return out;
}

/** The arrival order, cut into batches. */
function batchesOf(s: Scenario, records: SpanRecord[]): SpanRecord[][] {
  const order = shuffle(records, s.seed);
  const cuts = [...new Set(s.cuts.map((c) => c % (order.length + 1)))].sort((a, b) => a - b);
  const batches: SpanRecord[][] = [];
  let from = 0;
  for (const cut of [...cuts, order.length]) {
    if (cut > from) batches.push(order.slice(from, cut));
    from = Math.max(from, cut);
  }
  return batches;
}

/** Everything the report says, the records included. */
function project(r: ShutdownReport) {
  return {
    ...r,
    tasks: r.tasks.map((j) => ({ ...j, findings: JSON.parse(JSON.stringify(j.findings)) })),
  };
}

describe('storedJudgment', () => {
  test.prop([scenarioArb], { numRuns: 150 })(
    'when records arrive in any order and batching, then the report from judgments kept at ingest (whole, or as brief columns from the views kept) equals judging the stored records from scratch, after every batch, and so does the answer kept after it, which the next batch makes stale',
    async (s) => {
      const options = { slowCancelNs: s.slowCancelNs, clockToleranceNs: s.clockToleranceNs };
      const store = SqliteStore.open({ path: ':memory:', verdictOf: judgeTaskAlone, judgmentOf: (t) => judgeAtIngest(t, options) });
      // Views that live across the batches and keep answers whenever the shutdown has ended, as a running service does.
      const keeping = new ShutdownViews(store, options);
      try {
        const records = recordsOf(s);
        for (const batch of batchesOf(s, records)) {
          await keeping.consume(batch);
          const shutdown = await store.getShutdown(`${TRACE}-${SHUTDOWN_SPAN}`);
          if (!shutdown) continue;
          // Every batch holds spans of the shutdown's instance: no answer kept before it stands after it.
          for (const form of ['compact', 'columnar'] as const) expect(await keeping.answer(shutdown, form)).toBeUndefined();
          await keeping.derive(shutdown);
          // Kept once the shutdown has ended, and then what judging from a fresh view gives, byte for byte.
          for (const form of ['compact', 'columnar'] as const) {
            const kept = await keeping.answer(shutdown, form);
            expect(kept === undefined).toBe(shutdown.open);
            if (!kept) continue;
            const chunks: Buffer[] = [];
            for await (const chunk of kept.gzipped()) chunks.push(chunk);
            const brief = await new ShutdownViews(store, options).briefReport(shutdown);
            const judged = form === 'compact' ? [...streamedCompact(brief).chunks()].join('') : [...columnarReportText(brief)].join('');
            expect(gunzipSync(Buffer.concat(chunks)).toString()).toBe(judged);
          }
          // A fresh view each time: no cached report, every read goes to the store.
          const views = new ShutdownViews(store, options);
          const incremental = await views.report(shutdown);
          const fromScratch = judgeShutdown(
            shutdown,
            await store.tasksInWindow(shutdown.instance, shutdown.start, shutdown.open ? undefined : shutdown.end),
            options,
          );
          expect(project(incremental)).toEqual(project(fromScratch));
          // The brief report (tasks as columns, read from the views kept at ingest) says the same, and
          // so does one judged from the whole records.
          const brief = await views.briefReport(shutdown);
          expect(rowsOfBrief(brief)).toEqual(rowsOfReport(fromScratch));
          expect(headOf(brief)).toEqual(headOf(fromScratch));
          const stored = await store.tasksInWindow(shutdown.instance, shutdown.start, shutdown.open ? undefined : shutdown.end);
          expect(rowsOfBrief(judgeBriefFromRecords(shutdown, stored, options))).toEqual(rowsOfReport(fromScratch));
          // The whole tasks read in the brief's order, a chunk at a time (the full view, search, one task) are the report's.
          const whole: ShutdownReport['tasks'] = [];
          for await (const chunk of views.wholeTasks(brief)) whole.push(...chunk);
          expect(project({ ...fromScratch, tasks: whole })).toEqual(project(fromScratch));
          // The compact and columnar forms are made from it, task for task.
          const compact = compactReportJson(brief);
          expect(
            compact.tasks.map(([spanId, name, verdict, site, createdAt, endedAt, finalState, snapshot, cancels, steps]) => ({
              spanId,
              name,
              verdict,
              site: compact.sites[site],
              createdAt,
              endedAt,
              finalState,
              snapshot: snapshot === 1,
              cancels,
              steps,
            })),
          ).toEqual(
            rowsOfReport(fromScratch).map(({ spanId, name, verdict, site, createdAt, endedAt, finalState, snapshot, cancels, steps }) => ({
              spanId,
              name,
              verdict,
              site,
              createdAt,
              endedAt,
              finalState,
              snapshot,
              cancels,
              steps,
            })),
          );
          expect(columnarReportJson(brief).columnar.spanId).toEqual(fromScratch.tasks.map((j) => j.task.spanId));
        }
      } finally {
        await store.close();
      }
    },
  );

  describe('judgedFromStored', () => {
    it('when the stored judgment was made under other judge options, then the task is judged again under the current ones', () => {
      const slow = task({ end: 3n * SEC, finalState: 'cancelled', events: [events.cancel(SEC)] });
      const stored = judgeAtIngest(slow, { slowCancelNs: 10n * SEC }).text;
      const window = { end: T0 + 5n * SEC, open: false };
      const now = { slowCancelNs: SEC };
      expect(judgedFromStored(slow, stored, window, now)).toEqual(judgeTask(slow, window, now));
      expect(judgedFromStored(slow, stored, window, now).findings.map((f) => f.kind)).toEqual(['slow_cancel']);
    });

    it('when nothing or something unreadable is stored, then the task is judged from its record', () => {
      const swallowed = task({ end: 2n * SEC, finalState: 'completed', events: [events.cancel(SEC)] });
      const window = { end: T0 + 3n * SEC, open: false };
      for (const text of [null, undefined, '', '{not json', '{}']) {
        expect(judgedFromStored(swallowed, text, window)).toEqual(judgeTask(swallowed, window));
      }
    });

    it('when a task ended after a closed window, then the stored late judgment makes it pending there and it keeps its own verdict in an open one', () => {
      const completed = task({ end: 5n * SEC, finalState: 'completed', events: [events.cancel(SEC)] });
      const stored = judgeAtIngest(completed).text;
      expect(judgedFromStored(completed, stored, { end: T0 + 3n * SEC, open: false }).verdict).toBe('survivor');
      expect(judgedFromStored(completed, stored, { end: T0 + 3n * SEC, open: true }).verdict).toBe('swallowed');
      expect(judgedFromStored(completed, stored, { end: T0 + 6n * SEC, open: false }).verdict).toBe('swallowed');
    });
  });
});
