import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { groupRows } from '../../../web/src/layout/groupRows.js';
import { rowOrder } from '../../../web/src/layout/rowOrder.js';
import { toTimelineTask } from '../../../web/src/layout/timelineTask.js';
import { verdictRank } from '../../../web/src/layout/verdicts.js';
import { apiTask, at, ORIGIN_NS } from '../fixtures.js';

function row(spanId: string, verdict: string, start: number, coroutine = spanId) {
  return toTimelineTask(apiTask({ spanId, verdict, coroutine, createdAt: at(start), endedAt: at(start + 5) }), ORIGIN_NS, -1000);
}

describe('rowOrder', () => {
  it('when sorted by severity, then swallowed and survivor rows come first, then by start', () => {
    const rows = groupRows([
      row('a', 'cancelled', 0),
      row('b', 'survivor', 50),
      row('c', 'swallowed', 90),
      row('d', 'swallowed', 10),
      row('e', 'finished', -5),
    ]);
    expect(rowOrder(rows).map((r) => r.tasks[0].id)).toEqual(['d', 'c', 'b', 'a', 'e']);
  });

  it('when sorted by start, then verdicts do not matter', () => {
    const rows = groupRows([row('a', 'cancelled', 30), row('b', 'swallowed', 20), row('c', 'finished', 10)]);
    expect(rowOrder(rows, 'start').map((r) => r.tasks[0].id)).toEqual(['c', 'b', 'a']);
  });

  it('when a group is expanded, then its members stay right under it', () => {
    const input = [row('a', 'cancelled', 0, 'w'), row('b', 'cancelled', 5, 'w'), row('c', 'swallowed', 9, 'x')];
    const rows = rowOrder(groupRows(input, new Set([input[0].groupKey])));
    expect(rows.map((r) => r.kind)).toEqual(['task', 'group', 'member', 'member']);
  });

  test.prop([
    fc.array(fc.record({ v: fc.constantFrom('cancelled', 'swallowed', 'survivor', 'orphan', 'finished', 'weird'), s: fc.integer({ min: -100, max: 100 }) }), {
      maxLength: 40,
    }),
  ])('severity order never puts a less severe row above a more severe one, and keeps every row', (specs) => {
    const rows = groupRows(specs.map((x, i) => row(`r${i}`, x.v, x.s)));
    const sorted = rowOrder(rows);
    expect(sorted).toHaveLength(rows.length);
    for (let i = 1; i < sorted.length; i++) expect(verdictRank(sorted[i - 1].verdict)).toBeLessThanOrEqual(verdictRank(sorted[i].verdict));
    expect(new Set(sorted.map((r) => r.id))).toEqual(new Set(rows.map((r) => r.id)));
  });
});
