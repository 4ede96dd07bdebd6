import { describe, expect, it } from 'vitest';
import { judgeBriefFromRecords } from '../../../server/judge/judgeBrief.js';
import { judgeShutdown } from '../../../server/judge/judgeShutdown.js';
import { TimeColumn } from '../../../server/judge/TimeColumn.js';
import { headOf, rowsOfBrief, rowsOfReport } from '../../doubles/briefRows.js';
import { ev, events, MS, SEC, shutdown, task } from '../../doubles/spans.js';

/** 200 days in ns: beyond 2^53 ns (104 days), where a double no longer holds every nanosecond. */
const FAR = 200n * 24n * 3600n * SEC;

describe('judgeBrief', () => {
  it('when times lie further from the shutdown than a double keeps exactly, then the brief report still equals the whole one to the nanosecond', () => {
    const s = shutdown({ start: 0n, end: 2n * SEC, outcome: 'survivors', events: [events.pending(0n, 4), events.pending(SEC, 2)] });
    const tasks = [
      // created long before the shutdown, cancelled in it, with a cleanup that started long before
      task({
        start: -FAR - 7n,
        end: 500n * MS + 3n,
        finalState: 'cancelled',
        events: [events.cleanupStart(-FAR + 1n, 'pool'), events.cancel(100n * MS + 1n), events.cleanupEnd(400n * MS + 9n, 'pool', 'ok')],
      }),
      // ends far after the shutdown (a survivor in a closed window) and was destroyed-warned
      task({ start: -SEC, end: FAR + 11n, finalState: 'completed', events: [events.cancel(SEC + 5n)] }),
      task({ start: -FAR, end: FAR, finalState: 'destroyed', events: [ev('loop.warning', FAR - 1n, { message: 'Task was destroyed but it is pending!' })] }),
      // an ordinary one beside them
      task({ start: -SEC, end: 300n * MS, finalState: 'completed', events: [events.cancel(100n * MS)] }),
    ];
    const whole = judgeShutdown(s, tasks);
    const brief = judgeBriefFromRecords(s, tasks);
    expect(rowsOfBrief(brief)).toEqual(rowsOfReport(whole));
    expect(headOf(brief)).toEqual(headOf(whole));
    expect(brief.warnings).toHaveLength(1);
  });

  describe('TimeColumn', () => {
    it('when times are near, far, before the epoch or none, then each reads back exactly, as text and as rounded milliseconds', () => {
      const origin = 1_700_000_000_123_456_789n;
      const times = [origin, origin + 1n, origin - 999_999_999n, origin + FAR, origin - FAR, 5n, -3n, undefined];
      const column = new TimeColumn(origin);
      for (const t of times) column.push(t);
      times.forEach((t, i) => {
        expect(column.at(i)).toBe(t);
        expect(column.text(i)).toBe(t === undefined ? null : t.toString());
        expect(column.ms(i)).toBe(t === undefined ? null : Math.round(Number(t - origin) / 1_000) / 1_000);
      });
      expect(column.compare(3, 4)).toBe(1);
      expect(column.compare(7, 0)).toBe(1);
      expect(column.compare(2, 2)).toBe(0);
    });
  });
});
