import { EVENT } from '../../contract/contract.js';
import type { EventRecord, JudgedTask, ShutdownRecord, ShutdownReport, Verdict } from '../../contract/records.js';
import { pairSteps } from '../../contract/steps.js';

/** JSON.stringify replacer: bigints (unix ns, int64 attributes) become decimal strings, as in OTLP JSON. */
export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/**
 * The JSON text of an API body: the same text as `JSON.stringify(body, bigintReplacer)`, but
 * without the replacer function (which takes JSON.stringify off its fast path for the whole
 * document) when the body holds no bigint, as the compact shutdown view does; a body that does
 * makes the plain attempt fail with a TypeError and is written with the replacer.
 */
export function toJsonText(body: unknown): string {
  try {
    return JSON.stringify(body);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return JSON.stringify(body, bigintReplacer);
  }
}

/** A time as the API writes it: unix ns as a decimal string (undefined stays undefined and is left out). */
function nsText(t: bigint): string;
function nsText(t: bigint | undefined): string | undefined;
function nsText(t: bigint | undefined): string | undefined {
  return t === undefined ? undefined : t.toString();
}

/** A copy of a small value with every bigint as a decimal string. */
function withoutBigints(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(withoutBigints);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = withoutBigints((value as Record<string, unknown>)[key]);
    if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  return out;
}

/** A shutdown as the API lists it. */
export function shutdownJson(shutdown: ShutdownRecord, outcome: string, counts: Partial<Record<Verdict, number>>) {
  return {
    id: shutdown.id,
    traceId: shutdown.span.traceId,
    spanId: shutdown.span.spanId,
    service: shutdown.service,
    instance: shutdown.instance,
    reason: shutdown.reason,
    start: shutdown.start,
    end: shutdown.end,
    open: shutdown.open,
    outcome,
    drainTimeoutMs: shutdown.drainTimeoutMs,
    counts,
  };
}

/** A judged task as the API shows it. */
export function taskJson(judged: JudgedTask) {
  const { task } = judged;
  return {
    traceId: task.traceId,
    spanId: task.spanId,
    parentSpanId: task.span.parentSpanId,
    name: task.name,
    verdict: judged.verdict,
    findings: judged.findings,
    finalState: task.finalState,
    createdAt: task.createdAt,
    cancelRequestedAt: judged.cancelRequestedAt,
    endedAt: task.endTime,
    code: task.code,
    coroutine: task.coroutine,
    taskId: task.taskId,
    parentTaskId: task.parentTaskId,
    groupId: task.groupId,
    taskKind: task.taskKind,
    snapshot: task.snapshot,
    swallowSite: judged.swallowSite,
    service: task.service,
    instance: task.instance,
    status: task.span.status,
    // Shared, not copied: copying 400,000 events of a large shutdown cost more than the replacer saves.
    events: task.span.events,
    attributes: task.span.attributes,
  };
}

/** The whole shutdown view. */
export function reportJson(report: ShutdownReport) {
  const { shutdown } = report;
  return {
    shutdown: {
      ...shutdownJson(shutdown, report.outcome, report.counts),
      attributes: shutdown.span.attributes,
      events: shutdown.span.events,
      resource: shutdown.span.resource,
    },
    tasks: report.tasks.map(taskJson),
    pending: report.pending.map((s) => ({ t: s.t, count: s.value })),
    pendingBaseline: report.pendingBaseline,
    gauges: report.gauges,
    findings: report.findings,
    warnings: report.warnings,
  };
}

/** A cleanup or shield step of the compact form: kind, name, start ns, end ns (null: never ended), outcome. */
type CompactStep = ['cleanup' | 'shield', string, string, string | null, string | null];

/** The events in time order (a stable sort); most spans send them in order already, and are not copied. */
function inTimeOrder(events: readonly EventRecord[]): readonly EventRecord[] {
  for (let i = 1; i < events.length; i++) {
    if (events[i].time < events[i - 1].time) {
      return [...events].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    }
  }
  return events;
}

/** Cancel request times and cleanup/shield steps of a task, paired in time order. */
function stepsOf(judged: JudgedTask): { cancels: string[]; steps: CompactStep[] } {
  const events = inTimeOrder(judged.task.span.events);
  const cancels: string[] = [];
  for (const e of events) if (e.name === EVENT.cancelRequested) cancels.push(e.time.toString());
  const steps = pairSteps<bigint, EventRecord>(events).map((step): CompactStep => {
    const start = (step.startEvent ?? step.endEvent)!.time.toString();
    return [step.kind, step.name, start, step.endEvent ? step.endEvent.time.toString() : null, step.outcome ?? null];
  });
  return { cancels, steps };
}

/** A compact task tuple (see {@link compactReportJson}). */
type CompactTask = [string, string, string, number, string, string, string, 0 | 1, string[], CompactStep[]];

/**
 * The compact view's parts: everything but the tasks (small, without bigints), the interned sites,
 * and a function that writes the tuple of the i-th task, so that a streamed response makes one
 * tuple at a time instead of a million at once.
 */
function compactParts(report: ShutdownReport) {
  // Everything but the tasks is small: its bigints become strings here, so that toJsonText needs no replacer.
  const { tasks: _full, ...rest } = withoutBigints(reportJson({ ...report, tasks: [] })) as ReturnType<typeof reportJson>;
  const sites: { coroutine?: string; filepath?: string; lineno?: number; function?: string }[] = [];
  const siteIndex = new Map<string, number>();
  const indexOf = new Int32Array(report.tasks.length);
  report.tasks.forEach(({ task }, i) => {
    const key = `${task.coroutine ?? ''}\u0000${task.code.filepath ?? ''}\u0000${task.code.lineno ?? ''}\u0000${task.code.function ?? ''}`;
    let index = siteIndex.get(key);
    if (index === undefined) {
      index = sites.length;
      siteIndex.set(key, index);
      sites.push({ coroutine: task.coroutine, ...task.code });
    }
    indexOf[i] = index;
  });
  const taskAt = (i: number): CompactTask => {
    const judged = report.tasks[i];
    const { task } = judged;
    const { cancels, steps } = stepsOf(judged);
    return [
      task.spanId,
      task.name,
      judged.verdict,
      indexOf[i],
      nsText(task.createdAt),
      nsText(task.endTime),
      task.finalState ?? 'pending',
      task.snapshot ? 1 : 0,
      cancels,
      steps,
    ];
  };
  return { rest, sites, taskAt };
}

/**
 * The shutdown view with tasks as positional tuples and creation sites interned
 * (`?tasks=compact`): a tenth of the full size, so a 100,000-task shutdown loads quickly.
 * Each task: [spanId, name, verdict, siteIndex, createdAt, endedAt, finalState, snapshot 0|1, cancelTimes[], steps[]].
 */
export function compactReportJson(report: ShutdownReport) {
  const { rest, sites, taskAt } = compactParts(report);
  return { ...rest, sites, tasks: Array.from({ length: report.tasks.length }, (_, i) => taskAt(i)) };
}

/** Array members serialized per chunk of a {@link StreamedJson} body. */
export const STREAM_CHUNK_ITEMS = 1_000;

/** An array whose members are made when they are written (see {@link StreamedJson}). */
export class LazyArray<T> {
  constructor(
    readonly length: number,
    readonly at: (i: number) => T,
  ) {}
}

/**
 * A JSON body written as a sequence of text chunks, never as one string: its top-level arrays (and
 * {@link LazyArray}s) go out {@link STREAM_CHUNK_ITEMS} members at a time. The text is the same as
 * `JSON.stringify(body, bigintReplacer)` (with lazy arrays written as arrays). `etag`, when set, is
 * the entity tag of the body.
 */
export class StreamedJson {
  constructor(
    readonly body: Record<string, unknown>,
    readonly etag?: string,
  ) {}

  /** The text of the body, in order. */
  *chunks(): Generator<string> {
    let first = true;
    yield '{';
    for (const key of Object.keys(this.body)) {
      const value = this.body[key];
      if (value === undefined || typeof value === 'function' || typeof value === 'symbol') continue;
      const name = `${first ? '' : ','}${JSON.stringify(key)}:`;
      first = false;
      if (Array.isArray(value) || value instanceof LazyArray) {
        const length = value.length;
        const at = value instanceof LazyArray ? value.at : (i: number) => (value as unknown[])[i];
        yield `${name}[`;
        for (let from = 0; from < length; from += STREAM_CHUNK_ITEMS) {
          const part: unknown[] = [];
          for (let i = from; i < Math.min(length, from + STREAM_CHUNK_ITEMS); i++) part.push(at(i));
          const text = toJsonText(part);
          yield `${from === 0 ? '' : ','}${text.slice(1, -1)}`;
        }
        yield ']';
      } else yield `${name}${toJsonText(value) ?? 'null'}`;
    }
    yield '}';
  }
}

/** The shutdown view (`form` full or compact) as a {@link StreamedJson}: a task becomes JSON only when it is written. */
export function streamedReport(report: ShutdownReport, form: 'full' | 'compact', etag?: string): StreamedJson {
  if (form === 'compact') {
    const { rest, sites, taskAt } = compactParts(report);
    return new StreamedJson({ ...rest, sites, tasks: new LazyArray(report.tasks.length, taskAt) }, etag);
  }
  const body = reportJson({ ...report, tasks: [] }) as Record<string, unknown>;
  body.tasks = new LazyArray(report.tasks.length, (i) => taskJson(report.tasks[i]));
  return new StreamedJson(body, etag);
}
