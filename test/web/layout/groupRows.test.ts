import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { groupRows } from '../../../web/src/layout/groupRows.js';
import { toTimelineTask } from '../../../web/src/layout/timelineTask.js';
import { apiTask, at, ORIGIN_NS } from '../fixtures.js';

const VERDICTS = ['cancelled', 'swallowed', 'survivor', 'finished'];

function tasks(specs: { coroutine: string; line: number; verdict: string; start: number }[]) {
  return specs.map((s, i) =>
    toTimelineTask(
      apiTask({
        spanId: `s${i}`,
        coroutine: s.coroutine,
        code: { filepath: 'w.py', lineno: s.line },
        verdict: s.verdict,
        createdAt: at(s.start),
        endedAt: at(s.start + 10),
      }),
      ORIGIN_NS,
      -1000,
    ),
  );
}

const spec = fc.record({
  coroutine: fc.constantFrom('a', 'b', 'c'),
  line: fc.integer({ min: 1, max: 3 }),
  verdict: fc.constantFrom(...VERDICTS),
  start: fc.integer({ min: 0, max: 500 }),
});

describe('groupRows', () => {
  it("when an expanded group's members were all created before the window, then they follow their creation order", () => {
    // created at -5000 … -4990 ms, window from -1000 ms: every bar is cut to the same start
    const input = tasks(Array.from({ length: 10 }, (_, i) => ({ coroutine: 'worker', line: 5, verdict: 'cancelled', start: -5000 + (9 - i) })));
    const members = groupRows(input, new Set([input[0].groupKey])).filter((r) => r.kind === 'member');
    expect(members.map((m) => m.start)).toEqual(Array(10).fill(-1000));
    expect(members.map((m) => m.tasks[0].id)).toEqual(['s9', 's8', 's7', 's6', 's5', 's4', 's3', 's2', 's1', 's0']);
  });

  it('when 1,000 identical workers and one swallowing task are given, then they make one group row and one task row', () => {
    const input = tasks([
      ...Array.from({ length: 1000 }, (_, i) => ({ coroutine: 'worker', line: 5, verdict: 'cancelled', start: i })),
      { coroutine: 'worker', line: 5, verdict: 'swallowed', start: 3 },
    ]);
    const rows = groupRows(input);
    expect(rows).toHaveLength(2);
    const group = rows.find((r) => r.kind === 'group')!;
    expect(group).toMatchObject({ count: 1000, verdict: 'cancelled', start: 0, end: 1009 });
    expect(rows.find((r) => r.kind === 'task')!.verdict).toBe('swallowed');
  });

  it('when a group is expanded, then its members follow it in start order', () => {
    const input = tasks([
      { coroutine: 'w', line: 1, verdict: 'cancelled', start: 30 },
      { coroutine: 'w', line: 1, verdict: 'cancelled', start: 10 },
      { coroutine: 'w', line: 1, verdict: 'cancelled', start: 20 },
    ]);
    const rows = groupRows(input, new Set([input[0].groupKey]));
    expect(rows.map((r) => r.kind)).toEqual(['group', 'member', 'member', 'member']);
    expect(rows.slice(1).map((r) => r.start)).toEqual([10, 20, 30]);
  });

  test.prop([fc.array(spec, { maxLength: 60 }), fc.boolean()])('every task is counted exactly once, and a group holds one key only', (specs, expandAll) => {
    const input = tasks(specs);
    const expanded = expandAll ? new Set(input.map((t) => t.groupKey)) : new Set<string>();
    const rows = groupRows(input, expanded);
    const heads = rows.filter((r) => r.kind !== 'member');
    expect(heads.reduce((n, r) => n + r.count, 0)).toBe(input.length);
    for (const r of rows) expect(new Set(r.tasks.map((t) => t.groupKey)).size).toBe(1);
    const members = rows.filter((r) => r.kind === 'member').length;
    const grouped = heads.filter((r) => r.kind === 'group').reduce((n, r) => n + r.count, 0);
    expect(members).toBe(expandAll ? grouped : 0);
  });
});
