import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fc, test } from '@fast-check/vitest';
import type { Attributes } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import type { OtlpEncoding } from '../../../collector/otlp/decode.js';
import { decodeTraceRequest, OtlpDecodeError } from '../../../collector/otlp/decode.js';
import { OtlpTypes } from '../../../collector/otlp/schema.js';
import { hr, ns, readableSpan } from '../../doubles/readableSpans.js';

const SPEC_EXAMPLE = fileURLToPath(new URL('../../fixtures/otlp/trace.json', import.meta.url));
const encoder = new TextEncoder();

function json(value: unknown): Uint8Array {
  return encoder.encode(typeof value === 'string' ? value : JSON.stringify(value));
}

/** A JSON request with one resource, one scope and the given spans. */
function jsonRequest(spans: unknown[]): Uint8Array {
  return json({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 's' }, spans }] }] });
}

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';

function goodJsonSpan(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { traceId: TRACE, spanId: SPAN, name: 'ok', startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000001000000000', ...over };
}

function serialize(spans: ReadableSpan[], encoding: OtlpEncoding): Uint8Array {
  const bytes = (encoding === 'protobuf' ? ProtobufTraceSerializer : JsonTraceSerializer).serializeRequest(spans);
  if (!bytes) throw new Error('serializer returned nothing');
  return bytes;
}

describe('decodeTraceRequest', () => {
  describe('the OTLP specification example', () => {
    it('when the example trace.json is decoded, then its one span is taken whole with exact times and lower-case ids', () => {
      const result = decodeTraceRequest(readFileSync(SPEC_EXAMPLE), 'json');
      expect(result.rejected).toBe(0);
      expect(result.errors).toEqual([]);
      expect(result.spans).toHaveLength(1);
      const span = result.spans[0];
      expect(span.spanContext().traceId).toBe('5b8efff798038103d269b633813fc60c');
      expect(span.spanContext().spanId).toBe('eee19b7ec3c1b174');
      expect(span.parentSpanContext?.spanId).toBe('eee19b7ec3c1b173');
      expect(span.name).toBe("I'm a server span");
      expect(ns(span.startTime)).toBe(1544712660000000000n);
      expect(ns(span.endTime)).toBe(1544712661000000000n);
      expect(span.startTime).toEqual([1544712660, 0]);
      expect(span.duration).toEqual([1, 0]);
      expect(span.kind).toBe(SpanKind.SERVER);
      expect(span.attributes).toEqual({ 'my.span.attr': 'some value' });
      expect(span.resource.attributes).toEqual({ 'service.name': 'my.service' });
      expect(span.instrumentationScope).toEqual({ name: 'my.library', version: '1.0.0' });
      expect(span.ended).toBe(true);
    });
  });

  describe('round trip through the official serializers', () => {
    const hex = (bytes: number) =>
      fc
        .uint8Array({ minLength: bytes, maxLength: bytes })
        .filter((b) => b.some((x) => x !== 0))
        .map((b) => Buffer.from(b).toString('hex'));
    const scalar = fc.oneof(
      fc.string(),
      fc.boolean(),
      fc.maxSafeInteger(),
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
    );
    const value = fc.oneof(scalar, fc.array(fc.string(), { maxLength: 4 }), fc.array(fc.maxSafeInteger(), { maxLength: 4 }));
    const attributes = fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), value, { maxKeys: 6 }) as fc.Arbitrary<Attributes>;
    const time = fc.bigInt({ min: 1n, max: 2n ** 62n });
    const spanArb = fc
      .record({
        traceId: hex(16),
        spanId: hex(8),
        parentSpanId: fc.option(hex(8), { nil: undefined }),
        name: fc.string({ maxLength: 30 }),
        kind: fc.constantFrom(SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER),
        start: time,
        length: fc.bigInt({ min: 0n, max: 10n ** 12n }),
        attributes,
        events: fc.array(fc.record({ name: fc.string({ maxLength: 20 }), offset: fc.bigInt({ min: 0n, max: 10n ** 9n }), attributes }), { maxLength: 3 }),
        status: fc.constantFrom({ code: SpanStatusCode.UNSET }, { code: SpanStatusCode.OK }, { code: SpanStatusCode.ERROR, message: 'boom' }),
      })
      .map((s) =>
        readableSpan({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId,
          name: s.name,
          kind: s.kind,
          start: s.start,
          end: s.start + s.length,
          attributes: s.attributes,
          events: s.events.map((e) => ({ name: e.name, time: s.start + e.offset, attributes: e.attributes })),
          status: s.status,
        }),
      );

    test.prop([fc.array(spanArb, { minLength: 1, maxLength: 5 }), fc.constantFrom<OtlpEncoding>('protobuf', 'json')], { numRuns: 60 })(
      'when spans are encoded by the official serializers, then they decode back to the same spans',
      (spans, encoding) => {
        const result = decodeTraceRequest(serialize(spans, encoding), encoding);
        expect(result.rejected).toBe(0);
        expect(result.spans).toHaveLength(spans.length);
        // The serializer groups spans by resource and scope; every span here shares both, so order is kept.
        result.spans.forEach((got, i) => {
          const want = spans[i];
          expect(got.name).toBe(want.name);
          expect(got.spanContext().traceId).toBe(want.spanContext().traceId);
          expect(got.spanContext().spanId).toBe(want.spanContext().spanId);
          expect(got.spanContext().traceFlags).toBe(want.spanContext().traceFlags);
          expect(got.parentSpanContext?.spanId).toBe(want.parentSpanContext?.spanId);
          expect(got.kind).toBe(want.kind);
          expect(ns(got.startTime)).toBe(ns(want.startTime));
          expect(ns(got.endTime)).toBe(ns(want.endTime));
          expect(ns(got.duration)).toBe(ns(want.endTime) - ns(want.startTime));
          expect(got.attributes).toEqual(want.attributes);
          expect(got.status).toEqual(want.status);
          expect(got.events.map((e) => ({ name: e.name, time: ns(e.time), attributes: e.attributes }))).toEqual(
            want.events.map((e) => ({ name: e.name, time: ns(e.time), attributes: e.attributes })),
          );
          expect(got.resource.attributes).toEqual(want.resource.attributes);
          expect(got.instrumentationScope).toEqual(want.instrumentationScope);
        });
      },
    );
  });

  describe('nanosecond precision', () => {
    const exact = 1700000000123456789n;

    it.each<OtlpEncoding>(['protobuf', 'json'])('when a %s request carries 1700000000123456789, then every digit is kept', (encoding) => {
      const span = readableSpan({ traceId: TRACE, spanId: SPAN, start: exact, end: exact + 1n, events: [{ name: 'e', time: exact }] });
      const [got] = decodeTraceRequest(serialize([span], encoding), encoding).spans;
      expect(got.startTime).toEqual([1700000000, 123456789]);
      expect(ns(got.endTime)).toBe(exact + 1n);
      expect(ns(got.events[0].time)).toBe(exact);
      expect(got.duration).toEqual([0, 1]);
    });

    it('when JSON writes the timestamps as bare numbers beyond 2^53, then they are read exactly, not rounded', () => {
      const text = `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${TRACE}","spanId":"${SPAN}","name":"n",
        "startTimeUnixNano":1700000000123456789,"endTimeUnixNano":1700000000123456999,
        "events":[{"name":"e","timeUnixNano":1700000000123456790}],
        "attributes":[{"key":"big","value":{"intValue":9007199254740993}},{"key":"str","value":{"stringValue":"12345678901234567890"}}]}]}]}]}`;
      const [got] = decodeTraceRequest(json(text), 'json').spans;
      expect(ns(got.startTime)).toBe(exact);
      expect(ns(got.endTime)).toBe(1700000000123456999n);
      expect(ns(got.events[0].time)).toBe(1700000000123456790n);
      expect(got.attributes.big).toBe(9007199254740993n);
      expect(got.attributes.str).toBe('12345678901234567890');
    });

    it('when a protobuf int attribute is beyond 2^53, then it arrives as an exact bigint', () => {
      const body = OtlpTypes.ExportTraceServiceRequest.encode({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: Buffer.from(TRACE, 'hex'),
                    spanId: Buffer.from(SPAN, 'hex'),
                    startTimeUnixNano: '1700000000123456789',
                    endTimeUnixNano: '1700000000123456789',
                    attributes: [
                      { key: 'big', value: { intValue: '-9223372036854775808' } },
                      { key: 'small', value: { intValue: 42 } },
                      {
                        key: 'list',
                        value: { kvlistValue: { values: [{ key: 'a', value: { arrayValue: { values: [{ boolValue: false }, { doubleValue: 1.5 }] } } }] } },
                      },
                      { key: 'raw', value: { bytesValue: Buffer.from([1, 2, 255]) } },
                    ],
                  },
                ],
              },
            ],
          },
        ],
      }).finish();
      const [got] = decodeTraceRequest(body, 'protobuf').spans;
      expect(ns(got.startTime)).toBe(exact);
      expect(got.attributes.big).toBe(-9223372036854775808n);
      expect(got.attributes.small).toBe(42);
      expect(got.attributes.list).toEqual({ a: [false, 1.5] });
      expect(got.attributes.raw).toBe(Buffer.from([1, 2, 255]).toString('base64'));
    });
  });

  describe('JSON leniency', () => {
    it('when keys are snake_case and enums are names, then the span is read the same', () => {
      const body = json({
        resource_spans: [
          {
            scope_spans: [
              {
                scope: { name: 'lib', version: '2' },
                spans: [
                  {
                    trace_id: TRACE.toUpperCase(),
                    span_id: SPAN,
                    parent_span_id: '',
                    name: 'snake',
                    kind: 'SPAN_KIND_CLIENT',
                    start_time_unix_nano: '1700000000000000000',
                    end_time_unix_nano: 1700000000000000500,
                    status: { code: 'STATUS_CODE_ERROR', message: 'bad' },
                    unknown_field: { whatever: true },
                  },
                ],
              },
            ],
          },
        ],
      });
      const result = decodeTraceRequest(body, 'json');
      expect(result.rejected).toBe(0);
      const [got] = result.spans;
      expect(got.spanContext().traceId).toBe(TRACE);
      expect(got.parentSpanContext).toBeUndefined();
      expect(got.kind).toBe(SpanKind.CLIENT);
      expect(got.status).toEqual({ code: SpanStatusCode.ERROR, message: 'bad' });
      expect(ns(got.endTime)).toBe(1700000000000000500n);
      expect(got.instrumentationScope).toEqual({ name: 'lib', version: '2' });
    });

    it('when a string literal contains something that looks like a big number, then it is left as written', () => {
      const name = 'id 12345678901234567890 \\" still 98765432109876543210';
      const body = jsonRequest([goodJsonSpan({ name: JSON.parse(`"${name}"`) })]);
      const [got] = decodeTraceRequest(body, 'json').spans;
      expect(got.name).toBe('id 12345678901234567890 " still 98765432109876543210');
    });
  });

  describe('rejected spans', () => {
    it('when some spans are bad, then the good ones are kept and each bad one is counted with a reason', () => {
      const body = jsonRequest([
        goodJsonSpan(),
        goodJsonSpan({ name: 'short id', traceId: 'abcd' }),
        goodJsonSpan({ name: 'zero span', spanId: '0000000000000000' }),
        goodJsonSpan({ name: 'backwards', endTimeUnixNano: '1699999999000000000' }),
        goodJsonSpan({ name: 'no start', startTimeUnixNano: undefined }),
        goodJsonSpan({ name: 'no trace', traceId: undefined }),
        goodJsonSpan({ name: 'bad attr', attributes: [{ key: 'x', value: { intValue: 'nope' } }] }),
      ]);
      const result = decodeTraceRequest(body, 'json');
      expect(result.spans.map((s) => s.name)).toEqual(['ok']);
      expect(result.rejected).toBe(6);
      expect(result.errors).toHaveLength(6);
      expect(result.errors[0]).toMatch(/spans\[1\] "short id": traceId must be 16 bytes/);
      expect(result.errors[1]).toMatch(/"zero span": spanId is all zeros/);
      expect(result.errors[2]).toMatch(/"backwards": ends before it starts/);
      expect(result.errors[3]).toMatch(/"no start": startTimeUnixNano is missing/);
      expect(result.errors[4]).toMatch(/"no trace": traceId must be 16 bytes, got 0/);
      expect(result.errors[5]).toMatch(/"bad attr": intValue must be a 64-bit integer/);
    });

    it('when a protobuf span has an 8-byte trace id, then it alone is rejected', () => {
      const good = { traceId: Buffer.from(TRACE, 'hex'), spanId: Buffer.from(SPAN, 'hex'), name: 'good', startTimeUnixNano: 5, endTimeUnixNano: 6 };
      const body = OtlpTypes.ExportTraceServiceRequest.encode({
        resourceSpans: [{ scopeSpans: [{ spans: [good, { ...good, name: 'bad', traceId: Buffer.from(SPAN, 'hex') }] }] }],
      }).finish();
      const result = decodeTraceRequest(body, 'protobuf');
      expect(result.spans.map((s) => s.name)).toEqual(['good']);
      expect(result.rejected).toBe(1);
      expect(result.errors[0]).toMatch(/"bad": traceId must be 16 bytes, got 8/);
    });
  });

  describe('undecodable bodies', () => {
    it.each([
      ['json', '{"resourceSpans": [', /not valid JSON/],
      ['json', '', /empty/],
      ['json', '[1,2]', /must be a JSON object/],
      ['json', '{"resourceSpans": {"a": 1}}', /resourceSpans must be an array/],
      ['protobuf', '\x0a\xff\xff\xff\x0f', /not a valid protobuf/],
    ] as const)('when a %s body is %j, then OtlpDecodeError is thrown', (encoding, text, message) => {
      const body = encoding === 'json' ? json(text) : Uint8Array.from(text, (c) => c.charCodeAt(0));
      expect(() => decodeTraceRequest(body, encoding)).toThrow(OtlpDecodeError);
      expect(() => decodeTraceRequest(body, encoding)).toThrow(message);
    });

    it('when a protobuf body is empty, then it is a valid request with no spans', () => {
      expect(decodeTraceRequest(new Uint8Array(0), 'protobuf')).toEqual({ spans: [], rejected: 0, errors: [] });
    });
  });

  it('when a span starts and ends on either side of a second boundary, then hr() of the test doubles agrees with the decoder', () => {
    const span = readableSpan({ traceId: TRACE, spanId: SPAN, start: 999_999_999n, end: 1_000_000_001n });
    const [got] = decodeTraceRequest(serialize([span], 'protobuf'), 'protobuf').spans;
    expect(got.startTime).toEqual(hr(999_999_999n));
    expect(got.duration).toEqual([0, 2]);
  });
});
