import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { sameJson } from '../../../server/judge/sameJson.js';

/** A JSON value and a second one: a copy of it, a copy with one leaf changed, or any other value. */
const pairs = fc.jsonValue().chain((a) =>
  fc.oneof(
    fc.constant([a, JSON.parse(JSON.stringify(a))] as const),
    fc.jsonValue().map((b) => [a, b] as const),
    fc.jsonValue().map((leaf) => [a, replaceFirstLeaf(JSON.parse(JSON.stringify(a)), leaf)] as const),
  ),
);

/** `value` with its first leaf (depth first) replaced by `leaf`; `leaf` itself when `value` is a leaf. */
function replaceFirstLeaf(value: unknown, leaf: unknown): unknown {
  if (value === null || typeof value !== 'object') return leaf;
  const keys = Object.keys(value);
  if (keys.length === 0) return leaf;
  (value as Record<string, unknown>)[keys[0]] = replaceFirstLeaf((value as Record<string, unknown>)[keys[0]], leaf);
  return value;
}

describe('sameJson', () => {
  test.prop([pairs], { numRuns: 500 })('when two JSON values are compared, then it says what comparing their JSON texts says', ([a, b]) => {
    expect(sameJson(a, b)).toBe(JSON.stringify(a) === JSON.stringify(b));
  });

  test('when keys differ only in order or an undefined property, then it answers as the texts would', () => {
    expect(sameJson({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(false);
    expect(sameJson({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(sameJson([1, [2, 'x']], [1, [2, 'x']])).toBe(true);
    expect(sameJson([], {})).toBe(false);
  });
});
