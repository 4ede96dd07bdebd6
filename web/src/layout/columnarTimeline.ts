import type { ColumnarTasks } from '../../../contract/columnar.js';
import { STEP_KINDS } from '../../../contract/columnar.js';
import type { ApiShutdownReport, ApiTask } from '../api/types.js';
import type { TimelineStep, TimelineTask } from './timelineTask.js';
import { timelineIdentity } from './timelineTask.js';

/** `GET /api/shutdowns/:id/timeline`: the shutdown view with its tasks as columns (contract/columnar.ts). */
export interface ColumnarTimeline extends Omit<ApiShutdownReport, 'tasks'> {
  version: number;
  originNs: string;
  columnar: ColumnarTasks;
}

/** Unix ns (decimal string) of `ms` after `originNs`. */
function nsAt(originNs: bigint, ms: number): string {
  return (originNs + BigInt(Math.round(ms * 1_000_000))).toString();
}

/**
 * Turns the columnar form into timeline tasks and summary API tasks (no events or attributes: the
 * panel fetches the full task), the same shapes as {@link toTimelineTask} makes from full tasks;
 * times are already relative to the shutdown's start. Bars start no earlier than `windowStartMs`. Pure.
 */
export function fromColumnar(body: ColumnarTimeline, windowStartMs: number): { tasks: ApiTask[]; timeline: TimelineTask[] } {
  const c = body.columnar;
  const originNs = BigInt(body.originNs);
  const n = c.count;
  const tasks: ApiTask[] = new Array(n);
  const timeline: TimelineTask[] = new Array(n);
  const service = body.shutdown.service;
  const instance = body.shutdown.instance;
  for (let i = 0; i < n; i++) {
    const site = c.sites[c.site[i]] ?? {};
    const verdict = c.verdicts[c.verdict[i]];
    const finalState = c.finalStates[c.finalState[i]];
    const snapshot = c.snapshot[i] === 1;
    const findingKinds: string[] = [];
    for (let k = 0, mask = c.findings[i]; mask !== 0; k++, mask >>>= 1) if (mask & 1) findingKinds.push(c.findingKinds[k]);
    const swallow = c.swallowSite[i] >= 0 ? c.swallowSites[c.swallowSite[i]] : undefined;
    const cancelRequested = c.cancelRequestedMs[i] ?? Number.NaN;
    const task: ApiTask = {
      traceId: c.traceId[i],
      spanId: c.spanId[i],
      name: c.name[i],
      verdict,
      findings: findingKinds.map((kind) => ({ kind, message: kind })),
      finalState,
      createdAt: nsAt(originNs, c.createdMs[i]),
      endedAt: nsAt(originNs, c.endedMs[i]),
      code: { filepath: site.filepath, lineno: site.lineno, function: site.function },
      coroutine: site.coroutine,
      snapshot,
      events: [],
      service,
      instance,
      ...(c.taskId[i] ? { taskId: c.taskId[i] } : {}),
      ...(c.parentTaskId[i] ? { parentTaskId: c.parentTaskId[i] } : {}),
      ...(swallow ? { swallowSite: swallow } : {}),
      ...(Number.isFinite(cancelRequested) ? { cancelRequestedAt: nsAt(originNs, cancelRequested) } : {}),
    };
    tasks[i] = task;
    const created = c.createdMs[i];
    const ended = c.endedMs[i];
    const clippedStart = created < windowStartMs;
    const start = clippedStart ? windowStartMs : created;
    const end = Math.max(start, ended);
    const cancels = c.cancelTimes.slice(c.cancelOffset[i], c.cancelOffset[i + 1]).sort((a, b) => a - b);
    const steps: TimelineStep[] = [];
    for (let j = c.stepOffset[i]; j < c.stepOffset[i + 1]; j++) {
      const s = c.stepStartMs[j];
      const e = c.stepEndMs[j];
      steps.push({
        kind: STEP_KINDS[c.stepKind[j]] ?? 'cleanup',
        name: c.stepNames[c.stepName[j]],
        start: s,
        end: Math.max(s, e === null ? end : e),
        outcome: c.stepOutcomes[c.stepOutcome[j]],
      });
    }
    steps.sort((a, b) => a.start - b.start);
    timeline[i] = {
      ...timelineIdentity(task),
      start,
      end,
      clippedStart,
      cancels,
      cancelRequested,
      findingKinds,
      steps,
    };
  }
  return { tasks, timeline };
}
