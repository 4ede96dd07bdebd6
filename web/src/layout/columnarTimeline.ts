import type { ColumnarTasks } from '../../../contract/columnar.js';
import { STEP_KINDS } from '../../../contract/columnar.js';
import type { ApiShutdownReport, ApiTask } from '../api/types.js';
import type { TimelineStep, TimelineTask } from './timelineTask.js';
import { siteLabel } from './timelineTask.js';

/** `GET /api/shutdowns/:id/timeline`: the shutdown view with its tasks as columns (contract/columnar.ts). */
export interface ColumnarTimeline extends Omit<ApiShutdownReport, 'tasks'> {
  version: number;
  originNs: string;
  columnar: ColumnarTasks;
}

const OPEN_VERDICTS = new Set(['survivor', 'orphan']);
const NO_KINDS: readonly string[] = Object.freeze([]);

/** Unix ns (decimal string) of `ms` after `originNs`. */
function nsAt(originNs: bigint, ms: number): string {
  return (originNs + BigInt(Math.round(ms * 1_000_000))).toString();
}

/** What the rows of one shutdown share: the columns, the origin, and strings interned per (site, verdict). */
class Columns {
  /** per site and verdict; undefined where the site names no coroutine or function (the task's name stands in) */
  readonly groupKeys: (string[] | undefined)[];
  readonly coroutines: (string | undefined)[];
  readonly siteLabels: string[];

  constructor(
    readonly c: ColumnarTasks,
    readonly originNs: bigint,
    readonly service: string,
    readonly instance: string,
  ) {
    this.coroutines = c.sites.map((s) => s.coroutine ?? s.function);
    this.siteLabels = c.sites.map((s) => siteLabel(s));
    this.groupKeys = c.sites.map((_s, i) =>
      this.coroutines[i] === undefined ? undefined : c.verdicts.map((v) => `${this.coroutines[i]}\u0000${this.siteLabels[i]}\u0000${v}`),
    );
  }
}

/**
 * One task of the columnar form as the timeline reads it: the fields every row needs are plain
 * (copied from the columns, strings shared), the rest (cancel ticks, steps, finding kinds, the API
 * task for the panel) is made from the columns on first use. A 1,000,000-task shutdown so costs one
 * small object per task, not the dozen a decoded JSON task would.
 */
class ColumnTask implements TimelineTask {
  readonly id: string;
  readonly name: string;
  readonly verdict: string;
  readonly start: number;
  readonly created: number;
  readonly end: number;
  readonly clippedStart: boolean;
  readonly open: boolean;
  readonly coroutine: string;
  readonly site: string;
  readonly groupKey: string;
  readonly cancelRequested: number;
  readonly firstCancel: number;
  readonly lastCancel: number;
  private cachedTask: ApiTask | undefined;
  private cachedSteps: TimelineStep[] | undefined;

  constructor(
    private readonly cols: Columns,
    readonly index: number,
    windowStartMs: number,
  ) {
    const c = cols.c;
    const i = index;
    const site = c.site[i];
    const v = c.verdict[i];
    this.id = c.spanId[i];
    this.name = c.name[i];
    this.verdict = c.verdicts[v];
    const created = c.createdMs[i];
    this.created = created;
    this.clippedStart = created < windowStartMs;
    this.start = this.clippedStart ? windowStartMs : created;
    this.end = Math.max(this.start, c.endedMs[i]);
    const finalState = c.finalStates[c.finalState[i]];
    this.open = finalState === 'pending' || OPEN_VERDICTS.has(this.verdict) || (c.snapshot[i] === 1 && finalState !== 'cancelled');
    this.site = cols.siteLabels[site];
    const shared = cols.groupKeys[site];
    // the same rule as coroutineOf: the coroutine, else the function, else the task's own name
    this.coroutine = cols.coroutines[site] ?? this.name;
    this.groupKey = shared ? shared[v] : `${this.coroutine}\u0000${this.site}\u0000${this.verdict}`;
    this.cancelRequested = c.cancelRequestedMs[i] ?? Number.NaN;
    const from = c.cancelOffset[i];
    const to = c.cancelOffset[i + 1];
    let first = Number.NaN;
    let last = Number.NaN;
    for (let j = from; j < to; j++) {
      const t = c.cancelTimes[j];
      if (!(t >= first)) first = t;
      if (!(t <= last)) last = t;
    }
    this.firstCancel = first;
    this.lastCancel = last;
  }

  get cancels(): number[] {
    const c = this.cols.c;
    return c.cancelTimes.slice(c.cancelOffset[this.index], c.cancelOffset[this.index + 1]).sort((a, b) => a - b);
  }

  get steps(): TimelineStep[] {
    if (this.cachedSteps) return this.cachedSteps;
    const c = this.cols.c;
    const steps: TimelineStep[] = [];
    for (let j = c.stepOffset[this.index]; j < c.stepOffset[this.index + 1]; j++) {
      const s = c.stepStartMs[j];
      const e = c.stepEndMs[j];
      steps.push({
        kind: STEP_KINDS[c.stepKind[j]] ?? 'cleanup',
        name: c.stepNames[c.stepName[j]],
        start: s,
        end: Math.max(s, e === null ? this.end : e),
        outcome: c.stepOutcomes[c.stepOutcome[j]],
      });
    }
    this.cachedSteps = steps.sort((a, b) => a.start - b.start);
    return this.cachedSteps;
  }

  get findingKinds(): readonly string[] {
    const c = this.cols.c;
    let mask = c.findings[this.index];
    if (mask === 0) return NO_KINDS;
    const kinds: string[] = [];
    for (let k = 0; mask !== 0; k++, mask >>>= 1) if (mask & 1) kinds.push(c.findingKinds[k]);
    return kinds;
  }

  /** The task as the API's summary form (no events or attributes: the panel fetches the full task). */
  get task(): ApiTask {
    if (this.cachedTask) return this.cachedTask;
    const { c, originNs, service, instance } = this.cols;
    const i = this.index;
    const site = c.sites[c.site[i]] ?? {};
    const swallow = c.swallowSite[i] >= 0 ? c.swallowSites[c.swallowSite[i]] : undefined;
    this.cachedTask = {
      traceId: c.traces[c.trace[i]],
      spanId: this.id,
      name: this.name,
      verdict: this.verdict,
      findings: this.findingKinds.map((kind) => ({ kind, message: kind })),
      finalState: c.finalStates[c.finalState[i]],
      createdAt: nsAt(originNs, c.createdMs[i]),
      endedAt: nsAt(originNs, c.endedMs[i]),
      code: { filepath: site.filepath, lineno: site.lineno, function: site.function },
      coroutine: site.coroutine,
      snapshot: c.snapshot[i] === 1,
      events: [],
      service,
      instance,
      ...(c.taskId[i] ? { taskId: c.taskId[i] } : {}),
      ...(c.parentTaskId[i] ? { parentTaskId: c.parentTaskId[i] } : {}),
      ...(swallow ? { swallowSite: swallow } : {}),
      ...(Number.isFinite(this.cancelRequested) ? { cancelRequestedAt: nsAt(originNs, this.cancelRequested) } : {}),
    };
    return this.cachedTask;
  }

  /** True when the task is known only from a snapshot of its open span. */
  get snapshot(): boolean {
    return this.cols.c.snapshot[this.index] === 1;
  }

  /** `task.id`, when sent. */
  get taskId(): string | undefined {
    return this.cols.c.taskId[this.index] || undefined;
  }
}

/**
 * Turns the columnar form into timeline tasks (one light {@link ColumnTask} per task, the same
 * fields {@link toTimelineTask} gives a full task); times are already relative to the shutdown's
 * start. Bars start no earlier than `windowStartMs`. Pure.
 */
export function fromColumnar(body: ColumnarTimeline, windowStartMs: number): { timeline: TimelineTask[]; tasks: ApiTask[] } {
  const cols = new Columns(body.columnar, BigInt(body.originNs), body.shutdown.service, body.shutdown.instance);
  const n = body.columnar.count;
  const timeline: TimelineTask[] = new Array(n);
  for (let i = 0; i < n; i++) timeline[i] = new ColumnTask(cols, i, windowStartMs);
  return {
    timeline,
    // the API tasks are made on demand: a view that needs them all (compare) reads them through this array
    get tasks(): ApiTask[] {
      return timeline.map((t) => t.task);
    },
  };
}
