import { ATTR, bool, num, readShutdown, readTask } from '../../contract/contract.js';
import { BAD_VERDICTS, type JudgedTask, type ShutdownReport, type SpanRecord, type Verdict } from '../../contract/records.js';
import { dedupeRecords, type JudgeOptions, judgeShutdown, judgeTask } from '../judge/index.js';

/** What `canceltrace check` found in a set of spans. */
export interface CheckReport {
  shutdowns: ShutdownReport[];
  /** judged tasks that belong to no shutdown of the dump */
  outside: JudgedTask[];
  /** tasks (in shutdowns or outside) whose verdict is in the fail set */
  failing: number;
}

/**
 * Judges spans offline, exactly as the service does: the same readers, dedupe and judge.
 * A task is reported under every shutdown whose window holds it, and "outside" when none does.
 */
export function checkSpans(spans: SpanRecord[], failOn: ReadonlySet<Verdict>, options: Partial<JudgeOptions> = {}): CheckReport {
  const unique = dedupeRecords(spans);
  const tasks = unique.filter((s) => s.role === 'task').map(readTask);
  const shutdowns = unique
    .filter((s) => s.role === 'shutdown')
    .map(readShutdown)
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const reports = shutdowns.map((shutdown) => judgeShutdown(shutdown, tasks, options));
  const judged = new Set<string>();
  for (const report of reports) for (const t of report.tasks) judged.add(`${t.task.traceId}/${t.task.spanId}`);
  const outside = tasks.filter((t) => !judged.has(`${t.traceId}/${t.spanId}`)).map((t) => judgeTask(t, undefined, options));
  let failing = outside.filter((t) => failOn.has(t.verdict)).length;
  for (const report of reports) failing += report.tasks.filter((t) => failOn.has(t.verdict)).length;
  return { shutdowns: reports, outside, failing };
}

/** Parses `--fail-on a,b,c` into a verdict set; throws on an unknown verdict. */
export function parseFailOn(value: string | undefined, known: readonly Verdict[]): Set<Verdict> {
  if (value === undefined) return new Set(BAD_VERDICTS);
  const set = new Set<Verdict>();
  for (const word of value
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean)) {
    if (!(known as readonly string[]).includes(word)) throw new Error(`--fail-on: unknown verdict '${word}' (known: ${known.join(', ')})`);
    set.add(word as Verdict);
  }
  return set;
}

function site(code: { filepath?: string; lineno?: number; function?: string } | undefined): string {
  if (!code?.filepath) return '(unknown)';
  const where = code.lineno !== undefined ? `${code.filepath}:${code.lineno}` : code.filepath;
  return code.function ? `${where} in ${code.function}` : where;
}

function nsToIso(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

function taskLines(t: JudgedTask): string[] {
  const lines = [`  ${t.verdict.toUpperCase().padEnd(9)} ${t.task.name}${t.task.coroutine ? ` (${t.task.coroutine})` : ''}`];
  lines.push(`            created at ${site(t.task.code)}`);
  if (t.swallowSite) lines.push(`            caught at  ${site(t.swallowSite)}`);
  for (const f of t.findings) lines.push(`            ${f.kind}: ${f.message}`);
  return lines;
}

/** The readable report: per shutdown, each task with a bad verdict, its creation and catch sites. */
export function formatCheckReport(report: CheckReport, failOn: ReadonlySet<Verdict>): string {
  const out: string[] = [];
  const bad = (t: JudgedTask) => failOn.has(t.verdict) || (BAD_VERDICTS as readonly string[]).includes(t.verdict);
  for (const r of report.shutdowns) {
    const s = r.shutdown;
    const counts = Object.entries(r.counts)
      .filter(([, v]) => (v ?? 0) > 0)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    out.push(`shutdown ${s.id}  ${s.service} (${s.instance})  reason ${s.reason}  at ${nsToIso(s.start)}  outcome ${r.outcome}`);
    out.push(`  tasks: ${counts || 'none'}`);
    const dropped = num(s.span.attributes, ATTR.spansDropped) ?? 0;
    if (dropped > 0 || bool(s.span.attributes, ATTR.shutdownIncomplete)) {
      out.push(`  incomplete: the recorder could not deliver ${dropped} span(s); a task whose end was lost is end_not_received`);
    }
    for (const t of r.tasks.filter(bad)) out.push(...taskLines(t));
    for (const f of r.findings) out.push(`  finding ${f.kind}: ${f.message}`);
    out.push('');
  }
  const outsideBad = report.outside.filter(bad);
  if (outsideBad.length > 0) {
    out.push(`outside any shutdown: ${outsideBad.length} task(s) with a bad verdict`);
    for (const t of outsideBad) out.push(...taskLines(t));
    out.push('');
  }
  if (report.shutdowns.length === 0 && outsideBad.length === 0) out.push('no shutdowns and no bad verdicts found');
  out.push(report.failing > 0 ? `FAIL: ${report.failing} task(s) with a verdict in {${[...failOn].join(', ')}}` : 'OK: no task with a failing verdict');
  return out.join('\n');
}
