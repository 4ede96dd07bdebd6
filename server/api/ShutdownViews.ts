import type { Consumer, JudgedTask, ShutdownRecord, ShutdownReport, SpanRecord, TaskRecord } from '../../contract/records.js';
import { packageVersion } from '../cli/version.js';
import { type JudgeOptions, judgedFromStored, judgeOptionsKey, judgeShutdown } from '../judge/index.js';
import { BriefJudge, type BriefReport, judgeBriefFromRecords } from '../judge/judgeBrief.js';
import { TASK_VIEW_VERSION } from '../judge/taskView.js';
import type { Store } from '../store/Store.js';
import { ANSWER_CHUNK_BYTES, ANSWER_FORMAT, ANSWER_FORMS, type AnswerForm, answerTag, KeptAnswer, newWriteId, writeAnswerChunks } from './answers.js';
import { columnarReportText } from './columnar.js';
import { StreamedText, streamedCompact } from './json.js';

/** Whole tasks read from the store at a time by {@link ShutdownViews.wholeTasks}. */
export const WHOLE_TASKS_CHUNK = 1_000;
/**
 * Tasks held by the kept reports together, at most (the most recently used report is kept whatever its
 * size): a brief report costs a few hundred bytes per task, a whole one a few KB.
 */
export const DEFAULT_REPORT_CACHE_TASKS = 1_500_000;
/** Judged shutdowns kept in memory, most recently used last. */
export const DEFAULT_REPORT_CACHE_SIZE = 64;
/** Shutdown summaries (outcome and counts, a few hundred bytes each) kept for the list. */
export const DEFAULT_SUMMARY_CACHE_SIZE = 10_000;
/**
 * How long a report or summary is reused when the store is shared with other instances, in
 * milliseconds: their writes do not pass through this instance, so only time can tell it to forget.
 */
export const DEFAULT_SHARED_CACHE_MILLIS = 2_000;

/** How {@link ShutdownViews} keeps what it judged. */
export interface ShutdownViewsCacheOptions {
  /**
   * When set, a cached report or summary is reused for at most this many milliseconds (use
   * {@link DEFAULT_SHARED_CACHE_MILLIS} with a store other instances write to). Unset: until a span
   * of the same instance arrives here, which sees every write only when this instance is the sole writer.
   */
  maxAgeMillis?: number;
  /** tasks the kept reports hold together, at most; defaults to {@link DEFAULT_REPORT_CACHE_TASKS} */
  maxTasks?: number;
  /** the clock, in milliseconds; defaults to `performance.now` */
  now?: () => number;
  /** bytes of gzip stream per chunk of a kept answer; defaults to {@link ANSWER_CHUNK_BYTES} */
  answerChunkBytes?: number;
  /** the delay of {@link ShutdownViews.deriveLater}; defaults to {@link DERIVE_AFTER_READ_MILLIS} */
  deriveAfterReadMillis?: number;
}

/** What the shutdown list shows of a judged shutdown. */
export interface ShutdownSummary {
  outcome: string;
  counts: ShutdownReport['counts'];
}

/**
 * How long after a read that had to judge an ended shutdown its answers are derived, in milliseconds:
 * the reads a dashboard makes next (the timeline after the list) go first, and a shutdown that is
 * still settling is derived once it has settled instead.
 */
export const DERIVE_AFTER_READ_MILLIS = 10_000;

/** The release judging here (package.json, read once): answers kept by another release are judged again. */
const RELEASE = packageVersion();

/** Distinguishes the reports of this process from those of an earlier one in entity tags. */
const PROCESS_TAG = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/**
 * Judges shutdowns on read and remembers the reports until a span of the same instance arrives
 * (and, with a shared store, for a bounded time: see {@link ShutdownViewsCacheOptions}).
 * It also sits in the ingest path as the consumer in front of the store, which is how it learns
 * what to forget.
 */
export class ShutdownViews implements Consumer<SpanRecord> {
  /** The tag of each report judged here: a report that is served again from the cache keeps its tag. */
  private readonly tags = new WeakMap<ShutdownReport | BriefReport, string>();
  private reportsJudged = 0;
  private readonly cache = new Map<string, { generation: number; at: number; report: ShutdownReport | BriefReport }>();
  private readonly summaries = new Map<string, { generation: number; at: number; summary: ShutdownSummary }>();
  private readonly generations = new Map<string, number>();
  private readonly maxAgeMillis: number;
  private readonly now: () => number;
  private readonly maxTasks: number;
  /** The store's generation of the instance, read before each report was judged (stores that keep answers). */
  private readonly judgedAt = new WeakMap<ShutdownReport | BriefReport, number>();
  /** Answers being derived, by shutdown id: one derivation of a shutdown at a time. */
  private readonly deriving = new Map<string, Promise<void>>();
  /** Derivations scheduled after reads (deriveLater), by shutdown id. */
  private readonly scheduled = new Map<string, NodeJS.Timeout>();
  /** What a kept answer must have been judged with to stand: the judge options, the view and answer formats. */
  private readonly answerKey: string;
  private readonly answerChunkBytes: number;
  private readonly deriveAfterReadMillis: number;

  constructor(
    private readonly store: Store,
    private readonly options: Partial<JudgeOptions> = {},
    private readonly cacheSize = DEFAULT_REPORT_CACHE_SIZE,
    cacheOptions: ShutdownViewsCacheOptions = {},
  ) {
    this.maxAgeMillis = cacheOptions.maxAgeMillis ?? Number.POSITIVE_INFINITY;
    this.now = cacheOptions.now ?? (() => performance.now());
    this.maxTasks = cacheOptions.maxTasks ?? DEFAULT_REPORT_CACHE_TASKS;
    this.answerChunkBytes = cacheOptions.answerChunkBytes ?? ANSWER_CHUNK_BYTES;
    this.deriveAfterReadMillis = cacheOptions.deriveAfterReadMillis ?? DERIVE_AFTER_READ_MILLIS;
    this.answerKey = `${RELEASE}.${ANSWER_FORMAT}.${TASK_VIEW_VERSION}.${judgeOptionsKey(options)}`;
  }

  /** Stores a batch, then forgets the reports of the instances it touches. */
  async consume(batch: SpanRecord[]): Promise<void> {
    await this.store.consume(batch);
    this.forget(new Set(batch.map((s) => s.instance)));
  }

  /** Forgets the reports and summaries of these instances (their spans changed in the store). */
  forget(instances: Iterable<string>): void {
    for (const instance of instances) this.generations.set(instance, (this.generations.get(instance) ?? 0) + 1);
  }

  /**
   * An entity tag of a report this view returned: the same while the report is served from the
   * cache (nothing of its instance changed), another once it is judged again. An ended shutdown
   * judged from a store that keeps answers has the tag of its kept answers (answerTag), which
   * stays the same across judgments and restarts for as long as no span of its instance lands.
   */
  tagOf(report: ShutdownReport | BriefReport): string {
    const judgedAt = this.judgedAt.get(report);
    if (judgedAt !== undefined && !report.shutdown.open) return answerTag(this.answerKey, judgedAt);
    let tag = this.tags.get(report);
    if (tag === undefined) {
      tag = `${PROCESS_TAG}-${++this.reportsJudged}`;
      this.tags.set(report, tag);
    }
    return tag;
  }

  /**
   * Outcome and counts of one shutdown, for the list. Kept far longer than whole reports, so a
   * dashboard polling a list of many shutdowns does not judge them all again on every poll.
   */
  async summary(shutdown: ShutdownRecord): Promise<ShutdownSummary> {
    const generation = this.generations.get(shutdown.instance) ?? 0;
    const key = `${shutdown.id}:${shutdown.end}`;
    const at = this.now();
    const hit = touch(this.summaries, key);
    if (hit && this.fresh(hit, generation, at)) return hit.summary;
    const kept = await this.answer(shutdown, 'compact');
    if (kept) {
      const summary = JSON.parse(kept.stored.summary) as ShutdownSummary;
      remember(this.summaries, key, { generation, at, summary }, DEFAULT_SUMMARY_CACHE_SIZE);
      return summary;
    }
    const { outcome, counts } = await this.briefReport(shutdown);
    remember(this.summaries, key, { generation, at, summary: { outcome, counts } }, DEFAULT_SUMMARY_CACHE_SIZE);
    return { outcome, counts };
  }

  /** The judged view of one shutdown, with whole task records (the full view, one task, exports). */
  report(shutdown: ShutdownRecord): Promise<ShutdownReport> {
    return this.cached(shutdown, 'full', async (end) => {
      if (this.store.judgedTasksInWindow) {
        // Each task was judged when its record was written: read the judgment instead of judging again.
        const rows = await this.store.judgedTasksInWindow(shutdown.instance, shutdown.start, end);
        const stored = new Map<TaskRecord, string | null>();
        const tasks = rows.map(({ task, judgment }) => {
          stored.set(task, judgment);
          return task;
        });
        return judgeShutdown(shutdown, tasks, this.options, (task, window) => judgedFromStored(task, stored.get(task), window, this.options));
      }
      return judgeShutdown(shutdown, await this.store.tasksInWindow(shutdown.instance, shutdown.start, end), this.options);
    });
  }

  /**
   * The same judgment with the tasks as columns ({@link BriefReport}): what the compact and columnar
   * views, the list and a settled shutdown's judgment read. Read from the views the store kept of each
   * task where it has them, without a record or an object per task: a million tasks judge in seconds.
   * Verdicts, findings and order are those of {@link report}.
   */
  briefReport(shutdown: ShutdownRecord): Promise<BriefReport> {
    return this.cached(shutdown, 'brief', async (end) => {
      if (this.store.scanTaskViews) {
        const judge = new BriefJudge(shutdown, this.options);
        await this.store.scanTaskViews(shutdown.instance, shutdown.start, end, {
          view: (text) => judge.addStored(text),
          record: (task) => judge.addRecord(task),
        });
        return judge.finish();
      }
      return judgeBriefFromRecords(shutdown, await this.store.tasksInWindow(shutdown.instance, shutdown.start, end), this.options);
    });
  }

  /**
   * The whole judged tasks of a brief report (records, findings with their messages, swallow sites
   * with their stacks) in its order, rows `from` to `to`, read from the store {@link WHOLE_TASKS_CHUNK}
   * at a time: what {@link report} holds at once, for a view that writes them one chunk after another.
   * A task removed since the brief was judged (retention) is left out.
   */
  async *wholeTasks(brief: BriefReport, from = 0, to = brief.tasks.count): AsyncGenerator<JudgedTask[]> {
    const { store } = this;
    if (!store.judgedTasksByKey) {
      const { tasks } = await this.report(brief.shutdown);
      for (let k = from; k < to; k += WHOLE_TASKS_CHUNK) yield tasks.slice(k, Math.min(to, k + WHOLE_TASKS_CHUNK));
      return;
    }
    const t = brief.tasks;
    const window = { end: brief.shutdown.end, open: brief.shutdown.open };
    for (let k = from; k < to; k += WHOLE_TASKS_CHUNK) {
      const rows = Array.from(t.order.subarray(k, Math.min(to, k + WHOLE_TASKS_CHUNK)));
      const found = await store.judgedTasksByKey(rows.map((i) => [t.traces.values[t.trace[i]], t.spanId[i]] as const));
      const judged: JudgedTask[] = [];
      rows.forEach((i, n) => {
        const row = found[n];
        if (row === undefined) return;
        const whole = judgedFromStored(row.task, row.judgment, window, this.options);
        // The verdict and findings only the whole shutdown gives (end_not_received, group_blocked) are the brief's.
        whole.verdict = t.verdict[i];
        const extra = t.extraFindings.get(i);
        if (extra) whole.findings = [...whole.findings, ...extra];
        judged.push(whole);
      });
      yield judged;
    }
  }

  /**
   * The answer of an ended shutdown in one form as the store keeps it, while it still stands (judged
   * with these options, and no span of the instance written or deleted since); else undefined.
   */
  async answer(shutdown: ShutdownRecord, form: AnswerForm): Promise<KeptAnswer | undefined> {
    const answers = this.store.answers;
    if (!answers || shutdown.open) return undefined;
    const [generation, stored] = await Promise.all([answers.generation(shutdown.instance), answers.readAnswer(shutdown.id, form)]);
    if (!stored || stored.generation !== generation || stored.judgeKey !== this.answerKey) return undefined;
    return new KeptAnswer(answers, shutdown.id, form, stored);
  }

  /**
   * Derives and keeps the answers of an ended shutdown (see answers.ts), unless they stand already;
   * one derivation of a shutdown at a time. Called when a shutdown settles, and after a read that had
   * to judge one. Resolves when they are kept; rejects with what failed (nothing half-written is kept).
   */
  derive(shutdown: ShutdownRecord): Promise<void> {
    if (!this.store.answers || shutdown.open) return Promise.resolve();
    let running = this.deriving.get(shutdown.id);
    if (!running) {
      running = this.deriveNow(shutdown).finally(() => this.deriving.delete(shutdown.id));
      this.deriving.set(shutdown.id, running);
    }
    return running;
  }

  /**
   * {@link derive} a while later (deriveAfterReadMillis; an unref'd timer: it never keeps the process
   * alive); what fails goes to `onError`. Once per shutdown while one is scheduled.
   */
  deriveLater(shutdown: ShutdownRecord, onError: (error: unknown) => void): void {
    if (!this.store.answers || shutdown.open || this.scheduled.has(shutdown.id)) return;
    const timer = setTimeout(() => {
      this.scheduled.delete(shutdown.id);
      this.derive(shutdown).catch(onError);
    }, this.deriveAfterReadMillis);
    timer.unref();
    this.scheduled.set(shutdown.id, timer);
  }

  private async deriveNow(shutdown: ShutdownRecord): Promise<void> {
    const answers = this.store.answers;
    if (!answers) return;
    const standing = await Promise.all(ANSWER_FORMS.map((form) => this.answer(shutdown, form)));
    if (standing.every((kept) => kept !== undefined)) return;
    const brief = await this.briefReport(shutdown);
    const generation = this.judgedAt.get(brief);
    if (generation === undefined) return;
    const summary = JSON.stringify({ outcome: brief.outcome, counts: brief.counts } satisfies ShutdownSummary);
    for (const form of ANSWER_FORMS) {
      const body = form === 'compact' ? streamedCompact(brief) : new StreamedText(() => columnarReportText(brief));
      const writeId = newWriteId(generation);
      const chunks = await writeAnswerChunks(answers, shutdown.id, form, writeId, body.stream(), this.answerChunkBytes);
      await answers.commitAnswer(shutdown.id, form, { judgeKey: this.answerKey, generation, writeId, chunks, summary });
    }
  }

  /** A report from the cache while it stands, else judged by `judge` (given the window's end, undefined while open) and kept. */
  private async cached<R extends ShutdownReport | BriefReport>(
    shutdown: ShutdownRecord,
    form: 'full' | 'brief',
    judge: (end: bigint | undefined) => Promise<R>,
  ): Promise<R> {
    const generation = this.generations.get(shutdown.instance) ?? 0;
    const key = `${form}:${shutdown.id}:${shutdown.end}`;
    // Taken before the read, so that the age counts from the state the report was judged on.
    const at = this.now();
    const hit = touch(this.cache, key);
    if (hit && this.fresh(hit, generation, at)) return hit.report as R;
    // Read before the judging reads: a write that lands in between makes the answers kept of it stale, never the reverse.
    const judgedAt = await this.store.answers?.generation(shutdown.instance);
    const report = await judge(shutdown.open ? undefined : shutdown.end);
    if (judgedAt !== undefined) this.judgedAt.set(report, judgedAt);
    remember(this.cache, key, { generation, at, report }, this.cacheSize);
    // Bounded by tasks as well: a few reports of a million tasks each are most of the memory there is.
    let tasks = 0;
    for (const entry of this.cache.values()) tasks += tasksIn(entry.report);
    for (const [held, entry] of this.cache) {
      if (tasks <= this.maxTasks || held === key) break;
      tasks -= tasksIn(entry.report);
      this.cache.delete(held);
    }
    return report;
  }

  /** True when a cached entry still stands: no span of its instance arrived here since, and it is not too old. */
  private fresh(entry: { generation: number; at: number }, generation: number, now: number): boolean {
    return entry.generation === generation && now - entry.at < this.maxAgeMillis;
  }
}

/** How many tasks a kept report holds. */
function tasksIn(report: ShutdownReport | BriefReport): number {
  return Array.isArray(report.tasks) ? report.tasks.length : (report.tasks as BriefReport['tasks']).count;
}

/** Reads an entry and marks it most recently used. */
function touch<V>(cache: Map<string, V>, key: string): V | undefined {
  const hit = cache.get(key);
  if (hit !== undefined) {
    cache.delete(key);
    cache.set(key, hit);
  }
  return hit;
}

/** Stores an entry, dropping the least recently used ones beyond `size`. */
function remember<V>(cache: Map<string, V>, key: string, value: V, size: number): void {
  cache.set(key, value);
  while (cache.size > size) cache.delete(cache.keys().next().value as string);
}
