import { fc } from '@fast-check/vitest';
import type { EventRecord, FinalState, SpanRecord } from '../../contract/records.js';
import { ev, taskSpan } from './spans.js';

/**
 * Any event a task span may carry (cancel, uncancel, cleanup, shield, exception, loop warning), at
 * the times `timeArb` draws: the property tests of the judge pick few distinct times so that events tie.
 */
export function taskEventArbOf(timeArb: fc.Arbitrary<bigint>): fc.Arbitrary<EventRecord> {
  return fc.oneof(
    timeArb.map((t) => ev('task.cancel_requested', t)),
    fc.tuple(timeArb, fc.boolean()).map(([t, h]) => ev('task.uncancel', t, h ? { 'uncancel.handoff': true } : {})),
    fc.tuple(timeArb, fc.constantFrom('a', 'b')).map(([t, n]) => ev('task.cleanup.start', t, { 'cleanup.name': n })),
    fc
      .tuple(timeArb, fc.constantFrom('a', 'b'), fc.constantFrom('ok', 'cancelled', 'timeout', 'error'))
      .map(([t, n, o]) => ev('task.cleanup.end', t, { 'cleanup.name': n, 'cleanup.outcome': o })),
    fc.tuple(timeArb, fc.constantFrom('ok', 'timeout', 'interrupted')).map(([t, o]) => ev('task.shield.end', t, { 'shield.outcome': o })),
    fc
      .tuple(timeArb, fc.constantFrom('CancelledError', 'ValueError', 'AbortError'), fc.integer({ min: 1, max: 3 }))
      .map(([t, type, line]) => ev('exception', t, { 'exception.type': type, 'code.filepath': 'w.py', 'code.lineno': line })),
    fc.tuple(timeArb, fc.constantFrom('w1', 'w2')).map(([t, m]) => ev('loop.warning', t, { message: m })),
  );
}

/**
 * The fields of one drawn task span: ids, times from `timeArb`, a final state, events from
 * `eventArb`, and up to two snapshots (an end, and how many of the events each keeps).
 */
export function taskSpanFieldsOf(timeArb: fc.Arbitrary<bigint>, eventArb: fc.Arbitrary<EventRecord>) {
  return {
    taskId: fc.constantFrom('1', '2', '3', '4'),
    parentId: fc.option(fc.constantFrom('1', '2', '3', '4'), { nil: undefined }),
    groupId: fc.option(fc.constantFrom('g1', 'g2'), { nil: undefined }),
    start: timeArb,
    end: timeArb,
    finalState: fc.constantFrom<FinalState | null>('cancelled', 'completed', 'failed', 'pending', 'destroyed', null),
    errorStatus: fc.boolean(),
    finalIsSnapshot: fc.boolean(),
    events: fc.array(eventArb, { maxLength: 6 }),
    snapshots: fc.array(fc.record({ end: timeArb, keep: fc.nat({ max: 6 }) }), { maxLength: 2 }),
  };
}

/** One task span as {@link taskSpanFieldsOf} draws it. */
export interface DrawnTaskSpan {
  taskId: string;
  parentId?: string;
  groupId?: string;
  start: bigint;
  end: bigint;
  finalState: FinalState | null;
  errorStatus: boolean;
  finalIsSnapshot: boolean;
  events: EventRecord[];
}

/**
 * The records of the `i`-th drawn task span (span id `i + 1`): its final record, and its snapshot
 * ending at `end` with the first `keep` of its events.
 */
export function drawnTaskRecords(sp: DrawnTaskSpan, i: number): { final: SpanRecord; snapshot(end: bigint, keep: number): SpanRecord } {
  const spanId = (i + 1).toString(16).padStart(16, '0');
  const attributes: Record<string, string> = {};
  if (sp.parentId !== undefined) attributes['task.parent_id'] = sp.parentId;
  if (sp.groupId !== undefined) attributes['task.group_id'] = sp.groupId;
  const base = { spanId, name: `t${i}`, taskId: sp.taskId, start: sp.start < sp.end ? sp.start : sp.end, attributes };
  return {
    final: taskSpan({
      ...base,
      end: sp.end,
      finalState: sp.finalIsSnapshot ? undefined : sp.finalState,
      snapshot: sp.finalIsSnapshot,
      status: { code: sp.errorStatus ? 2 : 0 },
      events: sp.events,
    }),
    snapshot: (end, keep) => taskSpan({ ...base, end, snapshot: true, events: sp.events.slice(0, keep) }),
  };
}
