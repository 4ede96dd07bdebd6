import { STEP_KINDS } from '../../contract/columnar.js';
import type { JudgedTask, ShutdownRecord, ShutdownReport, Verdict } from '../../contract/records.js';
import type { BriefReport, BriefSite } from '../judge/judgeBrief.js';

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
type CompactStep = [(typeof STEP_KINDS)[number], string, string, string | null, string | null];

/** A compact task tuple (see {@link compactReportJson}). */
type CompactTask = [string, string, string, number, string, string, string, 0 | 1, string[], CompactStep[]];

/** The header of a brief report (everything but its tasks) as JSON values, without bigints. */
export function briefHeadJson(brief: BriefReport) {
  const { tasks: _none, ...rest } = withoutBigints(reportJson({ ...brief, tasks: [] })) as ReturnType<typeof reportJson>;
  return rest;
}

/**
 * The compact view's parts: everything but the tasks (small, without bigints), the creation sites
 * interned in report order, and a function that writes the tuple of the k-th task, so that a
 * streamed response makes one tuple at a time instead of a million at once.
 */
function compactParts(brief: BriefReport) {
  const t = brief.tasks;
  const { order } = t;
  const sites: BriefSite[] = [];
  // the table's site index → the compact one (first seen in report order)
  const siteIndex = new Int32Array(t.sites.values.length).fill(-1);
  const indexOf = new Int32Array(t.count);
  for (let k = 0; k < t.count; k++) {
    const site = t.site[order[k]];
    if (siteIndex[site] === -1) {
      siteIndex[site] = sites.length;
      sites.push(t.sites.values[site]);
    }
    indexOf[k] = siteIndex[site];
  }
  // Each task's tuple is written as text straight from the columns: no tuple, no array per task.
  const stepNames = t.stepNames.values.map((name) => JSON.stringify(name));
  const stepOutcomes = t.stepOutcomes.values.map((outcome) => JSON.stringify(outcome));
  const finalStates = t.finalStates.values.map((state) => JSON.stringify(state));
  const stepKinds = STEP_KINDS.map((kind) => JSON.stringify(kind));
  const taskText = (k: number): string => {
    const i = order[k];
    let cancels = '';
    for (let c = t.cancelOffset[i]; c < t.cancelOffset[i + 1]; c++) cancels += `${cancels === '' ? '' : ','}"${t.cancelTimes.text(c)}"`;
    let steps = '';
    for (let j = t.stepOffset[i]; j < t.stepOffset[i + 1]; j++) {
      const end = t.stepEnd.text(j);
      const outcome = t.stepOutcome[j];
      steps += `${steps === '' ? '' : ','}[${stepKinds[t.stepKind[j]]},${stepNames[t.stepName[j]]},"${t.stepStart.text(j)}",${end === null ? 'null' : `"${end}"`},${outcome < 0 ? 'null' : stepOutcomes[outcome]}]`;
    }
    const state = t.finalState[i];
    return (
      `[${JSON.stringify(t.spanId[i])},${JSON.stringify(t.name[i])},"${t.verdict[i]}",${indexOf[k]},"${t.created.text(i)}","${t.ended.text(i)}",` +
      `${state < 0 ? '"pending"' : finalStates[state]},${t.snapshot[i] === 1 ? 1 : 0},[${cancels}],[${steps}]]`
    );
  };
  return { rest: briefHeadJson(brief), sites, taskText };
}

/**
 * The shutdown view with tasks as positional tuples and creation sites interned
 * (`?tasks=compact`): a tenth of the full size, so a 100,000-task shutdown loads quickly.
 * Each task: [spanId, name, verdict, siteIndex, createdAt, endedAt, finalState, snapshot 0|1, cancelTimes[], steps[]].
 */
export function compactReportJson(brief: BriefReport) {
  const { rest, sites, taskText } = compactParts(brief);
  return { ...rest, sites, tasks: Array.from({ length: brief.tasks.count }, (_, k) => JSON.parse(taskText(k)) as CompactTask) };
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

/** An array whose members are made as JSON text when they are written (see {@link StreamedJson}). */
export class LazyJsonArray {
  constructor(
    readonly length: number,
    readonly textAt: (i: number) => string,
  ) {}
}

/**
 * An array whose members are read a chunk at a time when it is written (see {@link StreamedJson}):
 * `chunks()` yields them in order, each chunk once.
 */
export class AsyncLazyArray<T> {
  constructor(
    readonly length: number,
    readonly chunks: () => AsyncIterable<readonly T[]>,
  ) {}
}

/**
 * A JSON body written as a sequence of text chunks, never as one string: its top-level arrays (and
 * lazy arrays) go out {@link STREAM_CHUNK_ITEMS} members at a time. The text is the same as
 * `JSON.stringify(body, bigintReplacer)` (with lazy arrays written as arrays). `etag`, when set, is
 * the entity tag of the body.
 */
export class StreamedJson {
  constructor(
    readonly body: Record<string, unknown>,
    readonly etag?: string,
  ) {}

  /** The text of the body, in order (a body without an {@link AsyncLazyArray}). */
  *chunks(): Generator<string> {
    for (const part of this.parts()) {
      if (typeof part !== 'string') throw new TypeError('StreamedJson: a body with an AsyncLazyArray is read with stream()');
      yield part;
    }
  }

  /** The text of the body, in order, reading asynchronous arrays as it goes. */
  async *stream(): AsyncGenerator<string> {
    for (const part of this.parts()) {
      if (typeof part === 'string') {
        yield part;
        continue;
      }
      let first = true;
      for await (const members of part.chunks()) {
        if (members.length === 0) continue;
        const text = toJsonText(members);
        yield `${first ? '' : ','}${text.slice(1, -1)}`;
        first = false;
      }
    }
  }

  /** Text, and the asynchronous arrays to be written in place (between their brackets). */
  private *parts(): Generator<string | AsyncLazyArray<unknown>> {
    yield* objectParts(this.body);
  }
}

/** A JSON body already written as text pieces by `text()` (each call writes it anew), streamed like {@link StreamedJson}. */
export class StreamedText extends StreamedJson {
  constructor(
    private readonly text: () => Iterable<string>,
    etag?: string,
  ) {
    super({}, etag);
  }

  override *chunks(): Generator<string> {
    yield* this.text();
  }

  override async *stream(): AsyncGenerator<string> {
    yield* this.text();
  }
}

/** True for a plain object with an array member too long for one chunk: it is written member by member. */
function holdsLongArray(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const member of Object.values(value)) {
    if ((Array.isArray(member) || member instanceof LazyArray || member instanceof LazyJsonArray) && member.length > STREAM_CHUNK_ITEMS) return true;
  }
  return false;
}

/** The text of an object, long arrays (its own and those of nested objects) a chunk at a time. */
function* objectParts(body: Record<string, unknown>): Generator<string | AsyncLazyArray<unknown>> {
  let first = true;
  yield '{';
  for (const key of Object.keys(body)) {
    const value = body[key];
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') continue;
    const name = `${first ? '' : ','}${JSON.stringify(key)}:`;
    first = false;
    if (value instanceof AsyncLazyArray) {
      yield `${name}[`;
      yield value;
      yield ']';
    } else if (value instanceof LazyJsonArray) {
      yield `${name}[`;
      for (let from = 0; from < value.length; from += STREAM_CHUNK_ITEMS) {
        const part: string[] = [];
        for (let i = from; i < Math.min(value.length, from + STREAM_CHUNK_ITEMS); i++) part.push(value.textAt(i));
        yield `${from === 0 ? '' : ','}${part.join(',')}`;
      }
      yield ']';
    } else if (Array.isArray(value) || value instanceof LazyArray) {
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
    } else if (holdsLongArray(value)) {
      yield name;
      yield* objectParts(value);
    } else yield `${name}${toJsonText(value) ?? 'null'}`;
  }
  yield '}';
}

/**
 * The full shutdown view of a brief report whose whole tasks are read a chunk at a time (`chunks`,
 * in report order): the same text as {@link streamedReport} of the whole report, without ever holding
 * every record.
 */
export function streamedWholeReport(brief: BriefReport, chunks: () => AsyncIterable<readonly JudgedTask[]>, etag?: string): StreamedJson {
  const body = reportJson({ ...brief, tasks: [] }) as Record<string, unknown>;
  body.tasks = new AsyncLazyArray(brief.tasks.count, async function* () {
    for await (const judged of chunks()) yield judged.map(taskJson);
  });
  return new StreamedJson(body, etag);
}

/** The compact shutdown view (`?tasks=compact`) as a {@link StreamedJson}. */
export function streamedCompact(brief: BriefReport, etag?: string): StreamedJson {
  const { rest, sites, taskText } = compactParts(brief);
  return new StreamedJson({ ...rest, sites, tasks: new LazyJsonArray(brief.tasks.count, taskText) }, etag);
}
