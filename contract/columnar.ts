/**
 * The columnar wire form of a shutdown's tasks (`GET /api/shutdowns/:id/timeline`): one array per
 * field, index i of every array describing task i, with repeated strings (creation sites, swallow
 * sites, verdicts, step names) interned. A browser reads it without building an object per task.
 * Browser-safe: types and constants only.
 */

/** Version of the form; a client that reads another one asks for the full report instead. */
export const COLUMNAR_VERSION = 1;

/** A code site as interned in {@link ColumnarTasks.sites} and {@link ColumnarTasks.swallowSites}. */
export interface ColumnarSite {
  coroutine?: string;
  filepath?: string;
  lineno?: number;
  function?: string;
  /** the source line's text, when the recorder sent it (swallow sites only) */
  line?: string;
}

/** Step kinds, by their index in {@link ColumnarTasks.stepKind}. */
export const STEP_KINDS = ['cleanup', 'shield'] as const;

/**
 * The tasks of one shutdown as parallel arrays. Times are milliseconds relative to the shutdown's
 * start (`originNs`), rounded to the microsecond; `null` where a time is unknown.
 */
export interface ColumnarTasks {
  count: number;
  spanId: string[];
  /** interned trace ids; `trace[i]` indexes it */
  traces: string[];
  trace: number[];
  name: string[];
  /** verdict vocabulary; `verdict[i]` indexes it */
  verdicts: string[];
  verdict: number[];
  /** interned creation sites (with the coroutine); `site[i]` indexes it */
  sites: ColumnarSite[];
  site: number[];
  /** interned swallow sites; `swallowSite[i]` indexes it, -1 when none */
  swallowSites: ColumnarSite[];
  swallowSite: number[];
  finalStates: string[];
  finalState: number[];
  /** 1 when the task is known only from a snapshot of its open span */
  snapshot: number[];
  createdMs: number[];
  endedMs: number[];
  /** the first cancel request that was not handed back, or null */
  cancelRequestedMs: (number | null)[];
  /** every `task.cancel_requested` of task i: `cancelTimes[cancelOffset[i] .. cancelOffset[i + 1])` */
  cancelOffset: number[];
  cancelTimes: number[];
  /** cleanup/shield steps of task i: indices `stepOffset[i] .. stepOffset[i + 1]` of the step arrays */
  stepOffset: number[];
  /** index into {@link STEP_KINDS} */
  stepKind: number[];
  stepNames: string[];
  stepName: number[];
  stepStartMs: number[];
  /** null: the step never ended */
  stepEndMs: (number | null)[];
  /** outcome vocabulary (`interrupted` when the end never came); `stepOutcome[j]` indexes it */
  stepOutcomes: string[];
  stepOutcome: number[];
  /** finding kinds; `findings[i]` is a bit mask over them (bit k set: the task has findingKinds[k]) */
  findingKinds: string[];
  findings: number[];
  /** `task.id` and `task.parent_id`, '' when absent (the parent link of the task panel) */
  taskId: string[];
  parentTaskId: string[];
}
