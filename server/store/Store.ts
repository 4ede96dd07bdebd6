import type { Consumer, ShutdownRecord, SpanRecord, TaskRecord, Verdict } from '../../contract/records.js';
import type { ExpiryBatch, ExpiryCursor } from '../retention/ExpiryCursor.js';

/** Filter for {@link Store.listShutdowns}. */
export interface ShutdownQuery {
  service?: string;
  /** at most this many, newest first */
  limit?: number;
}

/** Filter for {@link Store.queryTasks}. */
export interface TaskQuery {
  /** the verdict the task gets judged alone (see judgeTaskAlone) */
  verdict?: Verdict;
  service?: string;
  /** unix ns: only tasks whose record ends at or after this time */
  since?: bigint;
  /** 1 … 10,000 */
  limit: number;
  /** opaque cursor from a previous page */
  cursor?: string;
}

/** A page of tasks, newest (by end time) first. */
export interface TaskPage {
  tasks: { task: TaskRecord; verdict: Verdict }[];
  /** present when there may be more */
  nextCursor?: string;
}

/** Where {@link Store.scanTaskViews} hands each task row. */
export interface TaskViewSink {
  /** One task row's stored view text (null: none); false when the text cannot be used. */
  view(text: string | null): boolean;
  /** The whole record of a row whose view text could not be used. */
  record(task: TaskRecord): void;
}

/** One form of a shutdown's answer, derived once and kept (see ShutdownViews.answer). */
export interface StoredAnswer {
  /** the judge options (and view version) it was judged with */
  judgeKey: string;
  /** the generation of the instance read before it was judged */
  generation: number;
  /** names this write of it (entity tags) */
  writeId: string;
  /** how many chunks its text has */
  chunks: number;
  /** what the shutdown list shows of it (JSON) */
  summary: string;
}

/** The answers a store keeps (see StoredAnswer); only some stores have them. */
export interface AnswerStore {
  /** The generation of an instance's spans: it changes with every write of them and every retention delete. */
  generation(instance: string): Promise<number>;
  /** The answer kept for a shutdown in one form, or undefined. */
  readAnswer(shutdownId: string, form: string): Promise<StoredAnswer | undefined>;
  /** Chunk `seq` (from 0) of a write of an answer: a piece of its gzip stream; undefined when gone (replaced, retention). */
  readAnswerChunk(shutdownId: string, form: string, writeId: string, seq: number): Promise<Buffer | undefined>;
  /** Writes chunk `seq` of a write of an answer (each in a short transaction of its own). */
  writeAnswerChunk(shutdownId: string, form: string, writeId: string, seq: number, data: Buffer): Promise<void>;
  /** Makes a written answer the kept one (in one transaction), dropping the chunks of any other write of it. */
  commitAnswer(shutdownId: string, form: string, answer: StoredAnswer): Promise<void>;
}

/**
 * Where spans live. Storage knows nothing of HTTP; it keeps every span (judged or not), keeps one
 * record per (trace id, span id) where a final record replaces a snapshot and never the reverse,
 * and answers the reads the API needs. Implementations: SqliteStore (embedded default), and a
 * PostgreSQL store for several instances.
 */
export interface Store extends Consumer<SpanRecord> {
  /** Stores a batch atomically: all of it or, on error, none of it. */
  consume(batch: SpanRecord[]): Promise<void>;
  /** Shutdowns, newest start first. */
  listShutdowns(query?: ShutdownQuery): Promise<ShutdownRecord[]>;
  /** One shutdown by its id (`<traceId>-<spanId>`), or undefined. */
  getShutdown(id: string): Promise<ShutdownRecord | undefined>;
  /**
   * The task records of one instance that were alive at `start` or created up to `end`
   * (`end` undefined: no upper bound), whatever trace they belong to.
   */
  tasksInWindow(instance: string, start: bigint, end: bigint | undefined): Promise<TaskRecord[]>;
  /**
   * The same records as {@link tasksInWindow}, each with the judgment text stored beside it when it
   * was written (null: none). Only stores that keep judgments have it.
   */
  judgedTasksInWindow?(instance: string, start: bigint, end: bigint | undefined): Promise<{ task: TaskRecord; judgment: string | null }[]>;
  /**
   * The tasks of {@link tasksInWindow}, each handed to `sink` as the view text stored beside it when it
   * was written (`sink.view`), and as its whole record only when the sink cannot use that text
   * (`sink.view` returned false: none stored, or an older one). Only stores that keep views have it.
   */
  scanTaskViews?(instance: string, start: bigint, end: bigint | undefined, sink: TaskViewSink): Promise<void>;
  /**
   * Whole task records with the judgment text stored beside each (null: none), by trace id and span
   * id, in the order asked (undefined where there is no such task any more). Only stores that keep
   * judgments have it.
   */
  judgedTasksByKey?(keys: readonly (readonly [traceId: string, spanId: string])[]): Promise<({ task: TaskRecord; judgment: string | null } | undefined)[]>;
  /** Answers derived once from settled shutdowns; only stores that keep them have it. */
  answers?: AnswerStore;
  /** Tasks across time, filtered and paged. */
  queryTasks(query: TaskQuery): Promise<TaskPage>;
  /** Every stored span of one trace (judged or not). */
  spansOfTrace(traceId: string): Promise<SpanRecord[]>;
  /** Counts for /api/health. */
  stats(): Promise<{ spans: number; tasks: number; shutdowns: number }>;
  /** Closes the store; safe to call twice. */
  close(): Promise<void>;
  /** True while another process holds the store's write lock (writes are refused with StoreBusyError); absent when it cannot be. */
  busy?(): boolean;
  /**
   * Retention: deletes, in one short transaction, the expired records among the next `limit` rows
   * from `cursor` on (records older than `cutoff`, unix ns; a shutdown whole, a task only when no
   * kept shutdown holds it: see server/retention/ExpiryCursor.ts).
   */
  expireBatch(cutoff: bigint, limit: number, cursor: ExpiryCursor): Promise<ExpiryBatch>;
  /** Retention: gives up to `maxPages` pages freed by deletes back to the file system where the store can; resolves with how many. */
  reclaimSpace(maxPages: number): Promise<number>;
  /** Bytes the store occupies, or undefined when it cannot tell. */
  sizeBytes(): Promise<number | undefined>;
}
