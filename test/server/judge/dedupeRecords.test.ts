import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { newerRecord } from '../../../contract/contract.js';
import type { EventRecord } from '../../../contract/records.js';
import { dedupeRecords } from '../../../server/judge/dedupeRecords.js';
import { shuffle } from '../../doubles/shuffle.js';
import { ev, SEC, task } from '../../doubles/spans.js';

interface Rec {
  traceId: string;
  spanId: string;
  snapshot: boolean;
  endTime: bigint;
  events: EventRecord[];
  tag: string;
}

const rec = (spanId: string, snapshot: boolean, endTime: bigint, tag: string, nEvents = 0): Rec => ({
  traceId: 't',
  spanId,
  snapshot,
  endTime,
  tag,
  events: Array.from({ length: nEvents }, (_, i) => ev('x', BigInt(i))),
});

describe('dedupeRecords', () => {
  it('when a final and a snapshot of one span arrive, then the final is kept whatever the order', () => {
    const snap = rec('a', true, 5n, 'snap', 3);
    const final = rec('a', false, 2n, 'final');
    expect(dedupeRecords([snap, final])).toEqual([final]);
    expect(dedupeRecords([final, snap])).toEqual([final]);
  });

  it('when two snapshots arrive, then the later one is kept, and on equal time the one with more events', () => {
    expect(dedupeRecords([rec('a', true, 2n, 'late'), rec('a', true, 1n, 'early')]).map((r) => r.tag)).toEqual(['late']);
    expect(dedupeRecords([rec('a', true, 1n, 'more', 2), rec('a', true, 1n, 'fewer', 1)]).map((r) => r.tag)).toEqual(['more']);
  });

  it('when records of several spans arrive, then one per span is returned, sorted by trace and span id', () => {
    const out = dedupeRecords([rec('b', false, 1n, 'b'), rec('a', false, 1n, 'a'), rec('b', true, 9n, 'b-snap')]);
    expect(out.map((r) => r.tag)).toEqual(['a', 'b']);
  });

  it('when given a view, then task records are deduplicated through their spans', () => {
    const spanId = '00000000000000aa';
    const snap = task({ spanId, snapshot: true, end: 2n * SEC });
    const final = task({ spanId, finalState: 'cancelled', end: SEC });
    expect(dedupeRecords([final, snap], (t) => t.span)).toEqual([final]);
    expect(dedupeRecords([snap, final], (t) => t.span)).toEqual([final]);
  });

  const recArb = fc.record({
    traceId: fc.constantFrom('t1', 't2'),
    spanId: fc.constantFrom('s1', 's2', 's3'),
    snapshot: fc.boolean(),
    endTime: fc.constantFrom(1n, 2n, 3n),
    events: fc.array(fc.constantFrom(ev('x', 1n), ev('y', 2n)), { maxLength: 2 }),
    tag: fc.constantFrom('p', 'q', 'r'),
  });

  test.prop([fc.array(recArb, { maxLength: 20 }), fc.integer()])(
    'when the records arrive in any order, then dedupeRecords(records) is the same',
    (records, seed) => {
      expect(dedupeRecords(shuffle(records, seed))).toEqual(dedupeRecords(records));
    },
  );

  test.prop([fc.array(recArb, { maxLength: 20 })])(
    'when records are deduplicated, then one record per span is kept and no record of that span is newer',
    (records) => {
      const out = dedupeRecords(records);
      const keys = out.map((r) => `${r.traceId}/${r.spanId}`);
      expect(new Set(keys).size).toBe(keys.length);
      expect(new Set(keys)).toEqual(new Set(records.map((r) => `${r.traceId}/${r.spanId}`)));
      for (const kept of out) {
        for (const other of records.filter((r) => r.traceId === kept.traceId && r.spanId === kept.spanId)) {
          expect(newerRecord(kept, other)).toBe(kept);
        }
      }
    },
  );
});
