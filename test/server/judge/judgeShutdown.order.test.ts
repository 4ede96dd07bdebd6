import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { readShutdown, readTask } from '../../../contract/contract.js';
import type { Attrs, EventRecord, ShutdownReport, SpanRecord } from '../../../contract/records.js';
import { judgeShutdown } from '../../../server/judge/judgeShutdown.js';
import { drawnTaskRecords, taskEventArbOf, taskSpanFieldsOf } from '../../doubles/judgeArbitraries.js';
import { shuffle } from '../../doubles/shuffle.js';
import { ev, MS, SEC, shutdownSpan } from '../../doubles/spans.js';

/** Few distinct times, so that events often tie and the tie-break is exercised. */
const timeArb = fc.constantFrom(0n, 500n * MS, SEC, 1500n * MS, 2n * SEC, 3n * SEC, 4n * SEC);

const taskEventArb = taskEventArbOf(timeArb);

const shutdownEventArb: fc.Arbitrary<EventRecord> = fc.oneof(
  fc.tuple(timeArb, fc.integer({ min: 0, max: 4 })).map(([t, n]) => ev('tasks.pending', t, { 'tasks.pending.count': n })),
  fc
    .tuple(timeArb, fc.constantFrom('pool', 'files'), fc.integer({ min: 0, max: 3 }))
    .map(([t, name, v]) => ev('resource.gauge', t, { 'resource.name': name, 'resource.value': v })),
  fc.tuple(timeArb, fc.constantFrom('w1', 'w2')).map(([t, m]) => ev('loop.warning', t, { message: m })),
);

/** One span: its final record, maybe a snapshot before it, maybe an exact duplicate of the final. */
const spanArb = fc.record({
  ...taskSpanFieldsOf(timeArb, taskEventArb),
  duplicate: fc.boolean(),
});

const scenarioArb = fc.record({
  spans: fc.array(spanArb, { maxLength: 8 }),
  shutdown: fc.record({
    open: fc.boolean(),
    events: fc.array(shutdownEventArb, { maxLength: 8 }),
    baseline: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
  }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer S> ? S : never;

/** Every record the scenario sends, in generation order. */
function recordsOf(s: Scenario): SpanRecord[] {
  const out: SpanRecord[] = [];
  s.spans.forEach((sp, i) => {
    const { final, snapshot } = drawnTaskRecords(sp, i);
    out.push(final);
    if (sp.duplicate) out.push(structuredClone(final));
    for (const snap of sp.snapshots) out.push(snapshot(snap.end, snap.keep));
  });
  return out;
}

function shutdownOf(s: Scenario, events: EventRecord[]): SpanRecord {
  const attributes: Attrs = s.shutdown.baseline === undefined ? {} : { 'shutdown.pending_baseline': s.shutdown.baseline };
  return shutdownSpan({ spanId: 'ffffffffffffffff', start: SEC, end: 3n * SEC, snapshot: s.shutdown.open, attributes, events });
}

/** What the report says, without the records' own (order-dependent) arrays. */
function project(r: ShutdownReport) {
  return {
    outcome: r.outcome,
    counts: r.counts,
    pending: r.pending,
    pendingBaseline: r.pendingBaseline,
    gauges: r.gauges,
    findings: r.findings,
    warnings: r.warnings,
    tasks: r.tasks.map((j) => ({
      id: `${j.task.traceId}/${j.task.spanId}`,
      snapshot: j.task.snapshot,
      endTime: j.task.endTime,
      verdict: j.verdict,
      findings: j.findings,
      cancelRequestedAt: j.cancelRequestedAt,
      swallowSite: j.swallowSite,
    })),
  };
}

describe('judgeShutdown', () => {
  test.prop([scenarioArb, fc.integer(), fc.integer()], { numRuns: 300 })(
    'when tasks, records and events arrive in any order, then the verdicts and findings are the same',
    (scenario, seedA, seedB) => {
      const records = recordsOf(scenario);
      const expected = judgeShutdown(readShutdown(shutdownOf(scenario, scenario.shutdown.events)), records.map(readTask));

      const reordered = shuffle(records, seedA).map((r, i) => ({ ...r, events: shuffle(r.events, seedB + i) }));
      const shuffledShutdown = shutdownOf(scenario, shuffle(scenario.shutdown.events, seedB));
      const actual = judgeShutdown(readShutdown(shuffledShutdown), reordered.map(readTask));

      expect(project(actual)).toEqual(project(expected));
    },
  );
});
