/**
 * What is kept of a settled shutdown's judgment: the little that its metrics and its
 * `canceltrace.judgment` span read, as a plain object that a worker thread can post (structured clone
 * carries its `bigint` times), instead of a whole {@link ShutdownReport} of up to millions of tasks.
 */
import { type Attrs, BAD_VERDICTS, type CodeSite, type ShutdownReport, type Verdict } from '../../contract/records.js';

/** At most this many task events on one judgment span; the rest are counted in `droppedEventsCount`. */
export const MAX_JUDGMENT_EVENTS = 1_000;

/** A task with a bad verdict, as its judgment span event shows it. */
export interface SettledTask {
  spanId: string;
  traceId: string;
  name: string;
  verdict: Verdict;
  /** unix ns */
  endTime: bigint;
  /** `path:lineno in function`, as the recorders write `task.swallow_site`; undefined when not known */
  swallowSite?: string;
  /** kinds of the task's findings */
  findings: string[];
}

/** A settled shutdown's judgment, cut to what its metrics and judgment span need; built by {@link settledJudgmentOf}. */
export interface SettledJudgment {
  shutdownId: string;
  /** trace and span id of the shutdown span (the judgment span's trace and parent) */
  traceId: string;
  spanId: string;
  /** the shutdown's end, unix ns */
  end: bigint;
  /** the shutdown span's resource attributes */
  resource: Attrs;
  outcome: string;
  tasksCount: number;
  counts: Partial<Record<Verdict, number>>;
  findings: { kind: string; message: string }[];
  /** the first {@link MAX_JUDGMENT_EVENTS} tasks with a bad verdict, in report order */
  badTasks: SettledTask[];
  /** how many tasks have a bad verdict (badTasks holds at most MAX_JUDGMENT_EVENTS of them) */
  badCount: number;
}

/** The settled judgment of `report`. */
export function settledJudgmentOf(report: ShutdownReport): SettledJudgment {
  return settledJudgmentFrom(
    report,
    report.tasks.length,
    (k) => report.tasks[k].verdict,
    (k) => {
      const t = report.tasks[k];
      return {
        spanId: t.task.spanId,
        traceId: t.task.traceId,
        name: t.task.name,
        endTime: t.task.endTime,
        swallowSite: t.swallowSite,
        findings: t.findings.map((f) => f.kind),
      };
    },
  );
}

/** A judged task as {@link settledJudgmentFrom} reads it: its swallow site as a code site. */
export type SettledTaskSource = Omit<SettledTask, 'verdict' | 'swallowSite'> & { swallowSite?: CodeSite };

/**
 * The settled judgment of a report whose tasks are read through `verdictAt` and `taskAt` (the k-th
 * task in report order, k < tasksCount; `taskAt` only for the bad tasks kept). {@link settledJudgmentOf}
 * builds it here, and so does a report kept as columns (the brief report, server/judgeSettled.ts).
 */
export function settledJudgmentFrom(
  report: Omit<ShutdownReport, 'tasks'>,
  tasksCount: number,
  verdictAt: (k: number) => Verdict,
  taskAt: (k: number) => SettledTaskSource,
): SettledJudgment {
  const { shutdown } = report;
  const badTasks: SettledTask[] = [];
  let badCount = 0;
  for (let k = 0; k < tasksCount; k++) {
    const verdict = verdictAt(k);
    if (!BAD_VERDICTS.includes(verdict)) continue;
    badCount++;
    if (badTasks.length >= MAX_JUDGMENT_EVENTS) continue;
    const { swallowSite, ...task } = taskAt(k);
    const settled: SettledTask = { ...task, verdict };
    const site = swallowSite ? siteText(swallowSite) : undefined;
    if (site) settled.swallowSite = site;
    badTasks.push(settled);
  }
  return {
    shutdownId: shutdown.id,
    traceId: shutdown.span.traceId,
    spanId: shutdown.span.spanId,
    end: shutdown.end,
    resource: shutdown.span.resource,
    outcome: report.outcome,
    tasksCount,
    counts: { ...report.counts },
    findings: report.findings.map((f) => ({ kind: f.kind, message: f.message })),
    badTasks,
    badCount,
  };
}

/** `path:lineno in function`, as `task.swallow_site` is written by the recorders. */
function siteText(site: CodeSite): string | undefined {
  if (!site.filepath) return site.function;
  const at = site.lineno !== undefined ? `${site.filepath}:${site.lineno}` : site.filepath;
  return site.function ? `${at} in ${site.function}` : at;
}
