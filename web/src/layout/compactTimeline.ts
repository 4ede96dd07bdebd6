import type { ApiShutdownReport, ApiTask } from '../api/types.js';
import { nsToMs } from './nsToMs.js';
import { type TimelineStep, type TimelineTask, timelineIdentity } from './timelineTask.js';

/** One creation site, interned: `sites[i]` of {@link CompactTimeline}. */
export interface CompactSite {
  coroutine?: string;
  filepath?: string;
  lineno?: number;
  function?: string;
}

/** A cleanup/shield step: kind, name, start ns, end ns (null: never ended), outcome (null: never ended). */
export type CompactStep = ['cleanup' | 'shield', string, string, string | null, string | null];

/**
 * One task, positionally: span id, name, verdict, index into `sites`, created ns, ended ns,
 * final state, snapshot (0/1), cancel request times (ns), steps.
 */
export type CompactTask = [string, string, string, number, string, string, string, 0 | 1, string[], CompactStep[]];

/**
 * GET /api/shutdowns/:id/timeline: the report without per-task detail, tasks as compact tuples.
 * About a tenth of the full report's size, so a 100,000-task shutdown loads in well under 2 s.
 */
export interface CompactTimeline extends Omit<ApiShutdownReport, 'tasks'> {
  sites: CompactSite[];
  tasks: CompactTask[];
}

/** Lead-in shown before the signal: a fraction of the shutdown's length, at least a minimum. */
export const LEAD_IN_FRACTION = 0.15;
/**
 * Smallest lead-in before the signal, in ms. Small, so that a shutdown of a few ms still fills most
 * of the plot; tasks created earlier start at the window's edge with a clipped-start marker.
 */
export const MIN_LEAD_IN_MS = 2;

/** The window start (ms relative to the signal) for a shutdown whose last phase mark is at `lastMarkMs`. */
export function windowStartOf(lastMarkMs: number): number {
  return -Math.max(MIN_LEAD_IN_MS, Math.max(0, lastMarkMs) * LEAD_IN_FRACTION);
}

/**
 * Turns compact tuples into timeline tasks (the same shape {@link toTimelineTask} makes from full
 * tasks) and summary API tasks (no events or attributes: the panel fetches the full task). Pure.
 */
export function fromCompact(c: CompactTimeline, originNs: bigint, windowStartMs: number): { tasks: ApiTask[]; timeline: TimelineTask[] } {
  const tasks: ApiTask[] = new Array(c.tasks.length);
  const timeline: TimelineTask[] = new Array(c.tasks.length);
  const service = c.shutdown.service;
  const instance = c.shutdown.instance;
  for (let i = 0; i < c.tasks.length; i++) {
    const [spanId, name, verdict, siteIndex, createdAt, endedAt, finalState, snapshot, cancelNs, stepsNs] = c.tasks[i];
    const site = c.sites[siteIndex] ?? {};
    const code = { filepath: site.filepath, lineno: site.lineno, function: site.function };
    const task: ApiTask = {
      traceId: '',
      spanId,
      name,
      verdict,
      findings: [],
      finalState,
      createdAt,
      endedAt,
      code,
      coroutine: site.coroutine,
      snapshot: snapshot === 1,
      events: [],
      service,
      instance,
      ...(cancelNs.length ? { cancelRequestedAt: cancelNs[0] } : {}),
    };
    tasks[i] = task;
    const created = nsToMs(createdAt, originNs);
    const ended = nsToMs(endedAt, originNs);
    const clippedStart = created < windowStartMs;
    const start = clippedStart ? windowStartMs : created;
    const end = Math.max(start, Number.isFinite(ended) ? ended : start);
    const steps: TimelineStep[] = stepsNs.map(([kind, stepName, s, e, outcome]) => {
      const sm = nsToMs(s, originNs);
      return { kind, name: stepName, start: sm, end: e === null ? Math.max(sm, end) : Math.max(sm, nsToMs(e, originNs)), outcome: outcome ?? 'interrupted' };
    });
    timeline[i] = {
      ...timelineIdentity(task),
      start,
      created,
      end,
      clippedStart,
      cancels: cancelNs.map((t) => nsToMs(t, originNs)).sort((a, b) => a - b),
      cancelRequested: cancelNs.length ? nsToMs(cancelNs[0], originNs) : Number.NaN,
      firstCancel: cancelNs.length ? Math.min(...cancelNs.map((t) => nsToMs(t, originNs))) : Number.NaN,
      lastCancel: cancelNs.length ? Math.max(...cancelNs.map((t) => nsToMs(t, originNs))) : Number.NaN,
      findingKinds: [],
      steps: steps.sort((a, b) => a.start - b.start),
    };
  }
  return { tasks, timeline };
}
