import { describe, expect, it } from 'vitest';
import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { hrTimeToNanos, nanosToHrTime } from '../../../collector/processor/toSpanRecord.js';

describe('toSpanRecord', () => {
  describe('hrTimeToNanos', () => {
    it('when given [seconds, nanos], then the unix ns value is exact beyond 2^53', () => {
      expect(hrTimeToNanos([1_700_000_000, 123_456_789])).toBe(1_700_000_000_123_456_789n);
    });

    test.prop([fc.bigInt({ min: 0n, max: 4_000_000_000_000_000_000n })])('when converted to HrTime and back, then ns are unchanged', (ns) => {
      expect(hrTimeToNanos(nanosToHrTime(ns))).toBe(ns);
    });
  });
});
