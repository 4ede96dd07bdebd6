/**
 * The HTTP API's JSON shapes as the dashboard reads them (docs/conventions.md, "HTTP API").
 * Times are unix nanoseconds written as decimal strings; the dashboard converts them to
 * milliseconds relative to an origin before any arithmetic (see layout/nsToMs.ts).
 */

/** A task verdict (contract/records.ts `Verdict`, kept as a string so an unknown one still renders). */
export type VerdictName = 'cancelled' | 'swallowed' | 'replaced' | 'survivor' | 'destroyed' | 'orphan' | 'finished' | (string & {});

/** A finding with its one-line message. */
export interface ApiFinding {
  kind: string;
  message: string;
  detail?: Record<string, string | number | boolean | null>;
}

/** Where code is. */
export interface ApiCodeSite {
  filepath?: string;
  lineno?: number;
  function?: string;
}

/** One span event. */
export interface ApiEvent {
  name: string;
  time: string;
  attributes: Record<string, unknown>;
}

/** One row of GET /api/shutdowns. */
export interface ApiShutdownSummary {
  id: string;
  service: string;
  instance: string;
  reason: string;
  start: string;
  end: string;
  open: boolean;
  outcome: string;
  drainTimeoutMs?: number;
  counts: Partial<Record<string, number>>;
}

/** The shutdown part of GET /api/shutdowns/:id. */
export interface ApiShutdown extends Omit<ApiShutdownSummary, 'counts'> {
  traceId: string;
  spanId: string;
  attributes: Record<string, unknown>;
  events: ApiEvent[];
}

/** A judged task as the API writes it. */
export interface ApiTask {
  traceId: string;
  spanId: string;
  name: string;
  verdict: VerdictName;
  findings: ApiFinding[];
  finalState?: string;
  createdAt: string;
  cancelRequestedAt?: string;
  endedAt: string;
  code: ApiCodeSite;
  coroutine?: string;
  taskId?: string;
  parentTaskId?: string;
  groupId?: string;
  taskKind?: string;
  snapshot: boolean;
  swallowSite?: ApiCodeSite & { stack?: string };
  events: ApiEvent[];
  /** absent in the summary form (`?tasks=summary`): the full task comes from /api/shutdowns/:id/tasks/:spanId */
  attributes?: Record<string, unknown>;
  service: string;
  instance: string;
}

/** GET /api/shutdowns/:id. */
export interface ApiShutdownReport {
  shutdown: ApiShutdown;
  outcome?: string;
  counts?: Partial<Record<string, number>>;
  tasks: ApiTask[];
  pending: { t: string; count: number }[];
  pendingBaseline: number;
  gauges: { name: string; baseline: number; samples: { t: string; value: number }[] }[];
  findings: ApiFinding[];
  warnings: { t: string; message: string }[];
}

/** GET /api/tasks. */
export interface ApiTaskPage {
  tasks: ApiTask[];
  nextCursor?: string;
}
