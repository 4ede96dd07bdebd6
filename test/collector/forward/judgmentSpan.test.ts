import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { judgmentRequest as judgmentRequestOf, judgmentSpanId, MAX_JUDGMENT_EVENTS, type SettledBy } from '../../../collector/forward/judgmentSpan.js';
import { settledJudgmentOf } from '../../../collector/forward/settledJudgment.js';
import { decodeTraceRequest } from '../../../collector/otlp/decode.js';
import { OtlpTypes } from '../../../collector/otlp/schema.js';
import { toSpanRecord } from '../../../collector/processor/toSpanRecord.js';
import { JUDGMENT, roleOf, verdictCountAttr } from '../../../contract/contract.js';
import type { ShutdownReport } from '../../../contract/records.js';
import { judgeShutdown } from '../../../server/judge/index.js';
import { events, MS, SEC, shutdown, task } from '../../doubles/spans.js';

const cancelAt = 100n * MS;

/** The judgment span of a report, made as the service makes it. */
const judgmentRequest = (report: ShutdownReport, by: SettledBy) => judgmentRequestOf(settledJudgmentOf(report), by);

function report() {
  const s = shutdown({ start: 0n, end: 2n * SEC, outcome: 'survivors', events: [events.pending(0n, 3), events.pending(SEC, 1)] });
  const tasks = [
    task({ name: 'polite', start: -SEC, end: 200n * MS, finalState: 'cancelled', events: [events.cancel(cancelAt)] }),
    task({
      name: 'swallower',
      start: -SEC,
      end: 300n * MS,
      finalState: 'completed',
      events: [events.cancel(cancelAt)],
      attributes: { 'task.swallow_site': '/srv/app/w.py:42 in loop' },
    }),
    task({ name: 'zombie', start: -SEC, end: 2n * SEC, snapshot: true, events: [events.cancel(cancelAt)] }),
    task({ name: 'forgotten', start: -SEC, end: 2n * SEC, snapshot: true }),
  ];
  return judgeShutdown(s, tasks);
}

function decodeOne(bytes: Uint8Array) {
  const decoded = decodeTraceRequest(bytes, 'protobuf');
  expect(decoded.rejected).toBe(0);
  expect(decoded.spans).toHaveLength(1);
  return toSpanRecord(decoded.spans[0]);
}

describe('judgmentRequest', () => {
  it('when a shutdown is judged, then its judgment is one child span of the shutdown, in its trace, with its resource', () => {
    const r = report();
    const span = decodeOne(judgmentRequest(r, 'ended'));
    expect(span.name).toBe(JUDGMENT.spanName);
    expect(span.traceId).toBe(r.shutdown.span.traceId);
    expect(span.parentSpanId).toBe(r.shutdown.span.spanId);
    expect(span.spanId).toBe(judgmentSpanId(r.shutdown.id));
    expect(span.resource).toEqual(r.shutdown.span.resource);
    expect(span.scope.name).toBe(JUDGMENT.scope);
    expect(span.endTime).toBe(r.shutdown.end);
    // Not a shutdown or task to a canceltrace downstream: it must not be judged again there.
    expect(roleOf(span.attributes, span.scope.name)).toBe('other');
  });

  it('when tasks got verdicts, then the span counts each verdict and marks itself an error naming the bad ones', () => {
    const r = report();
    const span = decodeOne(judgmentRequest(r, 'ended'));
    expect(span.attributes[verdictCountAttr('swallowed')]).toBe(1);
    expect(span.attributes[verdictCountAttr('survivor')]).toBe(1);
    expect(span.attributes[verdictCountAttr('orphan')]).toBe(1);
    expect(span.attributes[verdictCountAttr('cancelled')]).toBe(1);
    expect(span.attributes[verdictCountAttr('destroyed')]).toBe(0);
    expect(span.attributes[JUDGMENT.outcome]).toBe('survivors');
    expect(span.attributes[JUDGMENT.settledBy]).toBe('ended');
    expect(span.attributes[JUDGMENT.tasksCount]).toBe(r.tasks.length);
    expect(span.status).toEqual({ code: 2, message: '1 swallowed, 1 survivor, 1 orphan' });
  });

  it('when the shutdown has findings, then their kinds and messages are string arrays in the same order', () => {
    const r = report();
    expect(r.findings.length).toBeGreaterThan(0);
    const span = decodeOne(judgmentRequest(r, 'process_gone'));
    expect(span.attributes[JUDGMENT.findings]).toEqual(r.findings.map((f) => f.kind));
    expect(span.attributes[JUDGMENT.findingMessages]).toEqual(r.findings.map((f) => f.message));
    expect(span.attributes[JUDGMENT.settledBy]).toBe('process_gone');
  });

  it('when tasks have bad verdicts, then there is one event per such task with its span id, name, verdict and swallow site', () => {
    const r = report();
    const span = decodeOne(judgmentRequest(r, 'ended'));
    const byName = new Map(span.events.map((e) => [e.attributes['task.name'], e]));
    expect([...byName.keys()].sort()).toEqual(['forgotten', 'swallower', 'zombie']);
    const swallower = byName.get('swallower');
    const judged = r.tasks.find((t) => t.task.name === 'swallower');
    expect(swallower?.name).toBe(JUDGMENT.taskEvent);
    expect(swallower?.attributes).toMatchObject({
      [JUDGMENT.taskSpanId]: judged?.task.spanId,
      [JUDGMENT.taskTraceId]: judged?.task.traceId,
      [JUDGMENT.verdict]: 'swallowed',
      'task.swallow_site': '/srv/app/w.py:42 in loop',
    });
    expect(byName.get('zombie')?.attributes[JUDGMENT.verdict]).toBe('survivor');
  });

  it('when more tasks have bad verdicts than the event bound, then the rest are counted as dropped events', () => {
    const s = shutdown({ start: 0n, end: SEC, outcome: 'survivors' });
    const count = MAX_JUDGMENT_EVENTS + 5;
    const tasks = Array.from({ length: count }, (_, i) => task({ name: `t${i}`, start: -SEC, end: SEC, snapshot: true }));
    const bytes = judgmentRequest(judgeShutdown(s, tasks), 'ended');
    const request = OtlpTypes.ExportTraceServiceRequest.decode(bytes) as unknown as {
      resourceSpans: { scopeSpans: { spans: { events: unknown[]; droppedEventsCount: number }[] }[] }[];
    };
    const span = request.resourceSpans[0].scopeSpans[0].spans[0];
    expect(span.events).toHaveLength(MAX_JUDGMENT_EVENTS);
    expect(span.droppedEventsCount).toBe(5);
  });

  it('when the same shutdown is judged twice, then both judgments are the same span', () => {
    const r = report();
    expect(decodeOne(judgmentRequest(r, 'process_gone')).spanId).toBe(decodeOne(judgmentRequest(r, 'ended')).spanId);
    expect(judgmentSpanId(r.shutdown.id)).not.toBe(judgmentSpanId(report().shutdown.id));
  });

  describe('bytes', () => {
    const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    /** A shutdown with a finding, a swallow site, a task finding and each bad verdict kind the judge gives here; ids fixed. */
    function fixedReport() {
      const s = shutdown({ spanId: 'a1'.repeat(8), start: 0n, end: 2n * SEC, outcome: 'survivors', events: [events.pending(0n, 3), events.pending(SEC, 1)] });
      const tasks = [
        task({
          spanId: 'b1'.repeat(8),
          name: 'polite',
          start: -SEC,
          end: 200n * MS,
          finalState: 'cancelled',
          events: [events.cancel(cancelAt), events.cleanupStart(110n * MS, 'db'), events.cleanupEnd(150n * MS, 'db', 'interrupted')],
        }),
        task({
          spanId: 'b2'.repeat(8),
          name: 'swallower',
          start: -SEC,
          end: 300n * MS,
          finalState: 'completed',
          events: [events.cancel(cancelAt)],
          attributes: { 'task.swallow_site': '/srv/app/w.py:42 in loop' },
        }),
        task({
          spanId: 'b3'.repeat(8),
          name: 'zombie',
          start: -SEC,
          end: 2n * SEC,
          snapshot: true,
          events: [events.cancel(cancelAt), events.cleanupStart(110n * MS, 'db')],
        }),
        task({ spanId: 'b4'.repeat(8), name: 'forgotten', start: -SEC, end: 2n * SEC, snapshot: true }),
      ];
      return judgeShutdown(s, tasks);
    }

    // The digests are of the bytes the encoder made from the whole ShutdownReport, before it took a SettledJudgment.
    it('when a report is encoded through its settled judgment, then the bytes are those the report itself gave', () => {
      const r = fixedReport();
      expect(r.findings.length).toBeGreaterThan(0);
      expect(r.tasks.some((t) => t.swallowSite) && r.tasks.some((t) => t.findings.length > 0)).toBe(true);
      expect(sha256(judgmentRequest(r, 'ended'))).toBe('0aadeb1ff23736dd6488b28fd1b667edfd76b2177017bd30cf601d225d08cffe');
      expect(sha256(judgmentRequest(r, 'process_gone'))).toBe('1cbdfd0d7be38ab9a964ab6096837626a5b7d9441c96de2f1dfa2bffa11cc847');
    });

    it('when more tasks have bad verdicts than the event bound, then the bytes are those the report itself gave', () => {
      const s = shutdown({ spanId: 'a2'.repeat(8), start: 0n, end: SEC, outcome: 'survivors' });
      const tasks = Array.from({ length: MAX_JUDGMENT_EVENTS + 5 }, (_, i) =>
        task({ spanId: (i + 1).toString(16).padStart(16, 'c'), name: `t${i}`, start: -SEC, end: SEC, snapshot: true }),
      );
      expect(sha256(judgmentRequest(judgeShutdown(s, tasks), 'ended'))).toBe('eee35bb7d9188dfa5cc79dbb6c47ec9a4d5039115eb565dc3774d2872798ab45');
    });

    it('when the settled judgment is posted between threads (structured clone), then it encodes to the same bytes', () => {
      const judgment = settledJudgmentOf(fixedReport());
      const posted = structuredClone(judgment);
      expect(posted).toEqual(judgment);
      expect(judgmentRequestOf(posted, 'ended')).toEqual(judgmentRequestOf(judgment, 'ended'));
    });
  });
});
