import type { HrTime } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ATTR, bool, roleOf } from '../../contract/contract.js';
import type { SpanRecord } from '../../contract/records.js';
import { recordOf } from '../otlp/DecodedSpan.js';
import { resourcePartsOf, toAttrs } from '../otlp/resourceParts.js';

const NS_PER_SECOND = 1_000_000_000n;

/** HrTime `[seconds, nanoseconds]` to unix ns, exactly. */
export function hrTimeToNanos(time: HrTime): bigint {
  return BigInt(Math.trunc(time[0])) * NS_PER_SECOND + BigInt(Math.trunc(time[1]));
}

/** Unix ns to HrTime, exactly. */
export function nanosToHrTime(ns: bigint): HrTime {
  return [Number(ns / NS_PER_SECOND), Number(ns % NS_PER_SECOND)];
}

/**
 * Turns a finished (or snapshot) ReadableSpan into the stored {@link SpanRecord}: exact ns times,
 * lower-case ids, the contract role, and the service/instance it belongs to.
 *
 * Records of one resource share its attributes object: records are never mutated once built.
 */
export function toSpanRecord(span: ReadableSpan): SpanRecord {
  // Decoded from OTLP: the decoder built the record already.
  const decoded = recordOf(span);
  if (decoded) return decoded;
  const { resource, service, instance } = resourcePartsOf(span.resource);
  const ctx = span.spanContext();
  const attributes = toAttrs(span.attributes as Record<string, unknown>);
  const scope = span.instrumentationScope ?? { name: '' };
  const record: SpanRecord = {
    traceId: ctx.traceId.toLowerCase(),
    spanId: ctx.spanId.toLowerCase(),
    name: span.name,
    // SpanRecord keeps the OTLP number; the API's SpanKind is one less (INTERNAL = 0 is OTLP 1).
    kind: span.kind === undefined ? 0 : Number(span.kind) + 1,
    startTime: hrTimeToNanos(span.startTime),
    endTime: hrTimeToNanos(span.endTime),
    attributes,
    events: (span.events ?? []).map((e) => ({ name: e.name, time: hrTimeToNanos(e.time), attributes: toAttrs(e.attributes as Record<string, unknown>) })),
    links: (span.links ?? []).map((l) => ({
      traceId: l.context.traceId.toLowerCase(),
      spanId: l.context.spanId.toLowerCase(),
      attributes: toAttrs(l.attributes as Record<string, unknown>),
    })),
    status: span.status?.message ? { code: span.status.code, message: span.status.message } : { code: span.status?.code ?? 0 },
    resource,
    scope: scope.version ? { name: scope.name, version: scope.version } : { name: scope.name },
    role: roleOf(attributes, scope.name),
    snapshot: bool(attributes, ATTR.snapshot),
    service,
    instance,
  };
  const parent = span.parentSpanContext?.spanId;
  if (parent) record.parentSpanId = parent.toLowerCase();
  return record;
}
