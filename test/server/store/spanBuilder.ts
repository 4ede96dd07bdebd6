import type { Attrs, EventRecord, SpanRecord, TaskRecord, Verdict } from '../../../contract/records.js';

/** What a test says about a span; everything else gets a plain default. */
export interface SpanSpec {
  trace?: number;
  span?: number;
  service?: string;
  instance?: string;
  start?: bigint;
  end?: bigint;
  snapshot?: boolean;
  attributes?: Attrs;
  events?: EventRecord[];
  name?: string;
}

/** A trace id from a small number, so tests can name traces 1, 2, 3. */
export function traceId(n: number): string {
  return n.toString(16).padStart(32, '0');
}

/** A span id from a small number. */
export function spanId(n: number): string {
  return n.toString(16).padStart(16, '0');
}

let nextSpan = 1;

/** A span of role `other`. */
export function otherSpan(spec: SpanSpec = {}): SpanRecord {
  const start = spec.start ?? 1_000n;
  const service = spec.service ?? 'svc';
  const instance = spec.instance ?? 'svc-1';
  return {
    traceId: traceId(spec.trace ?? 1),
    spanId: spanId(spec.span ?? nextSpan++),
    name: spec.name ?? 'span',
    kind: 1,
    startTime: start,
    endTime: spec.end ?? start + 10n,
    attributes: spec.attributes ?? {},
    events: spec.events ?? [],
    links: [],
    status: { code: 0 },
    resource: { 'service.name': service, 'service.instance.id': instance },
    scope: { name: 'canceltrace', version: '0.1.0' },
    role: 'other',
    snapshot: spec.snapshot ?? false,
    service,
    instance,
  };
}

/** A task span; `state` becomes `task.final_state` (a snapshot is always `pending`). */
export function taskSpan(spec: SpanSpec & { state?: string; created?: bigint; cancelled?: boolean } = {}): SpanRecord {
  const snapshot = spec.snapshot ?? false;
  const attributes: Attrs = {
    'task.kind': 'asyncio',
    'task.final_state': snapshot ? 'pending' : (spec.state ?? 'completed'),
    ...(snapshot ? { 'task.snapshot': true } : {}),
    ...(spec.created !== undefined ? { 'task.created_at': spec.created } : {}),
    ...spec.attributes,
  };
  const start = spec.start ?? 1_000n;
  const events = spec.events ?? (spec.cancelled ? [{ name: 'task.cancel_requested', time: start + 1n, attributes: {} }] : []);
  return { ...otherSpan({ ...spec, attributes, events, name: spec.name ?? 'worker' }), role: 'task', snapshot };
}

/** A shutdown span; open (a snapshot) unless `outcome` is given. */
export function shutdownSpan(spec: SpanSpec & { outcome?: string; reason?: string } = {}): SpanRecord {
  const snapshot = spec.outcome === undefined;
  const attributes: Attrs = {
    'shutdown.reason': spec.reason ?? 'SIGTERM',
    ...(spec.outcome !== undefined ? { 'shutdown.outcome': spec.outcome } : { 'task.snapshot': true }),
    ...spec.attributes,
  };
  return { ...otherSpan({ ...spec, attributes, name: 'shutdown' }), role: 'shutdown', snapshot };
}

/**
 * A small stand-in for the judge's verdict of a task judged alone, enough to give the verdict
 * column distinct values: cancel requested or not, and how the task ended.
 */
export function verdictAlone(task: TaskRecord): Verdict {
  const cancelled = task.span.events.some((e) => e.name === 'task.cancel_requested');
  switch (task.finalState) {
    case 'cancelled':
      return 'cancelled';
    case 'completed':
      return cancelled ? 'swallowed' : 'finished';
    case 'failed':
      return cancelled ? 'replaced' : 'finished';
    case 'destroyed':
      return 'destroyed';
    default:
      return cancelled ? 'survivor' : 'orphan';
  }
}
