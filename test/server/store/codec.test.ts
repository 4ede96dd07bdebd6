import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Attrs, AttrValue, SpanRecord } from '../../../contract/records.js';
import type { SpanRowColumns } from '../../../server/store/codec.js';
import {
  decodeResource,
  decodeSpanRecord,
  decodeSpanRow,
  encodeResource,
  encodeSpanBody,
  encodeSpanRecord,
  SpanCodecError,
} from '../../../server/store/codec.js';
import { otherSpan, taskSpan } from './spanBuilder.js';

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

/** Attribute values as OTLP can carry them, including the ones JSON cannot write as they are. */
const attrValue: fc.Arbitrary<AttrValue> = fc.letrec<{ value: AttrValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string(),
    fc.string().map((s) => `\u0001${s}`),
    fc.constantFrom('\u0001n12', '\u0001s', '\u0001d-0', '\u0001'),
    fc.boolean(),
    fc.constant(null),
    fc.double(),
    fc.constantFrom(NaN, Infinity, -Infinity, -0),
    fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
  ),
})).value;

const attrs: fc.Arbitrary<Attrs> = fc.dictionary(fc.string(), attrValue, { maxKeys: 6 });

describe('codec', () => {
  describe('decodeSpanRecord(encodeSpanRecord(span))', () => {
    test.prop([attrs, attrs, int64, int64, int64])(
      'when a span carries any attribute values and 64-bit times, then it decodes to an equal span',
      (attributes, eventAttributes, start, end, eventTime) => {
        const span = {
          ...taskSpan({ start, end, attributes, snapshot: false }),
          events: [{ name: 'e', time: eventTime, attributes: eventAttributes }],
          links: [{ traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), attributes }],
          parentSpanId: 'ef'.repeat(8),
        };
        expect(decodeSpanRecord(encodeSpanRecord(span))).toEqual(span);
      },
    );

    it('when a value is a bigint, -0, NaN or a tag-like string, then it comes back with the same type and value', () => {
      const attributes: Attrs = {
        big: 1700000000123456789n,
        negative: -(2n ** 80n),
        negZero: -0,
        nan: NaN,
        inf: -Infinity,
        tagLike: '\u0001n42',
        nested: { list: [12345678901234567890n, '\u0001s'] },
      };
      const back = decodeSpanRecord(encodeSpanRecord(otherSpan({ attributes }))).attributes;
      expect(back.big).toBe(1700000000123456789n);
      expect(back.negative).toBe(-(2n ** 80n));
      expect(Object.is(back.negZero, -0)).toBe(true);
      expect(back.nan).toBeNaN();
      expect(back.inf).toBe(-Infinity);
      expect(back.tagLike).toBe('\u0001n42');
      expect(back.nested).toEqual({ list: [12345678901234567890n, '\u0001s'] });
    });

    it('when an attribute is named __proto__, then it stays an ordinary key', () => {
      const attributes = JSON.parse('{"__proto__": "x"}') as Attrs;
      attributes.other = 7n;
      const back = decodeSpanRecord(encodeSpanRecord(otherSpan({ attributes }))).attributes;
      expect(Object.keys(back).sort()).toEqual(['__proto__', 'other']);
      expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    });
  });

  describe('encodeSpanRecord', () => {
    const bad: [string, () => unknown][] = [
      ['a trace id that is not 32 lower-case hex digits', () => ({ ...otherSpan(), traceId: 'ABC' })],
      ['a span id that is not 16 hex digits', () => ({ ...otherSpan(), spanId: '12' })],
      ['a time that is a number, not a bigint', () => ({ ...otherSpan(), endTime: 5 })],
      ['a time beyond 64 bits', () => ({ ...otherSpan(), startTime: 2n ** 63n })],
      ['an attribute that is a function', () => otherSpan({ attributes: { f: (() => 1) as unknown as AttrValue } })],
      ['an attribute that is undefined', () => otherSpan({ attributes: { u: undefined as unknown as AttrValue } })],
      ['an unknown role', () => ({ ...otherSpan(), role: 'nope' })],
    ];
    for (const [what, make] of bad) {
      it(`when the span has ${what}, then it throws a SpanCodecError`, () => {
        expect(() => encodeSpanRecord(make() as never)).toThrow(SpanCodecError);
      });
    }

    it('when an attribute map refers to itself, then it throws a SpanCodecError instead of overflowing the stack', () => {
      const loop: { [key: string]: AttrValue } = {};
      loop.self = loop;
      expect(() => encodeSpanRecord(otherSpan({ attributes: { loop } }))).toThrow(/nested deeper/);
    });
  });

  describe('decodeSpanRow(columns, encodeSpanBody(span), resource)', () => {
    /** What the store keeps in columns for a span. */
    const columnsOf = (span: SpanRecord): SpanRowColumns => ({
      traceId: span.traceId,
      spanId: span.spanId,
      role: span.role,
      service: span.service,
      instance: span.instance,
      startTime: span.startTime,
      endTime: span.endTime,
      snapshot: span.snapshot,
    });

    test.prop([attrs, attrs, attrs, int64, int64, int64, fc.option(fc.string(), { nil: undefined }), fc.option(fc.string(), { nil: undefined })])(
      'when a span carries any attribute values, 64-bit times, a status message and a scope version, then it decodes to an equal span',
      (attributes, eventAttributes, resource, start, end, eventTime, message, version) => {
        const span: SpanRecord = {
          ...taskSpan({ start, end, attributes, snapshot: false }),
          events: [{ name: 'e', time: eventTime, attributes: eventAttributes }],
          links: [{ traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), attributes }],
          parentSpanId: 'ef'.repeat(8),
          status: message === undefined ? { code: 1 } : { code: 2, message },
          scope: version === undefined ? { name: 'canceltrace' } : { name: 'canceltrace', version },
          resource,
        };
        const storedResource = decodeResource(encodeResource(resource));
        expect(storedResource).toEqual(resource);
        expect(decodeSpanRow(columnsOf(span), encodeSpanBody(span), storedResource)).toEqual(span);
      },
    );

    it('when the body is smaller than the whole record, then it holds neither the resource nor the ids', () => {
      const span = taskSpan({ attributes: { 'task.id': '7' } });
      span.resource = { 'service.name': 'a-rather-long-service-name', 'host.name': 'a-host' };
      const body = encodeSpanBody(span);
      expect(body.length).toBeLessThan(encodeSpanRecord(span).length / 2);
      expect(body).not.toContain('a-rather-long-service-name');
      expect(body).not.toContain(span.spanId);
    });

    it('when a row holds a whole record of an older version, then that record is read and the columns ignored', () => {
      const span = otherSpan({ attributes: { big: 2n ** 70n } });
      expect(decodeSpanRow({ ...columnsOf(span), service: 'ignored' }, encodeSpanRecord(span), undefined)).toEqual(span);
    });

    it('when an attribute is named __proto__, then it stays an ordinary key', () => {
      const attributes = JSON.parse('{"__proto__": "x"}') as Attrs;
      const span = otherSpan({ attributes });
      const back = decodeSpanRow(columnsOf(span), encodeSpanBody(span), span.resource).attributes;
      expect(Object.keys(back)).toEqual(['__proto__']);
      expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    });

    it('when the body has an unknown layout version or the row no resource, then it throws a SpanCodecError', () => {
      const span = otherSpan();
      expect(() => decodeSpanRow(columnsOf(span), '[9]', {})).toThrow(/unknown layout version 9/);
      expect(() => decodeSpanRow(columnsOf(span), encodeSpanBody(span), undefined)).toThrow(SpanCodecError);
    });

    const bad: [string, () => unknown][] = [
      ['a trace id that is not 32 lower-case hex digits', () => ({ ...otherSpan(), traceId: 'ABC' })],
      ['a time beyond 64 bits', () => ({ ...otherSpan(), startTime: 2n ** 63n })],
      ['an event time that is a number', () => ({ ...otherSpan(), events: [{ name: 'e', time: 5, attributes: {} }] })],
      ['an attribute that is a function', () => otherSpan({ attributes: { f: (() => 1) as unknown as AttrValue } })],
      ['an attribute that is undefined', () => otherSpan({ attributes: { u: undefined as unknown as AttrValue } })],
      ['an unknown role', () => ({ ...otherSpan(), role: 'nope' })],
    ];
    for (const [what, make] of bad) {
      it(`when the span has ${what}, then encodeSpanBody throws a SpanCodecError`, () => {
        expect(() => encodeSpanBody(make() as never)).toThrow(SpanCodecError);
      });
    }

    it('when an attribute map refers to itself, then encodeSpanBody throws instead of overflowing the stack', () => {
      const loop: { [key: string]: AttrValue } = {};
      loop.self = loop;
      expect(() => encodeSpanBody(otherSpan({ attributes: { loop } }))).toThrow(/nested deeper/);
    });
  });
});
