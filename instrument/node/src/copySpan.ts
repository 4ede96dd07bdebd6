import type { Attributes, HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** What a copy may change: its end and extra attributes. */
export interface SpanCopyChanges {
  /** end time of the copy (a snapshot ends at the snapshot time) */
  endTime?: HrTime;
  /** attributes added over the span's own */
  attributes?: Attributes;
}

/**
 * A fresh, frozen-in-time {@link ReadableSpan} built from a span, live or ended. Exporters only
 * read spans, so a plain object is enough; the live span is never handed to an exporter while
 * it is open, because it may change (or end) while the export reads it.
 */
export function copySpan(span: ReadableSpan, changes: SpanCopyChanges = {}): ReadableSpan {
  const spanContext = { ...span.spanContext() };
  const startTime = span.startTime;
  const endTime = changes.endTime ?? span.endTime;
  const attributes = changes.attributes ? { ...span.attributes, ...changes.attributes } : { ...span.attributes };
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => spanContext,
    parentSpanContext: span.parentSpanContext,
    startTime,
    endTime,
    status: { ...span.status },
    attributes,
    links: span.links.slice(),
    events: span.events.slice(),
    duration: durationOf(startTime, endTime),
    ended: true,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

/**
 * An ended span seen with another resource. Ended spans no longer change, so reading through
 * to the original is safe, and one small fixed-shape object per span is far cheaper than a copy
 * on the per-span export path.
 */
export class SpanWithResource implements ReadableSpan {
  /** Wraps `span`, which must have ended. */
  constructor(
    private readonly span: ReadableSpan,
    readonly resource: Resource,
  ) {}
  get name() {
    return this.span.name;
  }
  get kind() {
    return this.span.kind;
  }
  spanContext = (): ReturnType<ReadableSpan['spanContext']> => this.span.spanContext();
  get parentSpanContext() {
    return this.span.parentSpanContext;
  }
  get startTime() {
    return this.span.startTime;
  }
  get endTime() {
    return this.span.endTime;
  }
  get status() {
    return this.span.status;
  }
  get attributes() {
    return this.span.attributes;
  }
  get links() {
    return this.span.links;
  }
  get events() {
    return this.span.events;
  }
  get duration() {
    return this.span.duration;
  }
  get ended() {
    return this.span.ended;
  }
  get instrumentationScope() {
    return this.span.instrumentationScope;
  }
  get droppedAttributesCount() {
    return this.span.droppedAttributesCount;
  }
  get droppedEventsCount() {
    return this.span.droppedEventsCount;
  }
  get droppedLinksCount() {
    return this.span.droppedLinksCount;
  }
}

const NANOS_PER_SECOND = 1_000_000_000;

/** end − start as an HrTime, never negative. */
function durationOf(start: HrTime, end: HrTime): HrTime {
  let seconds = end[0] - start[0];
  let nanos = end[1] - start[1];
  if (nanos < 0) {
    seconds -= 1;
    nanos += NANOS_PER_SECOND;
  }
  return seconds < 0 ? [0, 0] : [seconds, nanos];
}
