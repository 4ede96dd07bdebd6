import type { HrTime } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ATTR, bool, instanceOf, roleOf, serviceOf } from '../contract.js';
import type { AttrValue, Attrs, SpanRecord } from '../records.js';

const NS_PER_SECOND = 1_000_000_000n;

/** HrTime `[seconds, nanoseconds]` to unix ns, exactly. */
export function hrTimeToNanos(time: HrTime): bigint {
  return BigInt(Math.trunc(time[0])) * NS_PER_SECOND + BigInt(Math.trunc(time[1]));
}

/** Unix ns to HrTime, exactly. */
export function nanosToHrTime(ns: bigint): HrTime {
  return [Number(ns / NS_PER_SECOND), Number(ns % NS_PER_SECOND)];
}

function attrValue(value: unknown): AttrValue {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value;
  if (Array.isArray(value)) return value.map(attrValue);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'object') {
    const out: { [key: string]: AttrValue } = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = attrValue(v);
    return out;
  }
  return String(value);
}

/** Copies OpenTelemetry attributes into plain record attributes (undefined values dropped). */
export function toAttrs(attributes: Record<string, unknown> | undefined): Attrs {
  const out: Attrs = {};
  if (!attributes) return out;
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined) out[key] = attrValue(value);
  }
  return out;
}

/**
 * Turns a finished (or snapshot) ReadableSpan into the stored {@link SpanRecord}: exact ns times,
 * lower-case ids, the contract role, and the service/instance it belongs to.
 */
export function toSpanRecord(span: ReadableSpan): SpanRecord {
  const ctx = span.spanContext();
  const attributes = toAttrs(span.attributes as Record<string, unknown>);
  const resource = toAttrs(span.resource?.attributes as Record<string, unknown> | undefined);
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
    service: serviceOf(resource),
    instance: instanceOf(resource),
  };
  const parent = span.parentSpanContext?.spanId;
  if (parent) record.parentSpanId = parent.toLowerCase();
  return record;
}
