import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { AttrValue, Attrs } from '../../../collector/records.js';
import { SpanCodecError, decodeSpanRecord, encodeSpanRecord } from '../../../server/store/codec.js';
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
});
