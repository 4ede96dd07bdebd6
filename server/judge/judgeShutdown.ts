import { ATTR, bool, EVENT, num, str } from '../../contract/contract.js';
import type {
  EventRecord,
  Finding,
  JudgedTask,
  Sample,
  ShutdownFindingKind,
  ShutdownRecord,
  ShutdownReport,
  TaskRecord,
  Verdict,
} from '../../contract/records.js';
import { VERDICTS } from '../../contract/records.js';
import { dedupeRecords } from './dedupeRecords.js';
import { finalStateOf } from './finalStateOf.js';
import { judgeTask, type TaskWindow } from './judgeTask.js';
import type { JudgeOptions } from './options.js';
import { sortEvents } from './sortEvents.js';

/** Rank of each verdict in the task list: bad verdicts first, in the order of {@link VERDICTS}. */
const VERDICT_RANK: ReadonlyMap<Verdict, number> = new Map(VERDICTS.map((v, i) => [v, i]));

/** A shutdown's time window (unix ns). */
interface Window {
  start: bigint;
  end: bigint;
  open: boolean;
}

/**
 * Judges one shutdown as a whole. `tasks` may hold several records per span (snapshots and the final)
 * and tasks of other instances; only the newest record of each span of the shutdown's instance that
 * was alive at the shutdown's start or created before its end is judged (while the shutdown is open,
 * with no bound on creation). The report lists bad verdicts first, then by creation time, and adds the
 * findings only the whole picture shows: blocked task groups, a pending count above its baseline,
 * resources not released. Pure, and linear in the number of tasks and events (plus sorts).
 * `judgeOne` judges one task in the window (default {@link judgeTask}); the service passes one that
 * reads the judgment stored at ingest (storedJudgment.ts), which must give the same result.
 */
export function judgeShutdown(
  shutdown: ShutdownRecord,
  tasks: readonly TaskRecord[],
  options?: Partial<JudgeOptions>,
  judgeOne: (task: TaskRecord, window: TaskWindow) => JudgedTask = (task, window) => judgeTask(task, window, options),
): ShutdownReport {
  const window: Window = { start: shutdown.start, end: shutdown.end, open: shutdown.open };
  const events = sortEvents(shutdown.span.events);
  const pending = pendingSamples(events);
  const pendingBaseline = num(shutdown.span.attributes, ATTR.pendingBaseline) ?? baselineFromSamples(events) ?? countBeforeStart(pending, shutdown.start) ?? 0;
  const lastPending = pending[pending.length - 1];
  const drained = !window.open && lastPending !== undefined && lastPending.value <= pendingBaseline;
  const ofInstance = tasks.filter((t) => t.instance === shutdown.instance);
  const judged = dedupeRecords(ofInstance, (t) => t.span)
    .filter((t) => inWindow(t, window))
    .map((t) => endNotReceived(judgeOne(t, window), drained))
    .sort(compareJudged);

  const findings: Finding<ShutdownFindingKind>[] = [];
  if (lastPending !== undefined && lastPending.value > pendingBaseline) {
    findings.push({
      kind: 'pending_not_at_baseline',
      message:
        `${lastPending.value} task(s) were still pending at the last sample against ${pendingBaseline} before the shutdown, so some tasks never ended; ` +
        'find the survivors and orphans below and make each one re-raise its cancellation or be cancelled.',
      detail: { last: lastPending.value, baseline: pendingBaseline },
    });
  }

  const gauges = gaugesOf(events, shutdown.start);
  for (const g of gauges) {
    const last = g.samples[g.samples.length - 1];
    if (last !== undefined && last.value > g.baseline) {
      findings.push({
        kind: 'resource_not_released',
        message:
          `Resource "${g.name}" ended at ${last.value} against ${g.baseline} before the shutdown, so something still holds it; ` +
          'release it in try/finally (or async with) on the cancel path of the tasks that use it.',
        detail: { resource: g.name, last: last.value, baseline: g.baseline },
      });
    }
  }

  findings.push(...markBlockedGroups(judged));

  const counts: Partial<Record<Verdict, number>> = {};
  for (const v of VERDICTS) counts[v] = 0;
  for (const j of judged) counts[j.verdict] = (counts[j.verdict] ?? 0) + 1;

  const warnings = warningsOf(events, judged);
  const outcome = shutdown.outcome ?? (shutdown.open ? 'open' : (counts.survivor ?? 0) > 0 ? 'survivors' : 'clean');
  return { shutdown, outcome, tasks: judged, counts, pending, pendingBaseline, gauges, findings, warnings };
}

/**
 * A task whose newest record is a pending snapshot, in a shutdown that ended with its pending count at
 * its baseline, did end: only its end never arrived (a full export queue, a collector that was down).
 * It is `end_not_received`, neither a survivor nor an orphan. The shutdown's drivers are not counted in
 * the pending number, so they keep their own verdict.
 */
function endNotReceived(judged: JudgedTask, drained: boolean): JudgedTask {
  const { task } = judged;
  if (!drained || !task.snapshot || finalStateOf(task) !== 'pending' || bool(task.span.attributes, ATTR.shutdownDriver)) return judged;
  if (judged.verdict !== 'survivor' && judged.verdict !== 'orphan') return judged;
  return { ...judged, verdict: 'end_not_received' };
}

/** Alive at the start (ended at or after it, or still pending) and created before the end. */
function inWindow(t: TaskRecord, w: Window): boolean {
  const alive = t.endTime >= w.start || finalStateOf(t) === 'pending';
  return alive && (w.open || t.createdAt <= w.end);
}

function compareJudged(a: JudgedTask, b: JudgedTask): number {
  const ra = VERDICT_RANK.get(a.verdict) ?? VERDICTS.length;
  const rb = VERDICT_RANK.get(b.verdict) ?? VERDICTS.length;
  if (ra !== rb) return ra - rb;
  if (a.task.createdAt !== b.task.createdAt) return a.task.createdAt < b.task.createdAt ? -1 : 1;
  if (a.task.traceId !== b.task.traceId) return a.task.traceId < b.task.traceId ? -1 : 1;
  if (a.task.spanId !== b.task.spanId) return a.task.spanId < b.task.spanId ? -1 : 1;
  return 0;
}

function pendingSamples(events: readonly EventRecord[]): Sample[] {
  const samples: Sample[] = [];
  for (const e of events) {
    if (e.name !== EVENT.pending) continue;
    const value = num(e.attributes, ATTR.pendingCount);
    if (value !== undefined) samples.push({ t: e.time, value });
  }
  return samples;
}

/**
 * The contract's own rule, for senders that give no baseline: the count before the shutdown began,
 * i.e. the last sample taken strictly before its start.
 */
function countBeforeStart(pending: readonly Sample[], start: bigint): number | undefined {
  let before: number | undefined;
  for (const s of pending) if (s.t < start) before = s.value;
  return before;
}

function baselineFromSamples(events: readonly EventRecord[]): number | undefined {
  for (const e of events) {
    if (e.name !== EVENT.pending) continue;
    const b = num(e.attributes, ATTR.pendingSampleBaseline);
    if (b !== undefined) return b;
  }
  return undefined;
}

/**
 * Gauges by resource name (sorted by name). Baseline: a `resource.baseline` sent on a sample, else the
 * value when the shutdown began (the last sample at or before its start), else the first sample.
 */
function gaugesOf(events: readonly EventRecord[], start: bigint): ShutdownReport['gauges'] {
  const byName = new Map<string, { samples: Sample[]; sent?: number }>();
  for (const e of events) {
    if (e.name !== EVENT.gauge) continue;
    const name = str(e.attributes, ATTR.resourceName);
    const value = num(e.attributes, ATTR.resourceValue);
    if (name === undefined || value === undefined) continue;
    let g = byName.get(name);
    if (!g) {
      g = { samples: [] };
      byName.set(name, g);
    }
    g.samples.push({ t: e.time, value });
    const sent = num(e.attributes, ATTR.resourceBaseline);
    if (g.sent === undefined && sent !== undefined) g.sent = sent;
  }
  const gauges: ShutdownReport['gauges'] = [];
  for (const [name, g] of byName) {
    let before: Sample | undefined;
    for (const s of g.samples) if (s.t <= start) before = s;
    const baseline = g.sent ?? (before ?? g.samples[0]).value;
    gauges.push({ name, baseline, samples: g.samples });
  }
  return gauges.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Adds `group_blocked` to the parent of every grouped child that swallowed its cancel or survived it,
 * and returns one shutdown finding per blocked group. `judged` must already be in report order.
 */
function markBlockedGroups(judged: readonly JudgedTask[]): Finding<ShutdownFindingKind>[] {
  const byTaskId = new Map<string, JudgedTask[]>();
  for (const j of judged) {
    if (j.task.taskId === undefined) continue;
    const list = byTaskId.get(j.task.taskId);
    if (list) list.push(j);
    else byTaskId.set(j.task.taskId, [j]);
  }
  const groups = new Map<string, JudgedTask[]>();
  for (const child of judged) {
    const groupId = child.task.groupId;
    if (groupId === undefined || (child.verdict !== 'swallowed' && child.verdict !== 'survivor')) continue;
    const list = groups.get(groupId);
    if (list) list.push(child);
    else groups.set(groupId, [child]);
    const parents = child.task.parentTaskId === undefined ? undefined : byTaskId.get(child.task.parentTaskId);
    for (const parent of parents ?? []) {
      if (parent === child) continue;
      const what = child.verdict === 'swallowed' ? 'swallowed its cancellation' : 'was still running after its cancel';
      parent.findings.push({
        kind: 'group_blocked',
        message:
          `Child task "${child.task.name}" of group ${groupId} ${what} and held this task's group teardown; ` +
          'make the child re-raise CancelledError (or rethrow the abort reason) after its cleanup in try/finally.',
        detail: {
          groupId,
          child: child.task.name,
          childTaskId: child.task.taskId ?? null,
          childSpanId: child.task.spanId,
          childVerdict: child.verdict,
        },
      });
    }
  }
  const findings: Finding<ShutdownFindingKind>[] = [];
  for (const groupId of [...groups.keys()].sort()) {
    const children = groups.get(groupId) ?? [];
    const names = children.map((c) => `"${c.task.name}"`).join(', ');
    findings.push({
      kind: 'group_blocked',
      message:
        `Task group ${groupId} was held by ${children.length === 1 ? 'a child' : `${children.length} children`} (${names}) that swallowed or survived the cancel; ` +
        'make every child re-raise CancelledError (or rethrow the abort reason) so the group can finish its teardown.',
      detail: { groupId, children: children.length, parentTaskId: children[0]?.task.parentTaskId ?? null },
    });
  }
  return findings;
}

function warningsOf(shutdownEvents: readonly EventRecord[], judged: readonly JudgedTask[]): ShutdownReport['warnings'] {
  const warnings: ShutdownReport['warnings'] = [];
  const collect = (events: readonly EventRecord[]): void => {
    for (const e of events) {
      if (e.name === EVENT.loopWarning) warnings.push({ t: e.time, message: str(e.attributes, ATTR.warningMessage) ?? '' });
    }
  };
  collect(shutdownEvents);
  for (const j of judged) if (j.verdict === 'destroyed') collect(j.task.span.events);
  return warnings.sort((a, b) => (a.t !== b.t ? (a.t < b.t ? -1 : 1) : a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
}
