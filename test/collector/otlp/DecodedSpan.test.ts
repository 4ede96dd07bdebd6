import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { DecodedSpan, decodeTraceRequest, type OtlpEncoding, recordOf } from '../../../collector/otlp/decode.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const encoder = new TextEncoder();

/** An OTLP/JSON request with what only the ReadableSpan view carries: flags, trace states, dropped counts. */
function wireOnlyRequest(): Uint8Array {
  const kv = (key: string, value: unknown) => ({ key, value });
  return encoder.encode(
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [kv('service.name', { stringValue: 'svc' })] },
          schemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
          scopeSpans: [
            {
              scope: { name: 'canceltrace', version: '1.2' },
              schemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
              spans: [
                {
                  traceId: TRACE,
                  spanId: '00000000000000a1',
                  parentSpanId: '00000000000000a0',
                  traceState: 'vendor=value',
                  // sampled, and "parent is remote" known and true
                  flags: 0x301,
                  name: 'worker',
                  kind: 3,
                  startTimeUnixNano: '1700000000123456789',
                  endTimeUnixNano: '1700000001987654321',
                  attributes: [kv('task.kind', { stringValue: 'asyncio' })],
                  droppedAttributesCount: 2,
                  events: [
                    { name: 'task.cancel_requested', timeUnixNano: '1700000000500000001', attributes: [kv('cancel.count', { intValue: 1 })] },
                    { name: 'task.cleanup.start', timeUnixNano: '1700000000600000000', droppedAttributesCount: 4 },
                  ],
                  droppedEventsCount: 3,
                  links: [
                    {
                      traceId: TRACE,
                      spanId: '00000000000000b1',
                      traceState: 'other=1',
                      flags: 0x101,
                      attributes: [kv('l', { boolValue: true })],
                      droppedAttributesCount: 5,
                    },
                  ],
                  droppedLinksCount: 6,
                  status: { code: 2, message: 'boom' },
                },
              ],
            },
          ],
        },
      ],
    }),
  );
}

/** The view's fields in comparable form (spanContext is a function; trace states and the resource are classes). */
function viewOf(span: ReadableSpan) {
  const ctx = span.spanContext();
  return {
    name: span.name,
    kind: span.kind,
    context: { traceId: ctx.traceId, spanId: ctx.spanId, traceFlags: ctx.traceFlags, traceState: ctx.traceState?.serialize() },
    parent: span.parentSpanContext && { spanId: span.parentSpanContext.spanId, isRemote: span.parentSpanContext.isRemote },
    startTime: span.startTime,
    endTime: span.endTime,
    duration: span.duration,
    status: span.status,
    attributes: span.attributes,
    events: span.events,
    links: span.links.map((l) => ({ ...l, context: { ...l.context, traceState: l.context.traceState?.serialize() } })),
    dropped: [span.droppedAttributesCount, span.droppedEventsCount, span.droppedLinksCount],
    resource: span.resource.attributes,
    scope: span.instrumentationScope,
  };
}

describe('DecodedSpan', () => {
  it('when a span carries flags, trace states and dropped counts, then its ReadableSpan view shows each of them', () => {
    const [span] = decodeTraceRequest(wireOnlyRequest(), 'json').spans;
    expect(span).toBeInstanceOf(DecodedSpan);
    const view = viewOf(span);
    expect(view.context).toEqual({ traceId: TRACE, spanId: '00000000000000a1', traceFlags: 1, traceState: 'vendor=value' });
    expect(view.parent).toEqual({ spanId: '00000000000000a0', isRemote: true });
    expect(view.startTime).toEqual([1700000000, 123456789]);
    expect(view.duration).toEqual([1, 864197532]);
    expect(view.events.map((e) => e.droppedAttributesCount)).toEqual([0, 4]);
    expect(view.links).toEqual([
      {
        context: { traceId: TRACE, spanId: '00000000000000b1', traceFlags: 1, isRemote: false, traceState: 'other=1' },
        attributes: { l: true },
        droppedAttributesCount: 5,
      },
    ]);
    expect(view.dropped).toEqual([2, 3, 6]);
    expect(view.status).toEqual({ code: 2, message: 'boom' });
    expect(view.scope).toEqual({ name: 'canceltrace', version: '1.2', schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' });
  });

  it('when the view is read, then it is made from the record: the record is the one object the decoder built', () => {
    const [span] = decodeTraceRequest(wireOnlyRequest(), 'json').spans;
    const record = recordOf(span);
    expect(record).toBeDefined();
    expect(span.attributes).toBe(record?.attributes);
    expect(span.status).toBe(record?.status);
    expect(record?.events.map((e) => e.time)).toEqual([1700000000500000001n, 1700000000600000000n]);
  });

  it.each<OtlpEncoding>(['protobuf', 'json'])(
    'when decoded spans are serialized again by the official %s serializer, then they decode to the same records and views',
    (encoding) => {
      const first = decodeTraceRequest(wireOnlyRequest(), 'json').spans;
      const serializer = encoding === 'protobuf' ? ProtobufTraceSerializer : JsonTraceSerializer;
      const again = decodeTraceRequest(serializer.serializeRequest(first) as Uint8Array, encoding).spans;
      expect(again.map(recordOf)).toEqual(first.map(recordOf));
      expect(again.map(viewOf)).toEqual(first.map(viewOf));
    },
  );
});
