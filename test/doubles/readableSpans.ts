import type { Attributes, HrTime, Link, SpanStatus } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';

/** Unix ns → HrTime, exactly. */
export function hr(ns: bigint): HrTime {
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

/** HrTime → unix ns, exactly. */
export function ns(time: HrTime): bigint {
  return BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);
}

/** What a test says about a span to be serialized; everything but the ids has a default. */
export interface ReadableSpanSpec {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name?: string;
  kind?: SpanKind;
  start?: bigint;
  end?: bigint;
  attributes?: Attributes;
  events?: { name: string; time: bigint; attributes?: Attributes }[];
  links?: Link[];
  status?: SpanStatus;
  resource?: Attributes;
  scope?: { name: string; version?: string };
}

/**
 * A finished span as the SDK hands it to an exporter, built from a spec: the input of the
 * official OTLP serializers in tests.
 */
export function readableSpan(spec: ReadableSpanSpec): ReadableSpan {
  const start = spec.start ?? 1_700_000_000_000_000_000n;
  const end = spec.end ?? start + 1_000_000n;
  const context = { traceId: spec.traceId, spanId: spec.spanId, traceFlags: 1 };
  const events: TimedEvent[] = (spec.events ?? []).map((e) => ({ name: e.name, time: hr(e.time), attributes: e.attributes ?? {} }));
  return {
    name: spec.name ?? 'span',
    kind: spec.kind ?? SpanKind.INTERNAL,
    spanContext: () => context,
    parentSpanContext: spec.parentSpanId ? { traceId: spec.traceId, spanId: spec.parentSpanId, traceFlags: 1 } : undefined,
    startTime: hr(start),
    endTime: hr(end),
    duration: hr(end - start),
    status: spec.status ?? { code: SpanStatusCode.UNSET },
    attributes: spec.attributes ?? {},
    links: spec.links ?? [],
    events,
    ended: true,
    resource: resourceFromAttributes(spec.resource ?? { 'service.name': 'test-service' }),
    instrumentationScope: spec.scope ?? { name: 'canceltrace', version: '1.0.0' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}
