import { test } from '@fast-check/vitest';
import { SpanKind } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recordOf } from '../../../collector/otlp/DecodedSpan.js';
import type { OtlpEncoding } from '../../../collector/otlp/decode.js';
import { decodeTraceRequest } from '../../../collector/otlp/decode.js';
import { hrTimeToNanos, nanosToHrTime, toSpanRecord } from '../../../collector/processor/toSpanRecord.js';
import { readableSpan } from '../../doubles/readableSpans.js';

const encoder = new TextEncoder();
const TRACE = '0af7651916cd43dd8448eb211c80319c';

/** The same span as a plain object of its public fields, not a decoded one: toSpanRecord must read those fields. */
const plain = (span: ReadableSpan): ReadableSpan => ({
  name: span.name,
  kind: span.kind,
  spanContext: () => span.spanContext(),
  parentSpanContext: span.parentSpanContext,
  startTime: span.startTime,
  endTime: span.endTime,
  status: span.status,
  attributes: span.attributes,
  links: span.links,
  events: span.events,
  duration: span.duration,
  ended: span.ended,
  resource: span.resource,
  instrumentationScope: span.instrumentationScope,
  droppedAttributesCount: span.droppedAttributesCount,
  droppedEventsCount: span.droppedEventsCount,
  droppedLinksCount: span.droppedLinksCount,
});

/** An OTLP/JSON request exercising what the serializers never write: unknown kinds, links, nulls, int64 beyond 2^53. */
function oddJsonRequest(): Uint8Array {
  const kv = (key: string, value: unknown) => ({ key, value });
  const span = (spanId: string, over: Record<string, unknown>) => ({
    traceId: TRACE,
    spanId,
    name: `span-${spanId}`,
    startTimeUnixNano: '1700000000123456789',
    endTimeUnixNano: '1700000000987654321',
    ...over,
  });
  return encoder.encode(
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [kv('service.name', { stringValue: 'svc' }), kv('process.pid', { intValue: '42' }), kv('gone', null)] },
          scopeSpans: [
            {
              scope: { name: 'canceltrace', version: '' },
              spans: [
                span('0000000000000001', {
                  kind: 0,
                  attributes: [
                    kv('task.kind', { stringValue: 'asyncio' }),
                    kv('big', { intValue: '12345678901234567890'.slice(0, 19) }),
                    kv('task.snapshot', { boolValue: true }),
                  ],
                  events: [{ name: 'task.cancel_requested', timeUnixNano: '1700000000500000001', attributes: [kv('cancel.count', { intValue: 1 })] }],
                }),
                span('0000000000000002', {
                  kind: 7,
                  parentSpanId: '0000000000000001',
                  status: { code: 2, message: 'boom' },
                  links: [
                    { traceId: TRACE.toUpperCase(), spanId: '00000000000000AB', attributes: [kv('l', { arrayValue: { values: [{ doubleValue: 1.5 }] } })] },
                  ],
                }),
              ],
            },
            {
              scope: { name: 'other', version: '2.0' },
              spans: [span('0000000000000003', { kind: 'SPAN_KIND_SERVER', attributes: [kv('shutdown.reason', { stringValue: 'SIGTERM' })] })],
            },
          ],
        },
        { scopeSpans: [{ spans: [span('0000000000000004', {})] }] },
      ],
    }),
  );
}

const spanArb = fc
  .record({
    spanId: fc.stringMatching(/^[0-9a-f]{15}[1-9a-f]$/),
    name: fc.string(),
    kind: fc.constantFrom(SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER),
    start: fc.bigInt({ min: 1n, max: 4_000_000_000_000_000_000n }),
    length: fc.bigInt({ min: 0n, max: 10n ** 12n }),
    attributes: fc.dictionary(fc.string({ minLength: 1 }), fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, min: -1e9, max: 1e9 }), fc.boolean()), {
      maxKeys: 5,
    }),
    events: fc.array(fc.record({ name: fc.string(), offset: fc.bigInt({ min: 0n, max: 10n ** 9n }) }), { maxLength: 4 }),
    resource: fc.dictionary(fc.constantFrom('service.name', 'service.instance.id', 'process.pid', 'x'), fc.oneof(fc.string(), fc.integer()), { maxKeys: 4 }),
  })
  .map((s) =>
    readableSpan({
      traceId: TRACE,
      spanId: s.spanId,
      name: s.name,
      kind: s.kind,
      start: s.start,
      end: s.start + s.length,
      attributes: s.attributes,
      events: s.events.map((e) => ({ name: e.name, time: s.start + e.offset })),
      resource: s.resource,
    }),
  );

describe('toSpanRecord', () => {
  describe('hrTimeToNanos', () => {
    it('when given [seconds, nanos], then the unix ns value is exact beyond 2^53', () => {
      expect(hrTimeToNanos([1_700_000_000, 123_456_789])).toBe(1_700_000_000_123_456_789n);
    });

    test.prop([fc.bigInt({ min: 0n, max: 4_000_000_000_000_000_000n })])('when converted to HrTime and back, then ns are unchanged', (ns) => {
      expect(hrTimeToNanos(nanosToHrTime(ns))).toBe(ns);
    });
  });

  describe('spans from decodeTraceRequest', () => {
    test.prop([fc.array(spanArb, { minLength: 1, maxLength: 4 }), fc.constantFrom<OtlpEncoding>('protobuf', 'json')], { numRuns: 40 })(
      'when a decoded span is converted, then the record equals the one read from its public fields alone',
      (spans, encoding) => {
        const serializer = encoding === 'protobuf' ? ProtobufTraceSerializer : JsonTraceSerializer;
        const decoded = decodeTraceRequest(serializer.serializeRequest(spans)!, encoding).spans;
        expect(decoded).toHaveLength(spans.length);
        for (const span of decoded) {
          expect(recordOf(span)).toBeDefined();
          expect(toSpanRecord(span)).toEqual(toSpanRecord(plain(span)));
        }
      },
    );

    it('when spans carry odd kinds, links, a status message, a parent, nulls and large ints, then both ways still agree', () => {
      const decoded = decodeTraceRequest(oddJsonRequest(), 'json').spans;
      expect(decoded).toHaveLength(4);
      const fast = decoded.map(toSpanRecord);
      expect(fast).toEqual(decoded.map((s) => toSpanRecord(plain(s))));
      expect(fast.map((r) => [r.kind, r.role, r.snapshot, r.service, r.instance])).toEqual([
        [1, 'task', true, 'svc', 'svc:42'],
        [1, 'other', false, 'svc', 'svc:42'],
        [2, 'shutdown', false, 'svc', 'svc:42'],
        [1, 'other', false, 'unknown_service', 'unknown_service'],
      ]);
      expect(fast[0].startTime).toBe(1700000000123456789n);
      expect(fast[0].events[0].time).toBe(1700000000500000001n);
      expect(fast[0].attributes.big).toBe(1234567890123456789n);
      expect(fast[0].resource).toEqual({ 'service.name': 'svc', 'process.pid': 42 });
      expect(fast[1]).toMatchObject({ parentSpanId: '0000000000000001', status: { code: 2, message: 'boom' } });
      expect(fast[1].links).toEqual([{ traceId: TRACE, spanId: '00000000000000ab', attributes: { l: [1.5] } }]);
      expect(fast[2].scope).toEqual({ name: 'other', version: '2.0' });
    });

    it('when spans share a resource, then their records share one resource object', () => {
      const resource = readableSpan({ traceId: TRACE, spanId: '0000000000000001', resource: { 'service.name': 'shared' } }).resource;
      // one Resource object, as an SDK provider gives every span: the serializer sends it once
      const spans = [1, 2, 3].map((n) => ({ ...readableSpan({ traceId: TRACE, spanId: `000000000000000${n}` }), resource }));
      const records = decodeTraceRequest(ProtobufTraceSerializer.serializeRequest(spans)!, 'protobuf').spans.map(toSpanRecord);
      expect(records[0].resource).toEqual({ 'service.name': 'shared' });
      expect(records[1].resource).toBe(records[0].resource);
      expect(records[2].resource).toBe(records[0].resource);
    });

    it('when a span was not decoded (an SDK span or a copy), then it carries no record', () => {
      const span = readableSpan({ traceId: TRACE, spanId: '0000000000000009' });
      expect(recordOf(span)).toBeUndefined();
      const decoded = decodeTraceRequest(ProtobufTraceSerializer.serializeRequest([span])!, 'protobuf').spans[0];
      expect(recordOf(plain(decoded))).toBeUndefined();
      // A decoded span's record is the one the decoder built: toSpanRecord hands it on, not a copy.
      expect(toSpanRecord(decoded)).toBe(recordOf(decoded));
    });
  });
});
