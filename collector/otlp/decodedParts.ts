import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { SpanRecord } from '../../contract/records.js';

/**
 * The fields of a {@link SpanRecord} that a decoded span already knows exactly: everything but what
 * depends on its resource and contract role. `kind` is the OTLP number as toSpanRecord would give it.
 */
export type DecodedParts = Pick<
  SpanRecord,
  'traceId' | 'spanId' | 'name' | 'kind' | 'startTime' | 'endTime' | 'attributes' | 'events' | 'links' | 'status' | 'scope'
> &
  Pick<Partial<SpanRecord>, 'parentSpanId'>;

/** Where decodeTraceRequest keeps the parts on the ReadableSpans it returns. */
const PARTS: unique symbol = Symbol('canceltrace.decodedParts');

type WithParts = ReadableSpan & { [PARTS]?: DecodedParts };

/**
 * The record parts that decodeTraceRequest read for `span`, or undefined for a span that did not
 * come from it (an SDK span). They spare the processor a round trip through HrTime and a copy of
 * every attribute. Spans are treated as immutable once decoded, as the SDK treats ended spans.
 */
export function decodedPartsOf(span: ReadableSpan): DecodedParts | undefined {
  return (span as WithParts)[PARTS];
}

/** Attaches `parts` to a decoded span (not enumerable: the span looks as before to everyone else). */
export function attachDecodedParts(span: ReadableSpan, parts: DecodedParts): ReadableSpan {
  Object.defineProperty(span, PARTS, { value: parts, enumerable: false });
  return span;
}
