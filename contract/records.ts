/**
 * Record types shared by every stage of the pipeline (receive → process → store → judge → API).
 * Nothing else is shared between stages. Times are unix nanoseconds as `bigint` so that no
 * precision is lost; the API writes them as decimal strings, as OTLP JSON does.
 */

/** An attribute value as OTLP carries it (arrays and maps are kept as JSON-friendly values). */
export type AttrValue = string | number | boolean | bigint | null | AttrValue[] | { [key: string]: AttrValue };

/** Attributes keyed by name. */
export type Attrs = Record<string, AttrValue>;

/** One span event. */
export interface EventRecord {
  name: string;
  /** unix ns */
  time: bigint;
  attributes: Attrs;
}

/** One span link. */
export interface LinkRecord {
  traceId: string;
  spanId: string;
  attributes: Attrs;
}

/** What the processor decided a span is. */
export type SpanRole = 'task' | 'shutdown' | 'other';

/**
 * A span as stored: every span that arrives is kept in this form, judged or not.
 * Ids are lower-case hex (32 digits for a trace, 16 for a span).
 */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP SpanKind number (0 unspecified … 5 consumer) */
  kind: number;
  /** unix ns */
  startTime: bigint;
  /** unix ns; for a snapshot, the snapshot time */
  endTime: bigint;
  attributes: Attrs;
  events: EventRecord[];
  links: LinkRecord[];
  status: { code: number; message?: string };
  resource: Attrs;
  scope: { name: string; version?: string };
  role: SpanRole;
  /** `task.snapshot = true`: a copy of a still-open span; a later non-snapshot record replaces it */
  snapshot: boolean;
  /** `service.name` from the resource ('unknown_service' when absent) */
  service: string;
  /** `service.instance.id`, else `service.name:process.pid`, else the service name */
  instance: string;
}

/** The task final states of the contract. */
export type FinalState = 'cancelled' | 'completed' | 'failed' | 'pending' | 'destroyed';

/** The task verdicts of the contract. */
export type Verdict = 'cancelled' | 'swallowed' | 'replaced' | 'survivor' | 'destroyed' | 'orphan' | 'end_not_received' | 'finished';

/** Every verdict, in the order the API lists counts. */
export const VERDICTS: readonly Verdict[] = ['swallowed', 'survivor', 'replaced', 'destroyed', 'orphan', 'end_not_received', 'cancelled', 'finished'];

/** Verdicts that `canceltrace check` fails on by default and the dashboard shows in red. */
export const BAD_VERDICTS: readonly Verdict[] = ['swallowed', 'survivor', 'replaced', 'destroyed', 'orphan'];

/** The task findings of the contract. */
export type TaskFindingKind = 'cleanup_interrupted' | 'cleanup_timeout' | 'slow_cancel' | 'uncancel_misuse' | 'group_blocked';

/** The shutdown findings of the contract. */
export type ShutdownFindingKind = 'pending_not_at_baseline' | 'resource_not_released' | 'group_blocked';

/** A finding with a one-line explanation. */
export interface Finding<K extends string = string> {
  kind: K;
  message: string;
  /** extra facts, e.g. the cleanup's name or the resource's values */
  detail?: Record<string, string | number | boolean | null>;
}

/** Where code is: `code.filepath`, `code.lineno`, `code.function`. */
export interface CodeSite {
  filepath?: string;
  lineno?: number;
  function?: string;
}

/** A task span read through the contract. Built from a {@link SpanRecord} with role `task`. */
export interface TaskRecord {
  span: SpanRecord;
  traceId: string;
  spanId: string;
  name: string;
  service: string;
  instance: string;
  taskKind?: string;
  taskId?: string;
  coroutine?: string;
  parentTaskId?: string;
  groupId?: string;
  /** `task.created_at`, else the span start (unix ns) */
  createdAt: bigint;
  /** unix ns; the snapshot time for a snapshot */
  endTime: bigint;
  /** `task.final_state`; undefined on a span that did not say (judged from its status) */
  finalState?: FinalState;
  snapshot: boolean;
  code: CodeSite;
}

/** A shutdown span read through the contract. Built from a {@link SpanRecord} with role `shutdown`. */
export interface ShutdownRecord {
  span: SpanRecord;
  /** `<traceId>-<spanId>` */
  id: string;
  service: string;
  instance: string;
  reason: string;
  drainTimeoutMs?: number;
  /** `shutdown.outcome` as sent; undefined while the shutdown is open */
  outcome?: string;
  /** unix ns */
  start: bigint;
  /** unix ns; the last snapshot time while open */
  end: bigint;
  /** true while only snapshots of it have arrived */
  open: boolean;
}

/** A judged task. */
export interface JudgedTask {
  task: TaskRecord;
  verdict: Verdict;
  findings: Finding<TaskFindingKind>[];
  /** first cancel request that was not handed back (unix ns) */
  cancelRequestedAt?: bigint;
  /** where the cancellation was caught, when known */
  swallowSite?: CodeSite & { stack?: string };
}

/** A `{t, value}` sample series. */
export interface Sample {
  /** unix ns */
  t: bigint;
  value: number;
}

/** A judged shutdown: what `GET /api/shutdowns/:id` shows. */
export interface ShutdownReport {
  shutdown: ShutdownRecord;
  /** the outcome as sent, else derived: `open` while open, `survivors` or `clean` */
  outcome: string;
  tasks: JudgedTask[];
  counts: Partial<Record<Verdict, number>>;
  pending: Sample[];
  pendingBaseline: number;
  gauges: { name: string; baseline: number; samples: Sample[] }[];
  findings: Finding<ShutdownFindingKind>[];
  warnings: { t: bigint; message: string }[];
}

/** The one-method door between stages: each stage is given the next as a {@link Consumer}. */
export interface Consumer<T> {
  /** Takes a batch; a rejected promise means nothing of the batch was kept. */
  consume(batch: T[]): Promise<void>;
}
