import type { Attributes, HrTime, Link, SpanContext, SpanKind, SpanStatus } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import { TraceState } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { SpanRecord } from '../../contract/records.js';
import type { LinkParts, SpanGroup, SpanParts } from './buildSpan.js';
import { SPAN_FLAGS } from './schema.js';

const NANOS_PER_SECOND = 1_000_000_000n;

function hrTime(ns: bigint): HrTime {
  return [Number(ns / NANOS_PER_SECOND), Number(ns % NANOS_PER_SECOND)];
}

function traceState(value: string): TraceState | undefined {
  return value ? new TraceState(value) : undefined;
}

/** The isRemote bit of OTLP span/link flags, when the sender said. */
function remoteBit(flags: number): boolean | undefined {
  if ((flags & SPAN_FLAGS.contextHasIsRemoteMask) === 0) return undefined;
  return (flags & SPAN_FLAGS.contextIsRemoteMask) !== 0;
}

function linkOf(l: LinkParts): Link {
  const context: SpanContext = { traceId: l.traceId, spanId: l.spanId, traceFlags: l.flags & SPAN_FLAGS.traceFlagsMask };
  const remote = remoteBit(l.flags);
  if (remote !== undefined) context.isRemote = remote;
  const state = traceState(l.traceState);
  if (state) context.traceState = state;
  return { context, attributes: l.attributes as Attributes, droppedAttributesCount: l.droppedAttributesCount };
}

/**
 * A decoded span: its {@link SpanRecord}, built once by the decoder, seen as an OpenTelemetry
 * ReadableSpan. The record is what the pipeline keeps; the ReadableSpan fields are made from it (and
 * from the wire-only parts: flags, trace state, dropped counts) only when someone reads them, e.g. an
 * exporter forwarding the span. Attribute values stay exact (bigint for large int64, plain objects for
 * kvlists): wider than the API's Attributes type, as records.ts's AttrValue documents.
 */
export class DecodedSpan implements ReadableSpan {
  readonly ended = true;
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;

  constructor(
    /** the span's record; never mutated */
    readonly record: SpanRecord,
    private readonly parts: SpanParts,
    group: SpanGroup,
  ) {
    this.resource = group.resource;
    this.instrumentationScope = group.scope;
  }

  get name(): string {
    return this.record.name;
  }

  get kind(): SpanKind {
    // The record keeps the OTLP number; the API's SpanKind is one less (INTERNAL = 0 is OTLP 1).
    return (this.record.kind - 1) as SpanKind;
  }

  spanContext(): SpanContext {
    const context: SpanContext = { traceId: this.record.traceId, spanId: this.record.spanId, traceFlags: this.parts.flags & SPAN_FLAGS.traceFlagsMask };
    const state = traceState(this.parts.traceState);
    if (state) context.traceState = state;
    return context;
  }

  get parentSpanContext(): SpanContext | undefined {
    const spanId = this.record.parentSpanId;
    if (spanId === undefined) return undefined;
    const context: SpanContext = { traceId: this.record.traceId, spanId, traceFlags: this.parts.flags & SPAN_FLAGS.traceFlagsMask };
    const remote = remoteBit(this.parts.flags);
    if (remote !== undefined) context.isRemote = remote;
    return context;
  }

  get startTime(): HrTime {
    return hrTime(this.record.startTime);
  }

  get endTime(): HrTime {
    return hrTime(this.record.endTime);
  }

  get duration(): HrTime {
    return hrTime(this.record.endTime - this.record.startTime);
  }

  get status(): SpanStatus {
    return this.record.status;
  }

  get attributes(): Attributes {
    return this.record.attributes as Attributes;
  }

  get links(): Link[] {
    return this.parts.links.map(linkOf);
  }

  get events(): TimedEvent[] {
    const drops = this.parts.eventDrops;
    return this.record.events.map((e, i) => ({
      name: e.name,
      time: hrTime(e.time),
      attributes: e.attributes as Attributes,
      droppedAttributesCount: drops?.[i] ?? 0,
    }));
  }

  get droppedAttributesCount(): number {
    return this.parts.droppedAttributesCount;
  }

  get droppedEventsCount(): number {
    return this.parts.droppedEventsCount;
  }

  get droppedLinksCount(): number {
    return this.parts.droppedLinksCount;
  }
}

/** The record a decoded span carries, or undefined for a span that was not decoded (an SDK span, a copy). */
export function recordOf(span: ReadableSpan): SpanRecord | undefined {
  return span instanceof DecodedSpan ? span.record : undefined;
}
