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
import { type Attrs, type AttrValue, BAD_VERDICTS, type CodeSite, type JudgedTask, type ShutdownReport, VERDICTS } from '../../contract/records.js';
import { OtlpTypes } from '../otlp/schema.js';

/** At most this many task events on one judgment span; the rest are counted in `droppedEventsCount`. */
export const MAX_JUDGMENT_EVENTS = 1_000;

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

/** The judgment span of `report` as one ExportTraceServiceRequest, encoded. */
export function judgmentRequest(report: ShutdownReport, settledBy: SettledBy): Uint8Array {
  const { shutdown } = report;
  const bad = report.tasks.filter((t) => BAD_VERDICTS.includes(t.verdict));
  const attributes: Attrs = {
    [JUDGMENT.shutdownId]: shutdown.id,
    [JUDGMENT.outcome]: report.outcome,
    [JUDGMENT.settledBy]: settledBy,
    [JUDGMENT.tasksCount]: report.tasks.length,
  };
  for (const verdict of VERDICTS) attributes[verdictCountAttr(verdict)] = report.counts[verdict] ?? 0;
  if (report.findings.length > 0) {
    attributes[JUDGMENT.findings] = report.findings.map((f) => f.kind);
    attributes[JUDGMENT.findingMessages] = report.findings.map((f) => f.message);
  }
  const events = bad.slice(0, MAX_JUDGMENT_EVENTS).map((t) => ({
    timeUnixNano: t.task.endTime.toString(),
    name: JUDGMENT.taskEvent,
    attributes: keyValues(taskEventAttrs(t)),
  }));
  const badCounts = BAD_VERDICTS.filter((v) => (report.counts[v] ?? 0) > 0).map((v) => `${report.counts[v]} ${v}`);
  const span = {
    traceId: Buffer.from(shutdown.span.traceId, 'hex'),
    spanId: Buffer.from(judgmentSpanId(shutdown.id), 'hex'),
    parentSpanId: Buffer.from(shutdown.span.spanId, 'hex'),
    name: JUDGMENT.spanName,
    kind: SPAN_KIND_INTERNAL,
    startTimeUnixNano: shutdown.end.toString(),
    endTimeUnixNano: shutdown.end.toString(),
    attributes: keyValues(attributes),
    events,
    droppedEventsCount: bad.length - events.length,
    status: badCounts.length > 0 ? { code: STATUS_ERROR, message: badCounts.join(', ') } : {},
  };
  const request = {
    resourceSpans: [
      {
        resource: { attributes: keyValues(shutdown.span.resource) },
        scopeSpans: [{ scope: { name: JUDGMENT.scope, version: SCOPE_VERSION }, spans: [span] }],
      },
    ],
  };
  return OtlpTypes.ExportTraceServiceRequest.encode(OtlpTypes.ExportTraceServiceRequest.fromObject(request)).finish();
}

function taskEventAttrs(t: JudgedTask): Attrs {
  const attrs: Attrs = {
    [JUDGMENT.taskSpanId]: t.task.spanId,
    [JUDGMENT.taskTraceId]: t.task.traceId,
    [ATTR.taskName]: t.task.name,
    [JUDGMENT.verdict]: t.verdict,
  };
  const site = t.swallowSite ? siteText(t.swallowSite) : undefined;
  if (site) attrs[ATTR.swallowSite] = site;
  if (t.findings.length > 0) attrs[JUDGMENT.taskFindings] = t.findings.map((f) => f.kind);
  return attrs;
}

/** `path:lineno in function`, as `task.swallow_site` is written by the recorders. */
function siteText(site: CodeSite): string | undefined {
  if (!site.filepath) return site.function;
  const at = site.lineno !== undefined ? `${site.filepath}:${site.lineno}` : site.filepath;
  return site.function ? `${at} in ${site.function}` : at;
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
