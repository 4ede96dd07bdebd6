import { COLUMNAR_VERSION, type ColumnarSite, type ColumnarTasks, STEP_KINDS } from '../../contract/columnar.js';
import { ATTR, EVENT, str } from '../../contract/contract.js';
import type { EventRecord, ShutdownReport } from '../../contract/records.js';
import { pairSteps } from '../../contract/steps.js';
import { bigintReplacer, reportJson } from './json.js';

/** Interns values by a string key: `index(key, make)` returns the value's index in `values`. */
class Interner<T> {
  readonly values: T[] = [];
  private readonly indices = new Map<string, number>();

  /** The index of a string value interned as itself (no key or factory to allocate). */
  indexOfString(this: Interner<string>, value: string): number {
    let i = this.indices.get(value);
    if (i === undefined) {
      i = this.values.length;
      this.indices.set(value, i);
      this.values.push(value);
    }
    return i;
  }

  index(key: string, make: () => T): number {
    let i = this.indices.get(key);
    if (i === undefined) {
      i = this.values.length;
      this.indices.set(key, i);
      this.values.push(make());
    }
    return i;
  }
}

/** Milliseconds from `origin` to `t`, rounded to the microsecond (exact for any span of a shutdown). */
function msFrom(origin: bigint, t: bigint): number {
  return Math.round(Number(t - origin) / 1_000) / 1_000;
}

function siteKey(site: ColumnarSite): string {
  return `${site.coroutine ?? ''}\u0000${site.filepath ?? ''}\u0000${site.lineno ?? ''}\u0000${site.function ?? ''}\u0000${site.line ?? ''}`;
}

function inTimeOrder(events: readonly EventRecord[]): readonly EventRecord[] {
  for (let i = 1; i < events.length; i++) {
    if (events[i].time < events[i - 1].time) return [...events].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  }
  return events;
}

/** The tasks of a judged shutdown as parallel arrays (contract/columnar.ts), times relative to the shutdown's start. */
export function columnarTasks(report: ShutdownReport): ColumnarTasks {
  const origin = report.shutdown.start;
  const n = report.tasks.length;
  const verdicts = new Interner<string>();
  const sites = new Interner<ColumnarSite>();
  const swallowSites = new Interner<ColumnarSite>();
  const finalStates = new Interner<string>();
  const stepNames = new Interner<string>();
  const stepOutcomes = new Interner<string>();
  const findingKinds = new Interner<string>();
  const traces = new Interner<string>();
  const c: ColumnarTasks = {
    count: n,
    spanId: new Array(n),
    traces: traces.values,
    trace: new Array(n),
    name: new Array(n),
    verdicts: verdicts.values,
    verdict: new Array(n),
    sites: sites.values,
    site: new Array(n),
    swallowSites: swallowSites.values,
    swallowSite: new Array(n),
    finalStates: finalStates.values,
    finalState: new Array(n),
    snapshot: new Array(n),
    createdMs: new Array(n),
    endedMs: new Array(n),
    cancelRequestedMs: new Array(n),
    cancelOffset: [0],
    cancelTimes: [],
    stepOffset: [0],
    stepKind: [],
    stepNames: stepNames.values,
    stepName: [],
    stepStartMs: [],
    stepEndMs: [],
    stepOutcomes: stepOutcomes.values,
    stepOutcome: [],
    findingKinds: findingKinds.values,
    findings: new Array(n),
    taskId: new Array(n),
    parentTaskId: new Array(n),
  };
  for (let i = 0; i < n; i++) {
    const judged = report.tasks[i];
    const { task } = judged;
    c.spanId[i] = task.spanId;
    c.trace[i] = traces.indexOfString(task.traceId);
    c.name[i] = task.name;
    c.verdict[i] = verdicts.indexOfString(judged.verdict);
    // the key straight from the fields: the site object is made only for a site not seen yet
    const code = task.code;
    c.site[i] = sites.index(`${task.coroutine ?? ''}\u0000${code.filepath ?? ''}\u0000${code.lineno ?? ''}\u0000${code.function ?? ''}\u0000`, () => ({
      coroutine: task.coroutine,
      ...code,
    }));
    if (judged.swallowSite) {
      const { stack: _stack, ...where } = judged.swallowSite;
      const line = str(task.span.attributes, ATTR.swallowLine);
      const s: ColumnarSite = line === undefined ? where : { ...where, line };
      c.swallowSite[i] = swallowSites.index(siteKey(s), () => s);
    } else c.swallowSite[i] = -1;
    const state = task.finalState ?? 'pending';
    c.finalState[i] = finalStates.indexOfString(state);
    c.snapshot[i] = task.snapshot ? 1 : 0;
    c.createdMs[i] = msFrom(origin, task.createdAt);
    c.endedMs[i] = msFrom(origin, task.endTime);
    c.cancelRequestedMs[i] = judged.cancelRequestedAt === undefined ? null : msFrom(origin, judged.cancelRequestedAt);
    const events = inTimeOrder(task.span.events);
    for (const e of events) if (e.name === EVENT.cancelRequested) c.cancelTimes.push(msFrom(origin, e.time));
    c.cancelOffset.push(c.cancelTimes.length);
    for (const step of pairSteps<bigint, EventRecord>(events)) {
      const start = (step.startEvent ?? step.endEvent)!.time;
      c.stepKind.push(STEP_KINDS.indexOf(step.kind));
      c.stepName.push(stepNames.indexOfString(step.name));
      c.stepStartMs.push(msFrom(origin, start));
      c.stepEndMs.push(step.endEvent ? msFrom(origin, step.endEvent.time) : null);
      const outcome = step.outcome ?? 'interrupted';
      c.stepOutcome.push(stepOutcomes.indexOfString(outcome));
    }
    c.stepOffset.push(c.stepKind.length);
    let mask = 0;
    for (const f of judged.findings) mask |= 1 << findingKinds.indexOfString(f.kind);
    c.findings[i] = mask;
    c.taskId[i] = task.taskId ?? '';
    c.parentTaskId[i] = task.parentTaskId ?? '';
  }
  return c;
}

/** Columnar views already made, per judged report (collected with the report). */
const made = new WeakMap<ShutdownReport, ReturnType<typeof makeColumnarReportJson>>();

/**
 * `GET /api/shutdowns/:id/timeline`: the shutdown view (header, samples, gauges, findings) with its
 * tasks in the columnar form. Its text holds no bigint, so it is written without a replacer.
 */
export function columnarReportJson(report: ShutdownReport) {
  // a report the views kept (no span arrived since) gives the same columns: made once per report
  const hit = made.get(report);
  if (hit) return hit;
  const body = makeColumnarReportJson(report);
  made.set(report, body);
  return body;
}

function makeColumnarReportJson(report: ShutdownReport) {
  const { tasks: _none, ...rest } = JSON.parse(JSON.stringify(reportJson({ ...report, tasks: [] }), bigintReplacer)) as ReturnType<typeof reportJson>;
  return { ...rest, version: COLUMNAR_VERSION, originNs: report.shutdown.start.toString(), columnar: columnarTasks(report) };
}
