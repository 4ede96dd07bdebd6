import type { HrTime } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ATTR, bool, instanceOf, roleOf, serviceOf } from '../../contract/contract.js';
import type { Attrs, AttrValue, SpanRecord } from '../../contract/records.js';
import { decodedPartsOf } from '../otlp/decodedParts.js';

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

/** What a record takes from its resource. */
interface ResourceParts {
  resource: Attrs;
  service: string;
  instance: string;
}

/**
 * Resource parts by the resource's attributes object. Every span of an SDK provider, and every span
 * of one OTLP resourceSpans, shares one Resource, whose settled attributes object is memoized: one
 * copy then serves all those records (and lets the store recognise it cheaply). An object that is
 * not memoized (async attributes still pending) is a new one on each read, so it simply misses.
 */
const resourceParts = new WeakMap<object, ResourceParts>();

function resourcePartsOf(span: ReadableSpan): ResourceParts {
  const attributes = span.resource?.attributes as Record<string, unknown> | undefined;
  const hit = attributes ? resourceParts.get(attributes) : undefined;
  if (hit) return hit;
  const resource = toAttrs(attributes);
  const parts = { resource, service: serviceOf(resource), instance: instanceOf(resource) };
  if (attributes) resourceParts.set(attributes, parts);
  return parts;
}

/**
 * Turns a finished (or snapshot) ReadableSpan into the stored {@link SpanRecord}: exact ns times,
 * lower-case ids, the contract role, and the service/instance it belongs to.
 *
 * Records of one resource share its attributes object: records are never mutated once built.
 */
export function toSpanRecord(span: ReadableSpan): SpanRecord {
  const { resource, service, instance } = resourcePartsOf(span);
  const decoded = decodedPartsOf(span);
  if (decoded) {
    // Read by decodeTraceRequest in record form already: exact times, validated lower-case ids.
    const record: SpanRecord = {
      traceId: decoded.traceId,
      spanId: decoded.spanId,
      name: decoded.name,
      kind: decoded.kind,
      startTime: decoded.startTime,
      endTime: decoded.endTime,
      attributes: decoded.attributes,
      events: decoded.events,
      links: decoded.links,
      status: decoded.status,
      resource,
      scope: decoded.scope,
      role: roleOf(decoded.attributes, decoded.scope.name),
      snapshot: bool(decoded.attributes, ATTR.snapshot),
      service,
      instance,
    };
    if (decoded.parentSpanId !== undefined) record.parentSpanId = decoded.parentSpanId;
    return record;
  }
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
