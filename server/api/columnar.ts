import { COLUMNAR_VERSION, type ColumnarSite, type ColumnarTasks } from '../../contract/columnar.js';
import { type BriefReport, Interner } from '../judge/judgeBrief.js';
import { briefHeadJson } from './json.js';

/** Re-interns a table's vocabulary in the order its members are first met (the order of the report). */
class FirstSeen<T> {
  readonly values: T[] = [];
  private readonly map: Int32Array;

  constructor(private readonly source: readonly T[]) {
    this.map = new Int32Array(source.length).fill(-1);
  }

  index(i: number): number {
    let j = this.map[i];
    if (j === -1) {
      j = this.values.length;
      this.map[i] = j;
      this.values.push(this.source[i]);
    }
    return j;
  }
}

/** The tasks of a judged shutdown as parallel arrays (contract/columnar.ts), times relative to the shutdown's start. */
export function columnarTasks(brief: BriefReport): ColumnarTasks {
  const t = brief.tasks;
  const n = t.count;
  const traces = new FirstSeen(t.traces.values);
  const sites = new FirstSeen<ColumnarSite>(t.sites.values);
  const swallowSites = new FirstSeen<ColumnarSite>(t.swallowSites.values);
  const stepNames = new FirstSeen(t.stepNames.values);
  const verdicts = new Interner<string>();
  const finalStates = new Interner<string>();
  const stepOutcomes = new Interner<string>();
  const findingKinds = new Interner<string>();
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
  for (let k = 0; k < n; k++) {
    const i = t.order[k];
    c.spanId[k] = t.spanId[i];
    c.trace[k] = traces.index(t.trace[i]);
    c.name[k] = t.name[i];
    c.verdict[k] = verdicts.string(t.verdict[i]);
    c.site[k] = sites.index(t.site[i]);
    const swallow = t.swallowSite[i];
    c.swallowSite[k] = swallow < 0 ? -1 : swallowSites.index(swallow);
    c.finalState[k] = finalStates.string(t.finalStateOf(i));
    c.snapshot[k] = t.snapshot[i];
    c.createdMs[k] = t.created.ms(i) as number;
    c.endedMs[k] = t.ended.ms(i) as number;
    c.cancelRequestedMs[k] = t.cancelRequested.ms(i);
    for (let j = t.cancelOffset[i]; j < t.cancelOffset[i + 1]; j++) c.cancelTimes.push(t.cancelTimes.ms(j) as number);
    c.cancelOffset.push(c.cancelTimes.length);
    for (let j = t.stepOffset[i]; j < t.stepOffset[i + 1]; j++) {
      c.stepKind.push(t.stepKind[j]);
      c.stepName.push(stepNames.index(t.stepName[j]));
      c.stepStartMs.push(t.stepStart.ms(j) as number);
      c.stepEndMs.push(t.stepEnd.ms(j));
      const outcome = t.stepOutcome[j];
      c.stepOutcome.push(stepOutcomes.string(outcome < 0 ? 'interrupted' : t.stepOutcomes.values[outcome]));
    }
    c.stepOffset.push(c.stepKind.length);
    let mask = 0;
    for (const kind of t.findingKindsOf(i)) mask |= 1 << findingKinds.string(kind);
    c.findings[k] = mask;
    c.taskId[k] = t.taskId[i] ?? '';
    c.parentTaskId[k] = t.parentTaskId[i] ?? '';
  }
  return c;
}

/** Columnar views already made, per judged report (collected with the report). */
const made = new WeakMap<BriefReport, ReturnType<typeof makeColumnarReportJson>>();

/**
 * `GET /api/shutdowns/:id/timeline`: the shutdown view (header, samples, gauges, findings) with its
 * tasks in the columnar form. Its text holds no bigint, so it is written without a replacer.
 */
export function columnarReportJson(brief: BriefReport) {
  // a report the views kept (no span arrived since) gives the same columns: made once per report
  const hit = made.get(brief);
  if (hit) return hit;
  const body = makeColumnarReportJson(brief);
  made.set(brief, body);
  return body;
}

/** {@link columnarReportJson} made anew and not kept (for a text written once: a kept answer). */
export function makeColumnarReportJson(brief: BriefReport) {
  return { ...briefHeadJson(brief), version: COLUMNAR_VERSION, originNs: brief.shutdown.start.toString(), columnar: columnarTasks(brief) };
}
