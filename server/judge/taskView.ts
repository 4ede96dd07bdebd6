import { STEP_KINDS } from '../../contract/columnar.js';
import { ATTR, bool, EVENT, str } from '../../contract/contract.js';
import type { CodeSite, EventRecord, JudgedTask, TaskRecord, Verdict } from '../../contract/records.js';
import { pairSteps } from '../../contract/steps.js';
import { finalStateOf } from './finalStateOf.js';
import { judgeTask } from './judgeTask.js';
import { type JudgeOptions, resolveJudgeOptions } from './options.js';
import { sameJson } from './sameJson.js';
import { splitNs } from './TimeColumn.js';

/** Version of the {@link TaskView} layout; a stored view of another version is rebuilt from the record. */
export const TASK_VIEW_VERSION = 1;

/**
 * A time as a view keeps it: nanoseconds after the task record's end (negative: before it), a number
 * while it is a safe integer, else its decimal text. Every time of a task is near its end, so the
 * text form is for the odd record only and the reader stays exact either way.
 */
export type ViewTime = number | string;

/** A swallow site as a view keeps it: `[filepath, lineno, function]`, each null when unknown. */
export type ViewSite = [filepath: string | null, lineno: number | null, fn: string | null];

/** One judgment of the task: verdict, finding kinds in order, the cancel request it counts, where it swallowed. */
export type ViewPart = [verdict: Verdict, findingKinds: string[], cancelRequestedAt: ViewTime | null, swallowSite: ViewSite | null];

/** A cleanup or shield step: kind (index in STEP_KINDS), name, start, end (null: never), outcome (null: none). */
export type ViewStep = [kind: number, name: string, start: ViewTime, end: ViewTime | null, outcome: string | null];

/**
 * What every brief view of a shutdown reads of one task (the compact and columnar forms, the list's
 * counts, a settled shutdown's judgment), as one positional array: made once when the task's record
 * is written, kept as JSON text beside it, and read without rebuilding the record. It holds the task's
 * judgment for each window it can be read in (see storedJudgment.ts): `open` (an open window, or the
 * task alone), `inTime` (a closed window it ended within) and `late` (a closed window that ended before
 * it did), the last two as 0 where they equal `open`.
 */
export type TaskView = [
  version: typeof TASK_VIEW_VERSION,
  /** the judge options the judgments were made with (judgeOptionsKey): under others the view is rebuilt */
  options: string,
  traceId: string,
  spanId: string,
  snapshot: 0 | 1,
  /** the record's end (unix ns) as whole seconds and the nanoseconds left (see splitNs): read without a bigint */
  endSec: number,
  endRem: number,
  name: string,
  coroutine: string | null,
  filepath: string | null,
  lineno: number | null,
  fn: string | null,
  /** `task.final_state` as read (undefined on a span that did not say: null) */
  finalState: string | null,
  /** the state the judge uses (finalStateOf) */
  state: string,
  taskId: string | null,
  parentTaskId: string | null,
  groupId: string | null,
  /** 1: the task drives the shutdown (`task.shutdown_driver`) */
  driver: 0 | 1,
  swallowLine: string | null,
  createdAt: ViewTime,
  /** every `task.cancel_requested`, in time order */
  cancels: ViewTime[],
  steps: ViewStep[],
  /** `loop.warning` events: time and message */
  warnings: [ViewTime, string][],
  open: ViewPart,
  inTime: ViewPart | 0,
  late: ViewPart | 0,
];

/** Elements of a {@link TaskView}. */
const VIEW_LENGTH = 26;

/** Where each element of a {@link TaskView} is. */
export const V = {
  traceId: 2,
  spanId: 3,
  snapshot: 4,
  endSec: 5,
  endRem: 6,
  name: 7,
  coroutine: 8,
  filepath: 9,
  lineno: 10,
  fn: 11,
  finalState: 12,
  state: 13,
  taskId: 14,
  parentTaskId: 15,
  groupId: 16,
  driver: 17,
  swallowLine: 18,
  createdAt: 19,
  cancels: 20,
  steps: 21,
  warnings: 22,
  open: 23,
  inTime: 24,
  late: 25,
} as const;

/** The key of a set of judge options, so that a judgment made under other options is not reused. */
export function judgeOptionsKey(options?: Partial<JudgeOptions>): string {
  const { slowCancelNs, clockToleranceNs } = resolveJudgeOptions(options);
  return `${slowCancelNs}/${clockToleranceNs}`;
}

/** A time relative to `base`, exact (see {@link ViewTime}). */
function viewTime(t: bigint, base: bigint): ViewTime {
  const d = t - base;
  const n = Number(d);
  return Number.isSafeInteger(n) ? n : d.toString();
}

/** The events in time order (a stable sort); a span that sent them in order is not copied. */
function inTimeOrder(events: readonly EventRecord[]): readonly EventRecord[] {
  for (let i = 1; i < events.length; i++) {
    if (events[i].time < events[i - 1].time) return [...events].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  }
  return events;
}

function viewSite(site: CodeSite | undefined): ViewSite | null {
  return site === undefined ? null : [site.filepath ?? null, site.lineno ?? null, site.function ?? null];
}

function partOf(judged: JudgedTask, base: bigint): ViewPart {
  return [
    judged.verdict,
    judged.findings.map((f) => f.kind),
    judged.cancelRequestedAt === undefined ? null : viewTime(judged.cancelRequestedAt, base),
    viewSite(judged.swallowSite),
  ];
}

/** True when two parts say the same. */
function samePart(a: ViewPart, b: ViewPart): boolean {
  return sameJson(a, b);
}

/**
 * The three judgments of a task, one per kind of window it can be read in (see {@link TaskView}), each
 * made by {@link judgeTask} itself so that the rules stay in one place.
 */
export function judgeEveryWindow(task: TaskRecord, options?: Partial<JudgeOptions>): { open: JudgedTask; inTime: JudgedTask; late: JudgedTask } {
  const { clockToleranceNs } = resolveJudgeOptions(options);
  return {
    open: judgeTask(task, { end: task.endTime, open: true }, options),
    // Ended within: the window ends exactly when the task does. Ended after: it ends before the tolerance.
    inTime: judgeTask(task, { end: task.endTime, open: false }, options),
    late: judgeTask(task, { end: task.endTime - clockToleranceNs - 1n, open: false }, options),
  };
}

/** The {@link TaskView} of a task, from its record and its judgments in every window. */
export function taskViewOf(task: TaskRecord, judged: ReturnType<typeof judgeEveryWindow>, options?: Partial<JudgeOptions>): TaskView {
  const base = task.endTime;
  const events = inTimeOrder(task.span.events);
  const cancels: ViewTime[] = [];
  const warnings: [ViewTime, string][] = [];
  for (const e of events) {
    if (e.name === EVENT.cancelRequested) cancels.push(viewTime(e.time, base));
    else if (e.name === EVENT.loopWarning) warnings.push([viewTime(e.time, base), str(e.attributes, ATTR.warningMessage) ?? '']);
  }
  const steps = pairSteps<bigint, EventRecord>(events).map((step): ViewStep => {
    const start = (step.startEvent ?? step.endEvent)!.time;
    return [STEP_KINDS.indexOf(step.kind), step.name, viewTime(start, base), step.endEvent ? viewTime(step.endEvent.time, base) : null, step.outcome ?? null];
  });
  const open = partOf(judged.open, base);
  const inTime = partOf(judged.inTime, base);
  const late = partOf(judged.late, base);
  const [endSec, endRem] = splitNs(task.endTime);
  return [
    TASK_VIEW_VERSION,
    judgeOptionsKey(options),
    task.traceId,
    task.spanId,
    task.snapshot ? 1 : 0,
    endSec,
    endRem,
    task.name,
    task.coroutine ?? null,
    task.code.filepath ?? null,
    task.code.lineno ?? null,
    task.code.function ?? null,
    task.finalState ?? null,
    finalStateOf(task),
    task.taskId ?? null,
    task.parentTaskId ?? null,
    task.groupId ?? null,
    bool(task.span.attributes, ATTR.shutdownDriver) ? 1 : 0,
    str(task.span.attributes, ATTR.swallowLine) ?? null,
    viewTime(task.createdAt, base),
    cancels,
    steps,
    warnings,
    open,
    samePart(inTime, open) ? 0 : inTime,
    samePart(late, open) ? 0 : late,
  ];
}

/** A task's view, judged here from its record (a store that kept none, a row written before views were kept). */
export function viewOfTask(task: TaskRecord, options?: Partial<JudgeOptions>): TaskView {
  return taskViewOf(task, judgeEveryWindow(task, options), options);
}

/**
 * The view from its stored text, or undefined when the text is not a view of this version made under
 * these judge options (then rebuild it from the record).
 */
export function parseTaskView(text: string | null | undefined, optionsKey: string): TaskView | undefined {
  if (!text) return undefined;
  let view: unknown;
  try {
    view = JSON.parse(text);
  } catch {
    return undefined;
  }
  return Array.isArray(view) && view[0] === TASK_VIEW_VERSION && view[1] === optionsKey && view.length === VIEW_LENGTH ? (view as TaskView) : undefined;
}
