import type { Finding, ShutdownRecord, ShutdownReport, TaskFindingKind, TaskRecord, Verdict } from '../../contract/records.js';
import { VERDICTS } from '../../contract/records.js';
import { dedupeRecords } from './dedupeRecords.js';
import {
  type BlockMember,
  blockedGroups,
  countVerdicts,
  endNotReceivedApplies,
  inWindow,
  judgeShutdownSeries,
  outcomeOf,
  type ShutdownSeries,
  VERDICT_RANK,
  warningsOf,
} from './judgeShutdown.js';
import { type JudgeOptions, resolveJudgeOptions } from './options.js';
import { joinNs, TimeColumn } from './TimeColumn.js';
import { judgeOptionsKey, parseTaskView, type TaskView, V, type ViewSite, viewOfTask } from './taskView.js';

/** A code site as the brief views intern it. */
export interface BriefSite {
  coroutine?: string;
  filepath?: string;
  lineno?: number;
  function?: string;
}

/** A swallow site as the brief views intern it (with the source line when the recorder sent it). */
export interface BriefSwallowSite {
  filepath?: string;
  lineno?: number;
  function?: string;
  line?: string;
}

/** Interns values by a string key; `values[i]` is the i-th distinct one, in the order first met. */
export class Interner<T> {
  readonly values: T[] = [];
  private readonly indices = new Map<string, number>();

  index(key: string, make: () => T): number {
    let i = this.indices.get(key);
    if (i === undefined) {
      i = this.values.length;
      this.indices.set(key, i);
      this.values.push(make());
    }
    return i;
  }

  string(this: Interner<string>, value: string): number {
    return this.index(value, () => value);
  }
}

const NONE = -1;
/** Rows an integer column starts with; it doubles as it fills. */
const INITIAL_ROWS = 1_024;

/** A growable column of 32-bit integers: no object per row, and nothing for the garbage collector to walk. */
class IntColumn {
  private data = new Int32Array(INITIAL_ROWS);
  length = 0;

  constructor(...first: number[]) {
    for (const v of first) this.push(v);
  }

  push(v: number): void {
    if (this.length === this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = v;
  }

  /** The column, trimmed to its rows. */
  done(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

/**
 * The judged tasks of one shutdown as columns, one row per task, in report order once {@link finish}ed
 * (bad verdicts first, then by creation time, trace id, span id: the order of judgeShutdown). What
 * the compact and columnar views, the list's counts and a settled shutdown's judgment read; built
 * from each task's {@link TaskView} without an object per task, so a million tasks fit in a few
 * hundred MB and judge in seconds. Row `i` of every column describes the same task.
 */
export class TaskTable {
  count = 0;
  readonly traces = new Interner<string>();
  trace: Int32Array = new Int32Array(0);
  readonly spanId: string[] = [];
  readonly name: string[] = [];
  /** creation sites, with the coroutine */
  readonly sites = new Interner<BriefSite>();
  site: Int32Array = new Int32Array(0);
  /** `task.final_state` as sent, interned (NONE: did not say) */
  readonly finalStates = new Interner<string>();
  finalState: Int32Array = new Int32Array(0);
  snapshot: Int32Array = new Int32Array(0);
  readonly taskId: (string | null)[] = [];
  readonly parentTaskId: (string | null)[] = [];
  readonly groupId: (string | null)[] = [];
  readonly created: TimeColumn;
  readonly ended: TimeColumn;
  readonly verdict: Verdict[] = [];
  /** the finding kinds of each task, interned as lists */
  readonly kindLists = new Interner<string[]>();
  kinds: Int32Array = new Int32Array(0);
  /** findings that only the whole shutdown shows (group_blocked), by row */
  readonly extraFindings = new Map<number, Finding<TaskFindingKind>[]>();
  readonly cancelRequested: TimeColumn;
  readonly swallowSites = new Interner<BriefSwallowSite>();
  swallowSite: Int32Array = new Int32Array(0);
  /** every cancel request of row i: `cancelTimes` rows `cancelOffset[i] .. cancelOffset[i + 1]` */
  cancelOffset: Int32Array = new Int32Array(1);
  readonly cancelTimes: TimeColumn;
  /** cleanup/shield steps of row i: step rows `stepOffset[i] .. stepOffset[i + 1]` */
  stepOffset: Int32Array = new Int32Array(1);
  stepKind: Int32Array = new Int32Array(0);
  readonly stepNames = new Interner<string>();
  stepName: Int32Array = new Int32Array(0);
  readonly stepStart: TimeColumn;
  readonly stepEnd: TimeColumn;
  readonly stepOutcomes = new Interner<string>();
  /** NONE: the step has no outcome (it never ended) */
  stepOutcome: Int32Array = new Int32Array(0);
  /** loop warnings of destroyed tasks (the only ones a report lists) */
  readonly warnings: ShutdownReport['warnings'] = [];
  /** report order: `order[k]` is the row shown k-th */
  order: Uint32Array = new Uint32Array(0);

  constructor(readonly origin: bigint) {
    this.created = new TimeColumn(origin);
    this.ended = new TimeColumn(origin);
    this.cancelRequested = new TimeColumn(origin);
    this.cancelTimes = new TimeColumn(origin);
    this.stepStart = new TimeColumn(origin);
    this.stepEnd = new TimeColumn(origin);
  }

  /** The finding kinds of row `i`, those only the whole shutdown shows included. */
  findingKindsOf(i: number): string[] {
    const own = this.kindLists.values[this.kinds[i]];
    const extra = this.extraFindings.get(i);
    return extra ? [...own, ...extra.map((f) => f.kind)] : own;
  }

  /** The swallow site of row `i`, or undefined. */
  swallowSiteOf(i: number): BriefSwallowSite | undefined {
    const s = this.swallowSite[i];
    return s === NONE ? undefined : this.swallowSites.values[s];
  }

  /** The creation site of row `i`. */
  siteOf(i: number): BriefSite {
    return this.sites.values[this.site[i]];
  }

  /** `task.final_state` of row `i` as the views show it (`pending` when the span did not say). */
  finalStateOf(i: number): string {
    const s = this.finalState[i];
    return s === NONE ? 'pending' : this.finalStates.values[s];
  }
}

/** The judged view of a shutdown with its tasks as a {@link TaskTable}: what `briefReport` returns. */
export interface BriefReport extends Omit<ShutdownReport, 'tasks'> {
  tasks: TaskTable;
}

function swallowSiteOf(site: ViewSite | null, line: string | null): BriefSwallowSite | undefined {
  if (site === null) return undefined;
  const s: BriefSwallowSite = {};
  if (site[0] !== null) s.filepath = site[0];
  if (site[1] !== null) s.lineno = site[1];
  if (site[2] !== null) s.function = site[2];
  if (line !== null) s.line = line;
  return s;
}

/**
 * Judges one shutdown from its tasks' views, a task at a time: `add` each task row the store holds in
 * the shutdown's window (in any order), then `finish`. The result equals judgeShutdown's on the same
 * records (see the property test), as a {@link BriefReport}.
 */
export class BriefJudge {
  private readonly series: ShutdownSeries;
  private readonly table: TaskTable;
  private readonly toleranceNs: bigint;
  /** the integer columns of the table while it is built (see finish) */
  private readonly columns = {
    trace: new IntColumn(),
    site: new IntColumn(),
    finalState: new IntColumn(),
    snapshot: new IntColumn(),
    kinds: new IntColumn(),
    swallowSite: new IntColumn(),
    cancelOffset: new IntColumn(0),
    stepOffset: new IntColumn(0),
    stepKind: new IntColumn(),
    stepName: new IntColumn(),
    stepOutcome: new IntColumn(),
  };
  private readonly endOffset: number;
  private readonly lateOffset: number;
  readonly optionsKey: string;

  constructor(
    private readonly shutdown: ShutdownRecord,
    private readonly options?: Partial<JudgeOptions>,
  ) {
    this.series = judgeShutdownSeries(shutdown);
    this.table = new TaskTable(shutdown.start);
    this.toleranceNs = resolveJudgeOptions(options).clockToleranceNs;
    this.optionsKey = judgeOptionsKey(options);
    // The window's bounds as offsets from its start, where exact (else the bigint paths decide).
    this.endOffset = Number(shutdown.end - shutdown.start);
    this.lateOffset = Number(shutdown.end + this.toleranceNs - shutdown.start);
    if (!Number.isSafeInteger(this.endOffset) || !Number.isSafeInteger(this.lateOffset)) this.endOffset = this.lateOffset = Number.NaN;
  }

  /** Adds a task from its stored view text; false when the text is no usable view (then {@link addRecord} it). */
  addStored(viewText: string | null): boolean {
    const view = parseTaskView(viewText, this.optionsKey);
    if (view === undefined) return false;
    this.add(view);
    return true;
  }

  /** Adds a task from its whole record, judging it here. */
  addRecord(task: TaskRecord): void {
    this.add(viewOfTask(task, this.options));
  }

  /** Adds one task (a task outside the window is left out, as judgeShutdown does). */
  add(view: TaskView): void {
    const t = this.table;
    const b = this.columns;
    const { window, drained } = this.series;
    const endSec = view[V.endSec];
    const endRem = view[V.endRem];
    const endOffset = t.ended.offsetOf(endSec, endRem);
    const created = view[V.createdAt];
    const state = view[V.state];
    // In the window: alive at its start (ended at or after it, or pending) and created by its end (see inWindow).
    if (endOffset !== undefined && !Number.isNaN(this.endOffset) && typeof created === 'number' && Math.abs(endOffset + created) <= Number.MAX_SAFE_INTEGER) {
      if (!(endOffset >= 0 || state === 'pending')) return;
      if (!window.open && endOffset + created > this.endOffset) return;
    } else if (!inWindow(joinNs(endSec, endRem), joinNs(endSec, endRem) + BigInt(created), state, window)) return;
    const late =
      endOffset !== undefined && !Number.isNaN(this.lateOffset) ? endOffset > this.lateOffset : joinNs(endSec, endRem) > window.end + this.toleranceNs;
    const part = window.open ? view[V.open] : (late ? view[V.late] : view[V.inTime]) || view[V.open];
    let verdict = part[0];
    const snapshot = view[V.snapshot] === 1;
    if (endNotReceivedApplies(drained, snapshot, state, view[V.driver] === 1, verdict)) verdict = 'end_not_received';
    b.trace.push(t.traces.string(view[V.traceId]));
    t.spanId.push(view[V.spanId]);
    t.name.push(view[V.name]);
    const coroutine = view[V.coroutine];
    const filepath = view[V.filepath];
    const lineno = view[V.lineno];
    const fn = view[V.fn];
    b.site.push(
      t.sites.index(`${coroutine ?? ''}\u0000${filepath ?? ''}\u0000${lineno ?? ''}\u0000${fn ?? ''}`, () => {
        const site: BriefSite = {};
        if (coroutine !== null) site.coroutine = coroutine;
        if (filepath !== null) site.filepath = filepath;
        if (lineno !== null) site.lineno = lineno;
        if (fn !== null) site.function = fn;
        return site;
      }),
    );
    const finalState = view[V.finalState];
    b.finalState.push(finalState === null ? NONE : t.finalStates.string(finalState));
    b.snapshot.push(snapshot ? 1 : 0);
    t.taskId.push(view[V.taskId]);
    t.parentTaskId.push(view[V.parentTaskId]);
    t.groupId.push(view[V.groupId]);
    t.created.pushAfter(endOffset, endSec, endRem, created);
    if (endOffset !== undefined) t.ended.pushOffset(endOffset);
    else t.ended.push(joinNs(endSec, endRem));
    t.verdict.push(verdict);
    const kinds = part[1];
    b.kinds.push(kinds.length === 0 ? t.kindLists.index('', () => kinds) : t.kindLists.index(kinds.join('\u0000'), () => kinds));
    t.cancelRequested.pushAfter(endOffset, endSec, endRem, part[2]);
    const swallow = part[3];
    if (swallow === null) b.swallowSite.push(NONE);
    else {
      const line = view[V.swallowLine];
      b.swallowSite.push(
        t.swallowSites.index(
          `${swallow[0] ?? ''}\u0000${swallow[1] ?? ''}\u0000${swallow[2] ?? ''}\u0000${line ?? ''}`,
          () => swallowSiteOf(swallow, line) ?? {},
        ),
      );
    }
    for (const c of view[V.cancels]) t.cancelTimes.pushAfter(endOffset, endSec, endRem, c);
    b.cancelOffset.push(t.cancelTimes.length);
    for (const [kind, name, start, stepEnd, outcome] of view[V.steps]) {
      b.stepKind.push(kind);
      b.stepName.push(t.stepNames.string(name));
      t.stepStart.pushAfter(endOffset, endSec, endRem, start);
      t.stepEnd.pushAfter(endOffset, endSec, endRem, stepEnd);
      b.stepOutcome.push(outcome === null ? NONE : t.stepOutcomes.string(outcome));
    }
    b.stepOffset.push(b.stepKind.length);
    if (verdict === 'destroyed') for (const [at, message] of view[V.warnings]) t.warnings.push({ t: joinNs(endSec, endRem) + BigInt(at), message });
    t.count++;
  }

  /** Orders the rows, marks blocked groups, counts: the judged shutdown. */
  finish(): BriefReport {
    const t = this.table;
    const b = this.columns;
    t.trace = b.trace.done();
    t.site = b.site.done();
    t.finalState = b.finalState.done();
    t.snapshot = b.snapshot.done();
    t.kinds = b.kinds.done();
    t.swallowSite = b.swallowSite.done();
    t.cancelOffset = b.cancelOffset.done();
    t.stepOffset = b.stepOffset.done();
    t.stepKind = b.stepKind.done();
    t.stepName = b.stepName.done();
    t.stepOutcome = b.stepOutcome.done();
    const n = t.count;
    const rank = new Uint8Array(n);
    for (let i = 0; i < n; i++) rank[i] = VERDICT_RANK.get(t.verdict[i]) ?? VERDICTS.length;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const traces = t.traces.values;
    order.sort((a, b) => {
      if (rank[a] !== rank[b]) return rank[a] - rank[b];
      const byCreated = t.created.compare(a, b);
      if (byCreated !== 0) return byCreated;
      const ta = traces[t.trace[a]];
      const tb = traces[t.trace[b]];
      if (ta !== tb) return ta < tb ? -1 : 1;
      const sa = t.spanId[a];
      const sb = t.spanId[b];
      return sa < sb ? -1 : sa > sb ? 1 : 0;
    });
    t.order = order;
    const member = (k: number): BlockMember => {
      const i = order[k];
      return {
        name: t.name[i],
        spanId: t.spanId[i],
        taskId: t.taskId[i] ?? undefined,
        parentTaskId: t.parentTaskId[i] ?? undefined,
        groupId: t.groupId[i] ?? undefined,
        verdict: t.verdict[i],
      };
    };
    const blocked = blockedGroups(n, member, (parent, finding) => {
      const i = order[parent];
      const list = t.extraFindings.get(i);
      if (list) list.push(finding);
      else t.extraFindings.set(i, [finding]);
    });
    const counts = countVerdicts(n, (i) => t.verdict[i]);
    const { shutdown } = this;
    const s = this.series;
    return {
      shutdown,
      outcome: outcomeOf(shutdown, counts),
      tasks: t,
      counts,
      pending: s.pending,
      pendingBaseline: s.pendingBaseline,
      gauges: s.gauges,
      findings: [...s.findings, ...blocked],
      warnings: warningsOf(s.events, t.warnings),
    };
  }
}

/**
 * The brief judgment of a shutdown from whole task records (a store that keeps no views): one record
 * per span (the newest), of the shutdown's instance, each judged here.
 */
export function judgeBriefFromRecords(shutdown: ShutdownRecord, tasks: readonly TaskRecord[], options?: Partial<JudgeOptions>): BriefReport {
  const judge = new BriefJudge(shutdown, options);
  const ofInstance = tasks.filter((task) => task.instance === shutdown.instance);
  for (const task of dedupeRecords(ofInstance, (task) => task.span)) judge.addRecord(task);
  return judge.finish();
}
