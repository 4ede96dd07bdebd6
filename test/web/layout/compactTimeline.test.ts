import { describe, expect, it } from 'vitest';
import type { ApiShutdownReport, ApiTask } from '../../../web/src/api/types.js';
import { type CompactStep, type CompactTask, type CompactTimeline, fromCompact, windowStartOf } from '../../../web/src/layout/compactTimeline.js';
import { toTimelineTask } from '../../../web/src/layout/timelineTask.js';
import { apiTask, at, ORIGIN_NS } from '../fixtures.js';

/** Encodes full tasks the way GET /api/shutdowns/:id?tasks=compact is asked to. */
function encode(tasks: ApiTask[]): CompactTimeline {
  const sites: CompactTimeline['sites'] = [];
  const index = new Map<string, number>();
  const out: CompactTask[] = tasks.map((t) => {
    const site = { coroutine: t.coroutine, ...t.code };
    const key = JSON.stringify(site);
    if (!index.has(key)) {
      index.set(key, sites.length);
      sites.push(site);
    }
    const steps: CompactStep[] = [];
    for (const e of t.events) {
      const kind = e.name.startsWith('task.cleanup') ? 'cleanup' : e.name.startsWith('task.shield') ? 'shield' : undefined;
      if (!kind) continue;
      const name = String(e.attributes['cleanup.name'] ?? kind);
      if (e.name.endsWith('.start')) steps.push([kind, name, e.time, null, null]);
      else {
        const open = [...steps].reverse().find((s) => s[0] === kind && s[1] === name && s[3] === null)!;
        open[3] = e.time;
        open[4] = String(e.attributes[`${kind}.outcome`] ?? 'ok');
      }
    }
    const cancels = t.events.filter((e) => e.name === 'task.cancel_requested').map((e) => e.time);
    return [t.spanId, t.name, t.verdict, index.get(key)!, t.createdAt, t.endedAt, t.finalState ?? 'pending', t.snapshot ? 1 : 0, cancels, steps];
  });
  const report: Omit<ApiShutdownReport, 'tasks'> = {
    shutdown: {
      id: 'x',
      traceId: 't',
      spanId: 's',
      service: 'svc',
      instance: 'svc-1',
      reason: 'SIGTERM',
      start: at(0),
      end: at(1000),
      open: false,
      outcome: 'clean',
      attributes: {},
      events: [],
    },
    pending: [],
    pendingBaseline: 0,
    gauges: [],
    findings: [],
    warnings: [],
  };
  return { ...report, sites, tasks: out };
}

describe('fromCompact', () => {
  it('when tasks are sent compact, then the timeline tasks equal those made from the full tasks', () => {
    const full = [
      apiTask({
        spanId: 'a',
        createdAt: at(-9000),
        cancelRequestedAt: at(5),
        events: [
          { name: 'task.cancel_requested', time: at(5), attributes: {} },
          { name: 'task.cleanup.start', time: at(6), attributes: { 'cleanup.name': 'close' } },
          { name: 'task.cleanup.end', time: at(30), attributes: { 'cleanup.name': 'close', 'cleanup.outcome': 'timeout' } },
        ],
      }),
      apiTask({
        spanId: 'b',
        verdict: 'survivor',
        finalState: 'pending',
        snapshot: true,
        endedAt: at(900),
        cancelRequestedAt: at(5),
        events: [
          { name: 'task.cancel_requested', time: at(5), attributes: {} },
          { name: 'task.shield.start', time: at(8), attributes: {} },
        ],
      }),
      apiTask({ spanId: 'c', verdict: 'swallowed', finalState: 'completed', coroutine: 'other', code: { filepath: 'o.py', lineno: 3 } }),
    ];
    const win = windowStartOf(1000);
    const { timeline, tasks } = fromCompact(encode(full), ORIGIN_NS, win);
    const strip = ({ task: _t, ...rest }: ReturnType<typeof toTimelineTask>) => rest;
    expect(timeline.map(strip)).toEqual(full.map((t) => strip(toTimelineTask(t, ORIGIN_NS, win))));
    expect(tasks.map((t) => [t.spanId, t.verdict, t.cancelRequestedAt, t.attributes])).toEqual([
      ['a', 'cancelled', at(5), undefined],
      ['b', 'survivor', at(5), undefined],
      ['c', 'swallowed', undefined, undefined],
    ]);
  });

  it('windowStartOf(last mark) leads in by 15 % of the shutdown, at least 2 ms', () => {
    expect(windowStartOf(2000)).toBe(-300);
    expect(windowStartOf(10)).toBe(-2);
  });
});
