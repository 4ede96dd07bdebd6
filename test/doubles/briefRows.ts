import { ATTR, EVENT, str } from '../../contract/contract.js';
import type { EventRecord, ShutdownReport } from '../../contract/records.js';
import { pairSteps } from '../../contract/steps.js';
import type { BriefReport } from '../../server/judge/judgeBrief.js';

/**
 * What a judged shutdown says of each task, in report order, as plain values: the projection both a
 * full {@link ShutdownReport} and a {@link BriefReport} must agree on (the brief views' oracle).
 */
export interface BriefRow {
  traceId: string;
  spanId: string;
  name: string;
  verdict: string;
  findingKinds: string[];
  createdAt: string;
  endedAt: string;
  finalState: string;
  snapshot: boolean;
  cancelRequestedAt: string | null;
  swallowSite: { filepath?: string; lineno?: number; function?: string; line?: string } | null;
  site: { coroutine?: string; filepath?: string; lineno?: number; function?: string };
  taskId: string | null;
  parentTaskId: string | null;
  cancels: string[];
  steps: [string, string, string, string | null, string | null][];
}

/** Drops the keys whose value is undefined (toEqual would ignore them; JSON would not carry them). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function inTimeOrder(events: readonly EventRecord[]): EventRecord[] {
  return [...events].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}

/** The projection of a full report (whole records). */
export function rowsOfReport(report: ShutdownReport): BriefRow[] {
  return report.tasks.map((j) => {
    const { task } = j;
    const events = inTimeOrder(task.span.events);
    const line = str(task.span.attributes, ATTR.swallowLine);
    return {
      traceId: task.traceId,
      spanId: task.spanId,
      name: task.name,
      verdict: j.verdict,
      findingKinds: j.findings.map((f) => f.kind),
      createdAt: task.createdAt.toString(),
      endedAt: task.endTime.toString(),
      finalState: task.finalState ?? 'pending',
      snapshot: task.snapshot,
      cancelRequestedAt: j.cancelRequestedAt === undefined ? null : j.cancelRequestedAt.toString(),
      swallowSite: j.swallowSite ? defined({ filepath: j.swallowSite.filepath, lineno: j.swallowSite.lineno, function: j.swallowSite.function, line }) : null,
      site: defined({ coroutine: task.coroutine, ...task.code }),
      taskId: task.taskId ?? null,
      parentTaskId: task.parentTaskId ?? null,
      cancels: events.filter((e) => e.name === EVENT.cancelRequested).map((e) => e.time.toString()),
      steps: pairSteps<bigint, EventRecord>(events).map((s) => [
        s.kind,
        s.name,
        (s.startEvent ?? s.endEvent)!.time.toString(),
        s.endEvent ? s.endEvent.time.toString() : null,
        s.outcome ?? null,
      ]),
    };
  });
}

/** The projection of a brief report (its task table). */
export function rowsOfBrief(brief: BriefReport): BriefRow[] {
  const t = brief.tasks;
  return Array.from(t.order, (i) => {
    const cancels: string[] = [];
    for (let c = t.cancelOffset[i]; c < t.cancelOffset[i + 1]; c++) cancels.push(t.cancelTimes.text(c) as string);
    const steps: BriefRow['steps'] = [];
    for (let s = t.stepOffset[i]; s < t.stepOffset[i + 1]; s++) {
      const outcome = t.stepOutcome[s];
      steps.push([
        ['cleanup', 'shield'][t.stepKind[s]],
        t.stepNames.values[t.stepName[s]],
        t.stepStart.text(s) as string,
        t.stepEnd.text(s),
        outcome < 0 ? null : t.stepOutcomes.values[outcome],
      ]);
    }
    return {
      traceId: t.traces.values[t.trace[i]],
      spanId: t.spanId[i],
      name: t.name[i],
      verdict: t.verdict[i],
      findingKinds: t.findingKindsOf(i),
      createdAt: t.created.text(i) as string,
      endedAt: t.ended.text(i) as string,
      finalState: t.finalStateOf(i),
      snapshot: t.snapshot[i] === 1,
      cancelRequestedAt: t.cancelRequested.text(i),
      swallowSite: t.swallowSiteOf(i) ?? null,
      site: t.siteOf(i),
      taskId: t.taskId[i],
      parentTaskId: t.parentTaskId[i],
      cancels,
      steps,
    };
  });
}

/** Everything but the tasks, as JSON would carry it. */
export function headOf(report: ShutdownReport | BriefReport) {
  const { tasks: _tasks, ...rest } = report;
  return JSON.parse(JSON.stringify(rest, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}
