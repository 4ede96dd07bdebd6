import { ATTR, bool, EVENT, num, str } from '../../contract/contract.js';
import type {
  EventRecord,
  Finding,
  JudgedTask,
  Sample,
  ShutdownFindingKind,
  ShutdownRecord,
  ShutdownReport,
  TaskFindingKind,
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
export const VERDICT_RANK: ReadonlyMap<Verdict, number> = new Map(VERDICTS.map((v, i) => [v, i]));

/** A shutdown's time window (unix ns). */
export interface Window {
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
  const head = judgeShutdownSeries(shutdown);
  const { window } = head;
  const ofInstance = tasks.filter((t) => t.instance === shutdown.instance);
  const judged = dedupeRecords(ofInstance, (t) => t.span)
    .filter((t) => inWindow(t.endTime, t.createdAt, finalStateOf(t), window))
    .map((t) => endNotReceived(judgeOne(t, window), head.drained))
    .sort(compareJudged);

  const findings = [
    ...head.findings,
    ...blockedGroups(
      judged.length,
      (i) => blockMember(judged[i]),
      (parent, finding) => judged[parent].findings.push(finding),
    ),
  ];
  const counts = countVerdicts(judged.length, (i) => judged[i].verdict);
  const warnings = warningsOf(
    head.events,
    judged.filter((j) => j.verdict === 'destroyed').flatMap((j) => loopWarnings(j.task.span.events)),
  );
  return {
    shutdown,
    outcome: outcomeOf(shutdown, counts),
    tasks: judged,
    counts,
    pending: head.pending,
    pendingBaseline: head.pendingBaseline,
    gauges: head.gauges,
    findings,
    warnings,
  };
}

/** What a shutdown's own span says, judged: its window, samples and gauges, and the findings they give. */
export interface ShutdownSeries {
  window: Window;
  /** the shutdown span's events in time order */
  events: readonly EventRecord[];
  pending: Sample[];
  pendingBaseline: number;
  /** closed, with the pending count back at its baseline: a pending snapshot then means its end was lost */
  drained: boolean;
  gauges: ShutdownReport['gauges'];
  /** pending_not_at_baseline and resource_not_released */
  findings: Finding<ShutdownFindingKind>[];
}

/** The part of a shutdown's judgment its own span gives (see {@link ShutdownSeries}). */
export function judgeShutdownSeries(shutdown: ShutdownRecord): ShutdownSeries {
  const window: Window = { start: shutdown.start, end: shutdown.end, open: shutdown.open };
  const events = sortEvents(shutdown.span.events);
  const pending = pendingSamples(events);
  const pendingBaseline = num(shutdown.span.attributes, ATTR.pendingBaseline) ?? baselineFromSamples(events) ?? countBeforeStart(pending, shutdown.start) ?? 0;
  const lastPending = pending[pending.length - 1];
  const drained = !window.open && lastPending !== undefined && lastPending.value <= pendingBaseline;

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
  return { window, events, pending, pendingBaseline, drained, gauges, findings };
}

/** Every verdict's count (zero included). */
export function countVerdicts(n: number, verdictAt: (i: number) => Verdict): Partial<Record<Verdict, number>> {
  const counts: Partial<Record<Verdict, number>> = {};
  for (const v of VERDICTS) counts[v] = 0;
  for (let i = 0; i < n; i++) {
    const v = verdictAt(i);
    counts[v] = (counts[v] ?? 0) + 1;
  }
  return counts;
}

/** The outcome as sent, else `open` while open, else `survivors` or `clean`. */
export function outcomeOf(shutdown: ShutdownRecord, counts: Partial<Record<Verdict, number>>): string {
  return shutdown.outcome ?? (shutdown.open ? 'open' : (counts.survivor ?? 0) > 0 ? 'survivors' : 'clean');
}

/**
 * A task whose newest record is a pending snapshot, in a shutdown that ended with its pending count at
 * its baseline, did end: only its end never arrived (a full export queue, a collector that was down).
 * It is `end_not_received`, neither a survivor nor an orphan. The shutdown's drivers are not counted in
 * the pending number, so they keep their own verdict.
 */
function endNotReceived(judged: JudgedTask, drained: boolean): JudgedTask {
  const { task } = judged;
  if (!endNotReceivedApplies(drained, task.snapshot, finalStateOf(task), bool(task.span.attributes, ATTR.shutdownDriver), judged.verdict)) return judged;
  return { ...judged, verdict: 'end_not_received' };
}

/** The rule of {@link endNotReceived}, on the fields it reads. */
export function endNotReceivedApplies(drained: boolean, snapshot: boolean, state: string, driver: boolean, verdict: Verdict): boolean {
  return drained && snapshot && state === 'pending' && !driver && (verdict === 'survivor' || verdict === 'orphan');
}

/** Alive at the start (ended at or after it, or still pending) and created before the end. */
export function inWindow(endTime: bigint, createdAt: bigint, state: string, w: Window): boolean {
  const alive = endTime >= w.start || state === 'pending';
  return alive && (w.open || createdAt <= w.end);
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

/** What group-blocked marking reads of a judged task. */
export interface BlockMember {
  name: string;
  spanId: string;
  taskId?: string;
  parentTaskId?: string;
  groupId?: string;
  verdict: Verdict;
}

function blockMember(j: JudgedTask): BlockMember {
  const { task } = j;
  return { name: task.name, spanId: task.spanId, taskId: task.taskId, parentTaskId: task.parentTaskId, groupId: task.groupId, verdict: j.verdict };
}

/** True for a grouped child whose verdict held its group's teardown. */
function blocks(m: BlockMember): boolean {
  return m.groupId !== undefined && (m.verdict === 'swallowed' || m.verdict === 'survivor');
}

/**
 * Group-blocked marking over the `n` judged tasks of a shutdown, in report order (`at(i)` reads the
 * i-th): calls `addToParent` with a `group_blocked` finding for the parent of every grouped child that
 * swallowed its cancel or survived it, and returns one shutdown finding per blocked group. Parents are
 * looked up only when some child blocks, and only among the task ids such children name.
 */
export function blockedGroups(
  n: number,
  at: (i: number) => BlockMember,
  addToParent: (parent: number, finding: Finding<TaskFindingKind>) => void,
): Finding<ShutdownFindingKind>[] {
  const blocking: number[] = [];
  for (let i = 0; i < n; i++) if (blocks(at(i))) blocking.push(i);
  if (blocking.length === 0) return [];
  const wanted = new Set<string>();
  for (const i of blocking) {
    const parentId = at(i).parentTaskId;
    if (parentId !== undefined) wanted.add(parentId);
  }
  const byTaskId = new Map<string, number[]>();
  if (wanted.size > 0) {
    for (let i = 0; i < n; i++) {
      const taskId = at(i).taskId;
      if (taskId === undefined || !wanted.has(taskId)) continue;
      const list = byTaskId.get(taskId);
      if (list) list.push(i);
      else byTaskId.set(taskId, [i]);
    }
  }
  const groups = new Map<string, BlockMember[]>();
  for (const i of blocking) {
    const child = at(i);
    const groupId = child.groupId as string;
    const list = groups.get(groupId);
    if (list) list.push(child);
    else groups.set(groupId, [child]);
    const parents = child.parentTaskId === undefined ? undefined : byTaskId.get(child.parentTaskId);
    for (const parent of parents ?? []) {
      if (parent === i) continue;
      const what = child.verdict === 'swallowed' ? 'swallowed its cancellation' : 'was still running after its cancel';
      addToParent(parent, {
        kind: 'group_blocked',
        message:
          `Child task "${child.name}" of group ${groupId} ${what} and held this task's group teardown; ` +
          'make the child re-raise CancelledError (or rethrow the abort reason) after its cleanup in try/finally.',
        detail: {
          groupId,
          child: child.name,
          childTaskId: child.taskId ?? null,
          childSpanId: child.spanId,
          childVerdict: child.verdict,
        },
      });
    }
  }
  const findings: Finding<ShutdownFindingKind>[] = [];
  for (const groupId of [...groups.keys()].sort()) {
    const children = groups.get(groupId) ?? [];
    const names = children.map((c) => `"${c.name}"`).join(', ');
    findings.push({
      kind: 'group_blocked',
      message:
        `Task group ${groupId} was held by ${children.length === 1 ? 'a child' : `${children.length} children`} (${names}) that swallowed or survived the cancel; ` +
        'make every child re-raise CancelledError (or rethrow the abort reason) so the group can finish its teardown.',
      detail: { groupId, children: children.length, parentTaskId: children[0]?.parentTaskId ?? null },
    });
  }
  return findings;
}

/** The `loop.warning` events among a task's events. */
export function loopWarnings(events: readonly EventRecord[]): ShutdownReport['warnings'] {
  const warnings: ShutdownReport['warnings'] = [];
  for (const e of events) {
    if (e.name === EVENT.loopWarning) warnings.push({ t: e.time, message: str(e.attributes, ATTR.warningMessage) ?? '' });
  }
  return warnings;
}

/** The shutdown's loop warnings and those of its destroyed tasks (`taskWarnings`), in time order. */
export function warningsOf(shutdownEvents: readonly EventRecord[], taskWarnings: ShutdownReport['warnings']): ShutdownReport['warnings'] {
  const warnings = [...loopWarnings(shutdownEvents), ...taskWarnings];
  return warnings.sort((a, b) => (a.t !== b.t ? (a.t < b.t ? -1 : 1) : a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
}
