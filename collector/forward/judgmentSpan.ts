/**
 * The `canceltrace.judgment` span of a settled shutdown, as an OTLP protobuf request ready to forward.
 *
 * It is a child of the shutdown span in the same trace, carries the shutdown's resource (so it sits
 * under the same service downstream), counts the verdicts, lists the shutdown's findings, and holds
 * one event per task with a bad verdict (swallowed, survivor, replaced, destroyed, orphan).
 * Its span id is derived from the shutdown id, so a judgment sent twice is the same span.
 */
import { createHash } from 'node:crypto';
import { ATTR, JUDGMENT, verdictCountAttr } from '../../contract/contract.js';
import { type Attrs, type AttrValue, BAD_VERDICTS, VERDICTS } from '../../contract/records.js';
import { OtlpTypes } from '../otlp/schema.js';
import type { SettledJudgment, SettledTask } from './settledJudgment.js';

export { MAX_JUDGMENT_EVENTS } from './settledJudgment.js';

/** Why a judgment settled. */
export type SettledBy = 'ended' | 'process_gone';

/** The version written as the judgment scope's version. */
const SCOPE_VERSION = '0.1.0';
/** OTLP SpanKind INTERNAL. */
const SPAN_KIND_INTERNAL = 1;
/** OTLP status code ERROR. */
const STATUS_ERROR = 2;

type AnyValue = Record<string, unknown>;

/** The span id of a shutdown's judgment span (16 hex digits), derived from the shutdown id. */
export function judgmentSpanId(shutdownId: string): string {
  return createHash('sha256').update(`${JUDGMENT.spanName}:${shutdownId}`).digest('hex').slice(0, 16);
}

/** The judgment span of a settled shutdown (its settledJudgmentOf) as one ExportTraceServiceRequest, encoded. */
export function judgmentRequest(judgment: SettledJudgment, settledBy: SettledBy): Uint8Array {
  const attributes: Attrs = {
    [JUDGMENT.shutdownId]: judgment.shutdownId,
    [JUDGMENT.outcome]: judgment.outcome,
    [JUDGMENT.settledBy]: settledBy,
    [JUDGMENT.tasksCount]: judgment.tasksCount,
  };
  for (const verdict of VERDICTS) attributes[verdictCountAttr(verdict)] = judgment.counts[verdict] ?? 0;
  if (judgment.findings.length > 0) {
    attributes[JUDGMENT.findings] = judgment.findings.map((f) => f.kind);
    attributes[JUDGMENT.findingMessages] = judgment.findings.map((f) => f.message);
  }
  const events = judgment.badTasks.map((t) => ({
    timeUnixNano: t.endTime.toString(),
    name: JUDGMENT.taskEvent,
    attributes: keyValues(taskEventAttrs(t)),
  }));
  const badCounts = BAD_VERDICTS.filter((v) => (judgment.counts[v] ?? 0) > 0).map((v) => `${judgment.counts[v]} ${v}`);
  const span = {
    traceId: Buffer.from(judgment.traceId, 'hex'),
    spanId: Buffer.from(judgmentSpanId(judgment.shutdownId), 'hex'),
    parentSpanId: Buffer.from(judgment.spanId, 'hex'),
    name: JUDGMENT.spanName,
    kind: SPAN_KIND_INTERNAL,
    startTimeUnixNano: judgment.end.toString(),
    endTimeUnixNano: judgment.end.toString(),
    attributes: keyValues(attributes),
    events,
    droppedEventsCount: judgment.badCount - events.length,
    status: badCounts.length > 0 ? { code: STATUS_ERROR, message: badCounts.join(', ') } : {},
  };
  const request = {
    resourceSpans: [
      {
        resource: { attributes: keyValues(judgment.resource) },
        scopeSpans: [{ scope: { name: JUDGMENT.scope, version: SCOPE_VERSION }, spans: [span] }],
      },
    ],
  };
  return OtlpTypes.ExportTraceServiceRequest.encode(OtlpTypes.ExportTraceServiceRequest.fromObject(request)).finish();
}

function taskEventAttrs(t: SettledTask): Attrs {
  const attrs: Attrs = {
    [JUDGMENT.taskSpanId]: t.spanId,
    [JUDGMENT.taskTraceId]: t.traceId,
    [ATTR.taskName]: t.name,
    [JUDGMENT.verdict]: t.verdict,
  };
  if (t.swallowSite) attrs[ATTR.swallowSite] = t.swallowSite;
  if (t.findings.length > 0) attrs[JUDGMENT.taskFindings] = t.findings;
  return attrs;
}

function keyValues(attrs: Attrs): { key: string; value: AnyValue }[] {
  return Object.entries(attrs).map(([key, value]) => ({ key, value: anyValue(value) }));
}

function anyValue(value: AttrValue): AnyValue {
  if (value === null) return {};
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'bigint') return { intValue: value.toString() };
  if (typeof value === 'number') return Number.isInteger(value) ? { intValue: value } : { doubleValue: value };
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } };
  return { kvlistValue: { values: keyValues(value) } };
}
