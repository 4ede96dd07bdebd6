import { readShutdown, readTask } from '../../contract/contract.js';
import type { Attrs, EventRecord, FinalState, ShutdownRecord, SpanRecord, TaskRecord } from '../../contract/records.js';

/** One millisecond and one second in ns, for readable test times. */
export const MS = 1_000_000n;
export const SEC = 1_000_000_000n;
/** A fixed epoch (unix ns) so that test times stay small offsets. */
export const T0 = 1_700_000_000n * SEC;

/** The trace id the builders use unless told otherwise. */
export const TRACE = '0af7651916cd43dd8448eb211c80319c';
/** The instance the builders use unless told otherwise. */
export const INSTANCE = 'svc-1';

let nextSpan = 1;

/** A fresh 16-hex-digit span id. */
export function newSpanId(): string {
  return (nextSpan++).toString(16).padStart(16, '0');
}

/** One span event at `T0 + at`. */
export function ev(name: string, at: bigint, attributes: Attrs = {}): EventRecord {
  return { name, time: T0 + at, attributes };
}

/** What a test says about a span; everything has a default. Times are offsets from {@link T0}. */
export interface SpanSpec {
  traceId?: string;
  spanId?: string;
  name?: string;
  start?: bigint;
  end?: bigint;
  attributes?: Attrs;
  events?: EventRecord[];
  status?: { code: number; message?: string };
  snapshot?: boolean;
  instance?: string;
  service?: string;
}

/** A task span in stored form: `task.kind`, `task.id` and `task.final_state` set from the spec. */
export interface TaskSpec extends SpanSpec {
  taskId?: string;
  /** `null`: send no `task.final_state` at all */
  finalState?: FinalState | null;
}

function span(spec: SpanSpec, role: SpanRecord['role'], attributes: Attrs): SpanRecord {
  const snapshot = spec.snapshot ?? false;
  const service = spec.service ?? 'svc';
  return {
    traceId: spec.traceId ?? TRACE,
    spanId: spec.spanId ?? newSpanId(),
    name: spec.name ?? (role === 'shutdown' ? 'shutdown' : 'task'),
    kind: 1,
    startTime: T0 + (spec.start ?? 0n),
    endTime: T0 + (spec.end ?? SEC),
    attributes: snapshot ? { ...attributes, 'task.snapshot': true } : attributes,
    events: spec.events ?? [],
    links: [],
    status: spec.status ?? { code: 0 },
    resource: { 'service.name': service, 'service.instance.id': spec.instance ?? INSTANCE },
    scope: { name: 'canceltrace' },
    role,
    snapshot,
    service,
    instance: spec.instance ?? INSTANCE,
  };
}

/** A task span; defaults: asyncio, final state `completed` (`pending` for a snapshot), 0 → 1 s. */
export function taskSpan(spec: TaskSpec = {}): SpanRecord {
  const attributes: Attrs = { 'task.kind': 'asyncio', ...(spec.attributes ?? {}) };
  if (spec.taskId !== undefined) attributes['task.id'] = spec.taskId;
  const state = spec.finalState === undefined ? (spec.snapshot ? 'pending' : 'completed') : spec.finalState;
  if (state !== null) attributes['task.final_state'] = state;
  return span(spec, 'task', attributes);
}

/** A task span read through the contract, as the judge receives it. */
export function task(spec: TaskSpec = {}): TaskRecord {
  return readTask(taskSpan(spec));
}

/** What a test says about a shutdown span. */
export interface ShutdownSpec extends SpanSpec {
  reason?: string;
  outcome?: string;
}

/** A shutdown span; defaults: SIGTERM, 0 → 1 s, no outcome. */
export function shutdownSpan(spec: ShutdownSpec = {}): SpanRecord {
  const attributes: Attrs = { 'shutdown.reason': spec.reason ?? 'SIGTERM', ...(spec.attributes ?? {}) };
  if (spec.outcome !== undefined) attributes['shutdown.outcome'] = spec.outcome;
  return span(spec, 'shutdown', attributes);
}

/** A shutdown span read through the contract. */
export function shutdown(spec: ShutdownSpec = {}): ShutdownRecord {
  return readShutdown(shutdownSpan(spec));
}

/** Common task events, times as offsets from {@link T0}. */
export const events = {
  cancel: (at: bigint, attrs: Attrs = {}) => ev('task.cancel_requested', at, attrs),
  uncancel: (at: bigint, handoff: boolean) => ev('task.uncancel', at, handoff ? { 'uncancel.handoff': true } : {}),
  cleanupStart: (at: bigint, name: string) => ev('task.cleanup.start', at, { 'cleanup.name': name }),
  cleanupEnd: (at: bigint, name: string, outcome: string) => ev('task.cleanup.end', at, { 'cleanup.name': name, 'cleanup.outcome': outcome }),
  shieldStart: (at: bigint, timeoutMs: number) => ev('task.shield.start', at, { 'shield.timeout_ms': timeoutMs }),
  shieldEnd: (at: bigint, outcome: string) => ev('task.shield.end', at, { 'shield.outcome': outcome }),
  exception: (at: bigint, type: string, attrs: Attrs = {}) => ev('exception', at, { 'exception.type': type, ...attrs }),
  pending: (at: bigint, count: number, attrs: Attrs = {}) => ev('tasks.pending', at, { 'tasks.pending.count': count, ...attrs }),
  gauge: (at: bigint, name: string, value: number, attrs: Attrs = {}) => ev('resource.gauge', at, { 'resource.name': name, 'resource.value': value, ...attrs }),
  warning: (at: bigint, message: string) => ev('loop.warning', at, { message }),
};
