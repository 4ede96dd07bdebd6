import { describe, expect, it } from 'vitest';
import type { ApiShutdownReport, ApiTask } from '../../../web/src/api/types.js';
import { compareShutdowns } from '../../../web/src/layout/compareShutdowns.js';
import { apiTask, at } from '../fixtures.js';

function report(tasks: ApiTask[], drainMs: number): ApiShutdownReport {
  return {
    shutdown: {
      id: 'x',
      traceId: 't',
      spanId: 's',
      service: 'svc',
      instance: 'i',
      reason: 'SIGTERM',
      start: at(0),
      end: at(drainMs),
      open: false,
      outcome: 'clean',
      attributes: {},
      events: [],
    },
    tasks,
    pending: [],
    pendingBaseline: 0,
    gauges: [],
    findings: [],
    warnings: [],
  };
}

const site = (lineno: number) => ({ filepath: 'w.py', lineno });

describe('compareShutdowns', () => {
  it('when a site went from swallowed to cancelled and another from cancelled to survivor, then one is fixed and one regressed', () => {
    const before = report(
      [
        apiTask({ spanId: '1', coroutine: 'a', code: site(1), verdict: 'swallowed' }),
        apiTask({ spanId: '2', coroutine: 'b', code: site(2), verdict: 'cancelled' }),
        apiTask({ spanId: '3', coroutine: 'c', code: site(3), verdict: 'cancelled' }),
      ],
      4000,
    );
    const after = report(
      [
        apiTask({ spanId: '4', coroutine: 'a', code: site(1), verdict: 'cancelled' }),
        apiTask({ spanId: '5', coroutine: 'b', code: site(2), verdict: 'survivor' }),
        apiTask({ spanId: '6', coroutine: 'c', code: site(3), verdict: 'cancelled' }),
        apiTask({ spanId: '7', coroutine: 'd', code: site(4), verdict: 'cancelled' }),
      ],
      250,
    );
    const c = compareShutdowns(before, after);
    expect(c.drainBeforeMs).toBe(4000);
    expect(c.drainAfterMs).toBe(250);
    expect(c.lines.map((l) => [l.coroutine, l.status])).toEqual([
      ['b', 'regressed'],
      ['a', 'fixed'],
      ['d', 'new'],
      ['c', 'same'],
    ]);
    expect(c.lines[0]).toMatchObject({ before: { cancelled: 1 }, after: { survivor: 1 } });
  });
});
