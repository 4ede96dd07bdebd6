import type { Attrs, AttrValue, CodeSite, FinalState, ShutdownRecord, SpanRecord, SpanRole, TaskRecord } from './records.js';

/** Instrumentation scope name whose spans follow the task-lifecycle contract. */
export const CANCELTRACE_SCOPE = 'canceltrace';

/** Span attribute and event names of the contract (docs/conventions.md). */
export const ATTR = {
  taskKind: 'task.kind',
  taskId: 'task.id',
  taskName: 'task.name',
  coroutine: 'task.coroutine',
  parentId: 'task.parent_id',
  groupId: 'task.group_id',
  createdAt: 'task.created_at',
  finalState: 'task.final_state',
  snapshot: 'task.snapshot',
  shutdownDriver: 'task.shutdown_driver',
  swallowSite: 'task.swallow_site',
  swallowLine: 'task.swallow_line',
  codeFilepath: 'code.filepath',
  codeLineno: 'code.lineno',
  codeFunction: 'code.function',
  shutdownReason: 'shutdown.reason',
  drainTimeoutMs: 'shutdown.drain_timeout_ms',
  shutdownOutcome: 'shutdown.outcome',
  shutdownIncomplete: 'shutdown.incomplete',
  pendingBaseline: 'shutdown.pending_baseline',
  serviceName: 'service.name',
  serviceInstanceId: 'service.instance.id',
  processPid: 'process.pid',
  uncancelHandoff: 'uncancel.handoff',
  cancelScope: 'cancel.scope',
  cancelMessage: 'cancel.message',
  cancelCount: 'cancel.count',
  cleanupName: 'cleanup.name',
  cleanupOutcome: 'cleanup.outcome',
  shieldName: 'shield.name',
  shieldTimeoutMs: 'shield.timeout_ms',
  shieldOutcome: 'shield.outcome',
  pendingCount: 'tasks.pending.count',
  pendingSampleBaseline: 'tasks.pending.baseline',
  resourceName: 'resource.name',
  resourceValue: 'resource.value',
  resourceBaseline: 'resource.baseline',
  warningMessage: 'message',
  // The rest of what the recorders send (docs/conventions.md), so that every name has one spelling.
  taskMain: 'task.main',
  uncancelInferred: 'uncancel.inferred',
  spansDropped: 'canceltrace.spans_dropped',
  tasksCount: 'tasks.count',
  stack: 'task.stack',
  exceptionType: 'exception.type',
  exceptionMessage: 'exception.message',
  exceptionStacktrace: 'exception.stacktrace',
  exceptionEscaped: 'exception.escaped',
  processRuntimeName: 'process.runtime.name',
  processRuntimeVersion: 'process.runtime.version',
  telemetrySdkName: 'telemetry.sdk.name',
  telemetrySdkLanguage: 'telemetry.sdk.language',
} as const;

/** Event names of the contract. */
export const EVENT = {
  cancelRequested: 'task.cancel_requested',
  uncancel: 'task.uncancel',
  cleanupStart: 'task.cleanup.start',
  cleanupEnd: 'task.cleanup.end',
  shieldStart: 'task.shield.start',
  shieldEnd: 'task.shield.end',
  exception: 'exception',
  stack: 'task.stack',
  cancelAll: 'shutdown.cancel_all',
  pending: 'tasks.pending',
  gauge: 'resource.gauge',
  loopWarning: 'loop.warning',
  drained: 'shutdown.drained',
} as const;

/**
 * The span canceltrace sends downstream (`--forward`) when a shutdown's judgment settles: a child of
 * the shutdown span in the same trace, so a Jaeger or Tempo user sees the verdicts beside the shutdown.
 */
export const JUDGMENT = {
  /** the span's name */
  spanName: 'canceltrace.judgment',
  /** its instrumentation scope (not `canceltrace`: it is canceltrace's output, not a recorder's input) */
  scope: 'canceltrace.judge',
  /** one event per task with a bad verdict */
  taskEvent: 'canceltrace.task',
  /** span attribute: the shutdown id (`<traceId>-<spanId>`) */
  shutdownId: 'canceltrace.shutdown.id',
  /** span attribute: the judged outcome (`clean`, `survivors`, `timeout`, `open`, ...) */
  outcome: 'canceltrace.shutdown.outcome',
  /** span attribute: why the judgment settled: `ended` (the shutdown span ended) or `process_gone` */
  settledBy: 'canceltrace.judgment.settled_by',
  /** span attribute: how many tasks the shutdown view holds */
  tasksCount: 'canceltrace.tasks.count',
  /** span attribute prefix: `canceltrace.verdict.<verdict>.count` per verdict (see {@link verdictCountAttr}) */
  verdictCountPrefix: 'canceltrace.verdict.',
  /** span attribute, string array: the kinds of the shutdown's findings */
  findings: 'canceltrace.findings',
  /** span attribute, string array: the findings' messages, in the same order */
  findingMessages: 'canceltrace.findings.messages',
  /** event attribute: the task span's id (16 hex digits) */
  taskSpanId: 'canceltrace.task.span_id',
  /** event attribute: the task span's trace id (it may differ from the shutdown's) */
  taskTraceId: 'canceltrace.task.trace_id',
  /** event attribute: the task's verdict */
  verdict: 'canceltrace.verdict',
  /** event attribute, string array: the task's finding kinds */
  taskFindings: 'canceltrace.task.findings',
} as const;

/** The judgment span attribute counting one verdict: `canceltrace.verdict.<verdict>.count`. */
export function verdictCountAttr(verdict: string): string {
  return `${JUDGMENT.verdictCountPrefix}${verdict}.count`;
}

const FINAL_STATES: ReadonlySet<string> = new Set(['cancelled', 'completed', 'failed', 'pending', 'destroyed']);

/** Reads a string attribute, or undefined. */
export function str(attrs: Attrs, key: string): string | undefined {
  const v = attrs[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** Reads a numeric attribute (int, double, or a numeric string), or undefined. */
export function num(attrs: Attrs, key: string): number | undefined {
  const v: AttrValue | undefined = attrs[key];
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

/** Reads an integer attribute as unix ns (`bigint`), or undefined. */
export function nanos(attrs: Attrs, key: string): bigint | undefined {
  const v = attrs[key];
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.trunc(v));
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  return undefined;
}

/** Reads a boolean attribute (true, "true", 1). */
export function bool(attrs: Attrs, key: string): boolean {
  const v = attrs[key];
  return v === true || v === 'true' || v === 1;
}

/** Which role a span plays: a task, a shutdown, or another span (stored, shown, not judged). */
export function roleOf(attributes: Attrs, scopeName: string): SpanRole {
  if (attributes[ATTR.shutdownReason] !== undefined) return 'shutdown';
  if (attributes[ATTR.taskKind] !== undefined) return 'task';
  if (scopeName === CANCELTRACE_SCOPE) {
    if (attributes[ATTR.finalState] !== undefined || attributes[ATTR.taskId] !== undefined) return 'task';
  }
  return 'other';
}

/** The service name of a resource. */
export function serviceOf(resource: Attrs): string {
  return str(resource, ATTR.serviceName) ?? 'unknown_service';
}

/** The instance key of a resource: `service.instance.id`, else `service.name:process.pid`, else the service. */
export function instanceOf(resource: Attrs): string {
  const id = str(resource, ATTR.serviceInstanceId);
  if (id) return id;
  const service = serviceOf(resource);
  const pid = str(resource, ATTR.processPid);
  return pid ? `${service}:${pid}` : service;
}

/** The code site in a set of attributes (`code.filepath`, `code.lineno`, `code.function`). */
export function codeSiteOf(attrs: Attrs): CodeSite {
  const site: CodeSite = {};
  const filepath = str(attrs, ATTR.codeFilepath);
  const lineno = num(attrs, ATTR.codeLineno);
  const fn = str(attrs, ATTR.codeFunction);
  if (filepath !== undefined) site.filepath = filepath;
  if (lineno !== undefined) site.lineno = lineno;
  if (fn !== undefined) site.function = fn;
  return site;
}

/** Reads a task span through the contract. */
export function readTask(span: SpanRecord): TaskRecord {
  const a = span.attributes;
  const state = str(a, ATTR.finalState);
  const record: TaskRecord = {
    span,
    traceId: span.traceId,
    spanId: span.spanId,
    name: str(a, ATTR.taskName) ?? span.name,
    service: span.service,
    instance: span.instance,
    createdAt: nanos(a, ATTR.createdAt) ?? span.startTime,
    endTime: span.endTime,
    snapshot: span.snapshot,
    code: codeSiteOf(a),
  };
  const optional: [keyof TaskRecord, string][] = [
    ['taskKind', ATTR.taskKind],
    ['taskId', ATTR.taskId],
    ['coroutine', ATTR.coroutine],
    ['parentTaskId', ATTR.parentId],
    ['groupId', ATTR.groupId],
  ];
  for (const [field, key] of optional) {
    const v = str(a, key);
    if (v !== undefined) (record as unknown as Record<string, unknown>)[field] = v;
  }
  if (state !== undefined && FINAL_STATES.has(state)) record.finalState = state as FinalState;
  else if (span.snapshot) record.finalState = 'pending';
  return record;
}

/** The shutdown id used by the API: `<traceId>-<spanId>`. */
export function shutdownId(traceId: string, spanId: string): string {
  return `${traceId}-${spanId}`;
}

/** Reads a shutdown span through the contract. */
export function readShutdown(span: SpanRecord): ShutdownRecord {
  const a = span.attributes;
  const record: ShutdownRecord = {
    span,
    id: shutdownId(span.traceId, span.spanId),
    service: span.service,
    instance: span.instance,
    reason: str(a, ATTR.shutdownReason) ?? 'unknown',
    start: span.startTime,
    end: span.endTime,
    open: span.snapshot,
  };
  const drain = num(a, ATTR.drainTimeoutMs);
  if (drain !== undefined) record.drainTimeoutMs = drain;
  const outcome = str(a, ATTR.shutdownOutcome);
  if (outcome !== undefined && !span.snapshot) record.outcome = outcome;
  return record;
}

/**
 * Which of two records for the same (trace id, span id) wins: a final record beats a snapshot,
 * and between two of the same kind the one that ends later wins (then the one with more events).
 * Exact ties keep the first argument; dedupeRecords (server/judge) breaks those by content.
 */
export function newerRecord<T extends Pick<SpanRecord, 'snapshot' | 'endTime' | 'events'>>(a: T, b: T): T {
  if (a.snapshot !== b.snapshot) return a.snapshot ? b : a;
  if (a.endTime !== b.endTime) return b.endTime > a.endTime ? b : a;
  return b.events.length > a.events.length ? b : a;
}
