import { EVENT } from '../../../contract/contract.js';
import { pairSteps } from '../../../contract/steps.js';
import type { ApiEvent, ApiTask } from '../api/types.js';
import { nsToMs } from './nsToMs.js';

/** A cleanup or shield step of a task, in ms relative to the timeline origin. */
export interface TimelineStep {
  kind: 'cleanup' | 'shield';
  name: string;
  start: number;
  end: number;
  /** `ok`, `cancelled`, `timeout`, `error`, or `interrupted` when its end event never came */
  outcome: string;
}

/** A task reduced to what the timeline draws; times in ms relative to the timeline origin. */
export interface TimelineTask {
  id: string;
  name: string;
  verdict: string;
  /** bar start: creation, or the window start when the task was created before it */
  start: number;
  /** creation (ms), not clipped: orders members of a group */
  created: number;
  /** known only from a snapshot of its open span */
  snapshot: boolean;
  /** `task.id`, when sent */
  taskId?: string;
  /** bar end: the end (or last snapshot) time */
  end: number;
  /** true when the task was created before the window start (the bar is cut on the left) */
  clippedStart: boolean;
  /** true when the task never finished (pending, survivor, orphan or a snapshot) */
  open: boolean;
  /** times of each `task.cancel_requested` event */
  cancels: number[];
  /** the first cancel request that was not handed back (ms), NaN when none */
  cancelRequested: number;
  /** earliest and latest `task.cancel_requested` (ms), NaN when none: a group row's cancel span */
  firstCancel: number;
  lastCancel: number;
  /** the kinds of its findings */
  findingKinds: readonly string[];
  steps: TimelineStep[];
  coroutine: string;
  /** creation site as `file:line` (or the function name), '' when unknown */
  site: string;
  /** rows of identical tasks collapse on this key: coroutine + creation site + verdict */
  groupKey: string;
  task: ApiTask;
}

const OPEN_VERDICTS = new Set(['survivor', 'orphan']);

/** Orders two unix-ns decimal strings without BigInt (a shorter string is a smaller number). */
function compareNs(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The events in time order (stable); the array itself when it is in order already. */
function inTimeOrder(events: readonly ApiEvent[]): readonly ApiEvent[] {
  for (let i = 1; i < events.length; i++) if (compareNs(events[i].time, events[i - 1].time) < 0) return [...events].sort((a, b) => compareNs(a.time, b.time));
  return events;
}

/** `file:line` of a code site, else its function, else ''. */
export function siteLabel(site: { filepath?: string; lineno?: number; function?: string } | undefined): string {
  if (!site) return '';
  if (site.filepath) return site.lineno !== undefined ? `${site.filepath}:${site.lineno}` : site.filepath;
  return site.function ?? '';
}

/** The name a task's coroutine goes by: its coroutine, else its function, else its span name. */
export function coroutineOf(task: Pick<ApiTask, 'coroutine' | 'code' | 'name'>): string {
  return task.coroutine ?? task.code?.function ?? task.name;
}

/**
 * The fields of a timeline task that its times do not decide: ids, verdict, whether it never
 * finished, coroutine, creation site and group key. Shared with the compact loader so that both
 * paths make the same rows.
 */
export function timelineIdentity(
  task: ApiTask,
): Pick<TimelineTask, 'id' | 'name' | 'verdict' | 'open' | 'coroutine' | 'site' | 'groupKey' | 'task' | 'snapshot' | 'taskId'> {
  const coroutine = coroutineOf(task);
  const site = siteLabel(task.code);
  return {
    id: task.spanId,
    name: task.name,
    verdict: task.verdict,
    open: task.finalState === 'pending' || OPEN_VERDICTS.has(task.verdict) || (task.snapshot && task.finalState !== 'cancelled'),
    coroutine,
    site,
    groupKey: `${coroutine}\u0000${site}\u0000${task.verdict}`,
    task,
    snapshot: task.snapshot,
    ...(task.taskId ? { taskId: task.taskId } : {}),
  };
}

/**
 * Reduces an API task to a timeline task: bar bounds clipped on the left to `windowStartMs`,
 * cancel ticks, and cleanup/shield steps paired start→end by name (an unmatched start is an
 * interrupted step that runs to the task's end). Pure.
 */
export function toTimelineTask(task: ApiTask, originNs: bigint, windowStartMs: number): TimelineTask {
  const created = nsToMs(task.createdAt, originNs);
  const ended = nsToMs(task.endedAt, originNs);
  const clippedStart = Number.isFinite(windowStartMs) && created < windowStartMs;
  const start = clippedStart ? windowStartMs : created;
  const end = Math.max(start, Number.isFinite(ended) ? ended : start);
  const cancels: number[] = [];
  for (const e of task.events ?? []) if (e.name === EVENT.cancelRequested) cancels.push(nsToMs(e.time, originNs));
  // steps pair in time order, as the judge reads them (a recorder may send events out of order)
  const events = inTimeOrder(task.events ?? []);
  const steps: TimelineStep[] = pairSteps<string, ApiEvent>(events).map((step) => {
    const stepStart = nsToMs((step.startEvent ?? step.endEvent)!.time, originNs);
    // A step that never ended was interrupted: it runs to the task's end.
    const stepEnd = step.endEvent ? nsToMs(step.endEvent.time, originNs) : end;
    return { kind: step.kind, name: step.name, start: stepStart, end: Math.max(stepStart, stepEnd), outcome: step.outcome ?? 'interrupted' };
  });
  steps.sort((a, b) => a.start - b.start);
  cancels.sort((a, b) => a - b);
  const cancelRequested = nsToMs(task.cancelRequestedAt, originNs);
  const findingKinds = (task.findings ?? []).map((f) => f.kind);
  const firstCancel = cancels.length ? cancels[0] : Number.NaN;
  const lastCancel = cancels.length ? cancels[cancels.length - 1] : Number.NaN;
  return { ...timelineIdentity(task), start, created, end, clippedStart, cancels, cancelRequested, firstCancel, lastCancel, findingKinds, steps };
}
