import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { readShutdown, readTask } from '../../contract/contract.js';
import type { Attrs, ShutdownRecord, SpanRecord, SpanRole, TaskRecord, Verdict } from '../../contract/records.js';
import type { ExpiryBatch, ExpiryCursor } from '../retention/ExpiryCursor.js';
import { sqliteSizeBytes } from '../retention/sqliteExpiry.js';
import { decodeResource, decodeSpanRow, encodeSpanBody } from './codec.js';
import {
  checkLimit,
  checkVerdict,
  clampInt64,
  derivedColumns,
  INT64_MAX,
  TASK_END_BUCKET,
  TASK_END_BUCKET_SHIFT,
  WINDOW_BUCKET,
  WINDOW_BUCKET_SHIFT,
} from './columns.js';
import { migrate, StoreSchemaError, schemaVersion } from './migrations.js';
import { resourceKey } from './resourceKey.js';
import { configureConnection, GroupCommit, SqliteWriter, type WriteBatch, type WriteRow } from './SqliteWriter.js';
import type { AnswerStore, ShutdownQuery, Store, StoredAnswer, TaskPage, TaskQuery, TaskViewSink } from './Store.js';
import { StoreBusyError } from './StoreBusyError.js';
import { StoreClosedError } from './StoreClosedError.js';
import { StoreOpenError } from './StoreOpenError.js';
import { StoreQueryError } from './StoreQueryError.js';
import { errorFromWire, type SqliteWriterData, type WriterReply, type WriterRequest } from './sqliteWriterMessages.js';
import { taskCursor } from './taskCursor.js';

export { DEFAULT_CACHE_KIB, GROUP_COMMIT_MAX_SPANS } from './SqliteWriter.js';
/** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
/**
 * How long a write of the ingest path waits for another process's write lock (ms). better-sqlite3
 * waits on the event loop, so this is short: past it the batch is refused as busy (retryable) and
 * /api/health and the reads go on answering. `import` keeps the long {@link DEFAULT_BUSY_TIMEOUT_MS}.
 */
export const DEFAULT_WRITE_BUSY_TIMEOUT_MS = 50;
/** After a write found the store busy, how long writes are refused at once without asking SQLite again (ms). */
export const BUSY_BACKOFF_MS = 250;
/** How long after the last busy write {@link SqliteStore.busy} still says busy (ms). */
export const BUSY_REPORT_MS = 2_000;
/** Largest page {@link SqliteStore.queryTasks} returns (the {@link TaskQuery} contract). */
export const MAX_TASK_PAGE = 10_000;
/**
 * A window's view rows are read over their range of row ids when that range holds at most this many
 * rows per row of the window (other instances' rows interleaved), else through the index.
 */
export const ROW_RANGE_FACTOR = 4;

/** Options of {@link SqliteStore.open}. */
export interface SqliteStoreOptions {
  /** the database file (parent directories are created); `:memory:` for a throw-away store */
  path: string;
  /**
   * The verdict a task gets judged alone; kept in a column so that /api/tasks?verdict= is an index
   * read. Injected because storage knows nothing of analysis. Called once per stored task record.
   */
  verdictOf: (task: TaskRecord) => Verdict;
  /**
   * A task's judgment, made once when its record is written and kept beside it (read back by
   * {@link SqliteStore.judgedTasksInWindow}); when given, its verdict fills the verdict column and
   * `verdictOf` is not called. Injected, like `verdictOf`.
   */
  judgmentOf?: (task: TaskRecord) => { verdict: Verdict; text: string; view?: string };
  /** defaults to {@link DEFAULT_BUSY_TIMEOUT_MS} */
  busyTimeoutMs?: number;
  /**
   * How long a write waits for another process's write lock before it is refused with
   * {@link StoreBusyError}; defaults to `busyTimeoutMs` (the service passes {@link DEFAULT_WRITE_BUSY_TIMEOUT_MS}).
   */
  writeBusyTimeoutMs?: number;
  /**
   * Run the writes (the group commits, and retention's deletes) on a connection of their own in a worker
   * thread (sqliteWriterThread.ts), beside this thread, which still encodes and judges each record:
   * `true` for the built script beside this module, or the URL of a script that runs it. Ignored for
   * `:memory:`. Reads stay on this thread's connection.
   */
  writerThread?: boolean | URL;
}

const SHUTDOWN_ID = /^([0-9a-f]{32})-([0-9a-f]{16})$/;

/** The columns a record is read from, in this order (see {@link ROW_COLUMNS}); integers as bigint. */
type StoredRow = [
  traceId: string,
  spanId: string,
  role: SpanRole,
  service: string,
  instance: string,
  startNs: bigint,
  endNs: bigint,
  snapshot: bigint,
  resourceId: bigint | null,
  record: string,
];

/** What every read selects to rebuild a record (a {@link StoredRow}). */
const ROW_COLUMNS = 'trace_id, span_id, role, service, instance, start_ns, end_ns, snapshot, resource_id, record';
/** {@link ROW_COLUMNS} of the spans row `s` in a join. */
const ROW_COLUMNS_OF_S = ROW_COLUMNS.split(', ')
  .map((column) => `s.${column}`)
  .join(', ');
/** A {@link SqliteStore.scanTaskViews} row: the spans row id and the view text. */
type ViewRow = [id: number, view: string | null];

/** A queryTasks row: the paging key and verdict, then a {@link StoredRow}. */
type TaskRow = [id: bigint, endNs: bigint, verdict: Verdict, ...row: StoredRow];

/**
 * The embedded {@link Store}: one SQLite file in WAL mode, one row per (trace id, span id) holding
 * the columns the reads filter and sort on, plus the rest of the record as a compact JSON body
 * (codec.ts); each distinct resource is stored once, in the resources table. better-sqlite3 is
 * synchronous; the methods are async only to fit the interface, and errors come back as rejections.
 */
export class SqliteStore implements Store {
  private db: Database.Database | undefined;
  private readonly verdictOf: (task: TaskRecord) => Verdict;
  private readonly judgmentOf: SqliteStoreOptions['judgmentOf'];
  /** The group commits on this thread's connection; undefined when a {@link WriterThread} makes them. */
  private readonly commits: GroupCommit<{ resolve: () => void; reject: (error: unknown) => void }> | undefined;
  private readonly writer: SqliteWriter | undefined;
  private readonly thread: WriterThread | undefined;
  /** Writes an encoded batch in the next group commit, here or in the writer thread. */
  private readonly write: (batch: WriteBatch) => Promise<unknown>;
  /** Date.now() of the last write that found the store busy */
  private lastBusyAt = Number.NEGATIVE_INFINITY;
  private readonly stmt: ReturnType<typeof prepareStatements>;
  /** queryTasks statements, one per combination of filters, each prepared on first use. */
  private readonly taskQueries = new Map<string, Database.Statement>();
  /** Decoded resources by row id; a resource row never changes once written. */
  private readonly resources = new Map<number, Attrs>();
  /**
   * Encoded resources by the attributes object: the records of one resource usually share it
   * (toSpanRecord), so it is hashed once. Records are never mutated once handed to a stage.
   */
  private readonly resourceKeys = new WeakMap<Attrs, { hash: string; text: string }>();

  private constructor(
    db: Database.Database,
    verdictOf: (task: TaskRecord) => Verdict,
    busyTimeoutMs: number,
    writeBusyTimeoutMs: number,
    judgmentOf: SqliteStoreOptions['judgmentOf'],
    thread: WriterThread | undefined,
  ) {
    this.db = db;
    this.verdictOf = verdictOf;
    this.judgmentOf = judgmentOf;
    this.stmt = prepareStatements(db);
    this.thread = thread;
    if (thread) {
      this.write = (batch) => thread.request({ type: 'write', batch });
      return;
    }
    const writer = new SqliteWriter(db, busyTimeoutMs, writeBusyTimeoutMs);
    const commits = new GroupCommit<{ resolve: () => void; reject: (error: unknown) => void }>(
      () => {
        if (!this.db) throw new StoreClosedError('SqliteStore');
        return writer;
      },
      (callers, errors) => {
        for (let i = 0; i < callers.length; i++) {
          if (errors[i] === undefined) callers[i].resolve();
          else callers[i].reject(errors[i]);
        }
      },
    );
    this.writer = writer;
    this.commits = commits;
    this.write = (batch) => new Promise<void>((resolve, reject) => commits.add(batch, { resolve, reject }));
  }

  /** The answers of settled shutdowns (see AnswerStore). */
  readonly answers: AnswerStore = {
    generation: async (instance) => {
      this.live();
      return Number(this.stmt.generation.get(instance) ?? 0);
    },
    readAnswer: async (shutdownId, form) => {
      this.live();
      const row = this.stmt.answer.get(shutdownId, form) as [string, number, string, number, string] | undefined;
      if (row === undefined) return undefined;
      const [judgeKey, generation, writeId, chunks, summary] = row;
      return { judgeKey, generation, writeId, chunks, summary } satisfies StoredAnswer;
    },
    readAnswerChunk: async (shutdownId, form, writeId, seq) => {
      this.live();
      return this.stmt.answerChunk.get(shutdownId, form, writeId, seq) as Buffer | undefined;
    },
    writeAnswerChunk: async (shutdownId, form, writeId, seq, data) => {
      this.live();
      this.stmt.insertAnswerChunk.run(shutdownId, form, writeId, seq, data);
    },
    commitAnswer: async (shutdownId, form, answer) => {
      this.commitAnswer(shutdownId, form, answer);
    },
  };

  private commitAnswer(shutdownId: string, form: string, answer: StoredAnswer): void {
    const db = this.live();
    db.transaction(() => {
      this.stmt.putAnswer.run(shutdownId, form, answer.judgeKey, answer.generation, answer.writeId, answer.chunks, answer.summary);
      this.stmt.dropOtherAnswerChunks.run(shutdownId, form, answer.writeId);
    }).immediate();
  }

  /** Opens (creating or migrating as needed) the database at `options.path`. */
  static open(options: SqliteStoreOptions): SqliteStore {
    const { path } = options;
    let db: Database.Database;
    try {
      if (path !== ':memory:' && path !== '') makeParents(dirname(path));
      db = new Database(path);
    } catch (error) {
      throw new StoreOpenError(path, error);
    }
    try {
      // A new file gives the pages retention deletes back to the file system (incremental vacuum);
      // the mode can only be chosen before the first table, and before WAL mode writes the header.
      if (schemaVersion(db) === 0) db.pragma('auto_vacuum = INCREMENTAL');
      const busyTimeoutMs = Math.max(0, Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS));
      configureConnection(db, busyTimeoutMs);
      migrate(db, undefined, `SqliteStore ${path}`);
      const writeBusyTimeoutMs = Math.max(0, Math.trunc(options.writeBusyTimeoutMs ?? busyTimeoutMs));
      const threadUrl = options.writerThread === true ? new URL('./sqliteWriterThread.js', import.meta.url) : options.writerThread || undefined;
      // Started once the file is migrated: the thread's connection only writes rows.
      const thread = threadUrl && path !== ':memory:' && path !== '' ? new WriterThread(threadUrl, { path, busyTimeoutMs, writeBusyTimeoutMs }) : undefined;
      return new SqliteStore(db, options.verdictOf, busyTimeoutMs, writeBusyTimeoutMs, options.judgmentOf, thread);
    } catch (error) {
      db.close();
      // A schema from a newer version says so itself; what SQLite says (read-only file or folder) lacks the path.
      throw error instanceof StoreSchemaError ? error : new StoreOpenError(path, error);
    }
  }

  /**
   * Stores a batch atomically (a final record replaces a snapshot, never the reverse) and resolves
   * once it is committed. Batches that arrive together share one transaction (group commit), each in
   * its own savepoint: a batch that fails is rejected and leaves nothing, the others are kept.
   */
  consume(batch: SpanRecord[]): Promise<void> {
    let encoded: WriteBatch;
    try {
      this.live();
      if (batch.length === 0) return Promise.resolve();
      // Encoded and judged here, whichever thread writes: a malformed record fails its batch alone.
      encoded = this.encodeBatch(batch);
    } catch (error) {
      return Promise.reject(error);
    }
    // Just found busy: refuse at once rather than wait on the event loop again.
    if (Date.now() - this.lastBusyAt < BUSY_BACKOFF_MS) return Promise.reject(new StoreBusyError());
    return this.write(encoded).then(
      () => undefined,
      (error: unknown) => {
        if (error instanceof StoreBusyError) this.lastBusyAt = Date.now();
        throw error;
      },
    );
  }

  /** True when a write found another process holding the write lock within the last {@link BUSY_REPORT_MS}. */
  busy(): boolean {
    return Date.now() - this.lastBusyAt < BUSY_REPORT_MS;
  }

  /** Shutdowns, newest start first. */
  async listShutdowns(query: ShutdownQuery = {}): Promise<ShutdownRecord[]> {
    this.live();
    const limit = query.limit === undefined ? -1 : checkLimit(query.limit, Number.MAX_SAFE_INTEGER, 'limit');
    const records =
      query.service === undefined ? (this.stmt.shutdowns.all(limit) as StoredRow[]) : (this.stmt.shutdownsOfService.all(query.service, limit) as StoredRow[]);
    return records.map((row) => readShutdown(this.decode(row)));
  }

  /** One shutdown by its id (`<traceId>-<spanId>`), or undefined; a malformed id is a {@link StoreQueryError}. */
  async getShutdown(id: string): Promise<ShutdownRecord | undefined> {
    this.live();
    const match = SHUTDOWN_ID.exec(typeof id === 'string' ? id.toLowerCase() : '');
    if (!match) {
      throw new StoreQueryError(`invalid shutdown id ${JSON.stringify(id)}: expected <32 hex trace id>-<16 hex span id>`);
    }
    const row = this.stmt.shutdown.get(match[1], match[2]) as StoredRow | undefined;
    return row === undefined ? undefined : readShutdown(this.decode(row));
  }

  /** Tasks of `instance` alive at `start` (or still pending at a snapshot) and created up to `end`, in no set order. */
  async tasksInWindow(instance: string, start: bigint, end: bigint | undefined): Promise<TaskRecord[]> {
    this.live();
    const rows = this.stmt.window.all(windowParams(instance, start, end)) as StoredRow[];
    const tasks: TaskRecord[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) tasks[i] = readTask(this.decode(rows[i]));
    return tasks;
  }

  /** {@link tasksInWindow}, each record with the judgment stored beside it (null: none stored), read one row at a time. */
  async judgedTasksInWindow(instance: string, start: bigint, end: bigint | undefined): Promise<{ task: TaskRecord; judgment: string | null }[]> {
    this.live();
    const rows = this.stmt.windowJudged.iterate(windowParams(instance, start, end)) as IterableIterator<[...StoredRow, string | null]>;
    const tasks: { task: TaskRecord; judgment: string | null }[] = [];
    for (const row of rows) tasks.push({ task: readTask(this.decode(row as unknown as StoredRow)), judgment: row[10] });
    return tasks;
  }

  /**
   * The task rows of {@link tasksInWindow}, each handed to `sink` with the view text kept beside it
   * (see Store.scanTaskViews); the whole record is read and decoded only for a row whose view the sink
   * cannot use. Nothing is held here between rows.
   */
  async scanTaskViews(instance: string, start: bigint, end: bigint | undefined, sink: TaskViewSink): Promise<void> {
    this.live();
    const params = windowParams(instance, start, end);
    // A shutdown's tasks arrive together, so their view rows lie in a narrow range of row ids: read that
    // range in row order (sequential pages) rather than one row lookup per index entry (random pages: 9 s
    // of a cold million-task read), unless other rows would make up most of it.
    const [count, low, high] = this.stmt.windowExtent.get(params) as [number, number | null, number | null];
    const inRowOrder = low !== null && high !== null && high - low + 1 <= ROW_RANGE_FACTOR * count;
    const statement = inRowOrder ? this.stmt.windowViewsInRowOrder : this.stmt.windowViews;
    for (const row of statement.iterate(inRowOrder ? { ...params, low, high } : params) as IterableIterator<ViewRow>) {
      if (sink.view(row[1])) continue;
      sink.record(readTask(this.decode(this.stmt.byId.get(row[0]) as StoredRow)));
    }
  }

  /** Whole task records with their judgments, by key (see Store.judgedTasksByKey): one primary-key read each. */
  async judgedTasksByKey(
    keys: readonly (readonly [traceId: string, spanId: string])[],
  ): Promise<({ task: TaskRecord; judgment: string | null } | undefined)[]> {
    this.live();
    return keys.map(([traceId, spanId]) => {
      const row = this.stmt.judgedTask.get(traceId, spanId) as [...StoredRow, string | null] | undefined;
      return row === undefined ? undefined : { task: readTask(this.decode(row as unknown as StoredRow)), judgment: row[10] };
    });
  }

  /**
   * Tasks newest end first, filtered, in pages of `limit` with an opaque keyset cursor (the end time
   * and row id of the page's last task). A task whose record is replaced while someone pages (a
   * snapshot by its final record) moves to its new end time, so it may show on two pages or none.
   */
  async queryTasks(query: TaskQuery): Promise<TaskPage> {
    const db = this.live();
    const limit = checkLimit(query.limit, MAX_TASK_PAGE, 'limit');
    const params: Record<string, unknown> = { limit: limit + 1 };
    const filters: string[] = [];
    if (query.verdict !== undefined) {
      checkVerdict(query.verdict);
      filters.push('verdict = @verdict');
      params.verdict = query.verdict;
    }
    if (query.service !== undefined) {
      filters.push('service = @service');
      params.service = query.service;
    }
    // Each bound on the end time bounds its bucket too: the range of spans_task_end_buckets to read.
    if (query.since !== undefined) {
      if (typeof query.since !== 'bigint') throw new StoreQueryError('invalid since: expected unix nanoseconds');
      filters.push(`(${TASK_END_BUCKET}) >= @sinceBucket AND end_ns >= @since`);
      params.since = clampInt64(query.since);
      params.sinceBucket = (params.since as bigint) >> TASK_END_BUCKET_SHIFT;
    }
    if (query.cursor !== undefined) {
      const [endNs, id] = taskCursor.decode(query.cursor);
      filters.push(`(${TASK_END_BUCKET}) <= @cursorBucket AND (end_ns, id) < (@cursorEnd, @cursorId)`);
      params.cursorEnd = endNs;
      params.cursorId = id;
      params.cursorBucket = clampInt64(endNs) >> TASK_END_BUCKET_SHIFT;
    }
    const key = filters.join(' AND ');
    let statement = this.taskQueries.get(key);
    if (!statement) {
      statement = db
        .prepare(
          `SELECT id, end_ns, verdict, ${ROW_COLUMNS} FROM spans WHERE role = 'task'${filters.map((f) => ` AND ${f}`).join('')}
           ORDER BY (${TASK_END_BUCKET}) DESC, end_ns DESC, id DESC LIMIT @limit`,
        )
        .raw()
        .safeIntegers(true);
      this.taskQueries.set(key, statement);
    }
    const rows = statement.all(params) as TaskRow[];
    const more = rows.length > limit;
    const shown = more ? rows.slice(0, limit) : rows;
    const page: TaskPage = {
      tasks: shown.map(([, , verdict, ...row]) => ({ task: readTask(this.decode(row)), verdict })),
    };
    if (more) {
      const last = shown[shown.length - 1];
      page.nextCursor = taskCursor.encode(last[1], last[0]);
    }
    return page;
  }

  /** Every stored span of one trace, in start order. */
  async spansOfTrace(traceId: string): Promise<SpanRecord[]> {
    this.live();
    return (this.stmt.trace.all(String(traceId).toLowerCase()) as StoredRow[]).map((row) => this.decode(row));
  }

  /** Counts for /api/health. */
  async stats(): Promise<{ spans: number; tasks: number; shutdowns: number }> {
    this.live();
    return this.stmt.counts.get() as { spans: number; tasks: number; shutdowns: number };
  }

  /** Checkpoints the WAL into the main file and closes; safe to call twice. */
  async close(): Promise<void> {
    const db = this.db;
    if (!db) return;
    // What was accepted is committed before the file closes.
    this.commits?.flush();
    this.db = undefined;
    try {
      if (this.thread) await this.thread.close();
      else db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
  }

  private live(): Database.Database {
    if (!this.db) throw new StoreClosedError('SqliteStore');
    return this.db;
  }

  /** Retention: one batch of expired records (server/retention/sqliteExpiry.ts). */
  async expireBatch(cutoff: bigint, limit: number, cursor: ExpiryCursor): Promise<ExpiryBatch> {
    this.live();
    if (this.thread) return (await this.thread.request({ type: 'expire', cutoff: clampInt64(cutoff), limit, cursor })) as ExpiryBatch;
    return (this.writer as SqliteWriter).expire(clampInt64(cutoff), limit, cursor);
  }

  /** Retention: incremental vacuum of up to `maxPages` free pages (files created since retention exists). */
  async reclaimSpace(maxPages: number): Promise<number> {
    this.live();
    if (this.thread) return (await this.thread.request({ type: 'reclaim', maxPages })) as number;
    return (this.writer as SqliteWriter).reclaim(maxPages);
  }

  /** Bytes of the pages in use. */
  async sizeBytes(): Promise<number | undefined> {
    return sqliteSizeBytes(this.live());
  }

  /** A record from its row; the resource comes from the resources table (cached). */
  private decode(row: StoredRow): SpanRecord {
    const resourceId = row[8];
    let resource: Attrs | undefined;
    if (resourceId !== null) {
      const id = Number(resourceId);
      resource = this.resources.get(id);
      if (resource === undefined) {
        const text = this.stmt.resource.get(resourceId) as string | undefined;
        if (text !== undefined) {
          resource = decodeResource(text);
          this.resources.set(id, resource);
        }
      }
    }
    const columns = {
      traceId: row[0],
      spanId: row[1],
      role: row[2],
      service: row[3],
      instance: row[4],
      startTime: row[5],
      endTime: row[6],
      snapshot: row[7] === 1n,
    };
    return decodeSpanRow(columns, row[9], resource);
  }

  /** The rows of a batch, encoded and judged, with its distinct resources. */
  private encodeBatch(batch: SpanRecord[]): WriteBatch {
    const rows: WriteRow[] = new Array(batch.length);
    const resources: WriteBatch['resources'] = [];
    const indexOf = new Map<string, number>();
    let lastResource: Attrs | undefined;
    let lastIndex = -1;
    for (let i = 0; i < batch.length; i++) {
      const span = batch[i];
      // Encode first: it validates ids and times, so nothing below sees a malformed record.
      const record = encodeSpanBody(span);
      // The records of one resource usually share its attributes object (toSpanRecord).
      if (lastIndex < 0 || span.resource !== lastResource) {
        const key = this.resourceKeyOf(span.resource);
        let index = indexOf.get(key.hash);
        if (index === undefined) {
          index = resources.push(key) - 1;
          indexOf.set(key.hash, index);
        }
        lastResource = span.resource;
        lastIndex = index;
      }
      let judged: string | null = null;
      let view: string | null = null;
      let verdictOf = this.verdictOf;
      if (span.role === 'task' && this.judgmentOf) {
        const judgment = this.judgmentOf(readTask(span));
        judged = judgment.text;
        view = judgment.view ?? null;
        verdictOf = () => judgment.verdict;
      }
      const { created, verdict } = derivedColumns(span, verdictOf, 'SqliteStore');
      rows[i] = [
        span.traceId,
        span.spanId,
        span.role,
        span.service,
        span.instance,
        span.startTime,
        span.endTime,
        created,
        span.snapshot ? 1 : 0,
        verdict,
        lastIndex,
        record,
        judged,
        view,
        span.events.length,
      ];
    }
    return { rows, resources };
  }

  /** A resource's key and stored text, hashed once per attributes object. */
  private resourceKeyOf(resource: Attrs): { hash: string; text: string } {
    let key = this.resourceKeys.get(resource);
    if (key === undefined) {
      key = resourceKey(resource);
      if (resource !== null && typeof resource === 'object') this.resourceKeys.set(resource, key);
    }
    return key;
  }
}

/**
 * A store's writer thread (sqliteWriterThread.ts): requests go by message, each answered by its id. The
 * thread keeps the process alive only while it has something to answer.
 */
class WriterThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  private lastId = 0;
  /** why the thread is gone (requests are refused with it) */
  private gone: Error | undefined;
  private exited: Promise<void>;
  private closing = false;

  constructor(url: URL, data: SqliteWriterData) {
    // A small young generation: the thread holds little besides the rows of the group it commits, and
    // V8's default (tens of MiB per thread) put the serve past its memory budget (bench/ingest peak RSS).
    this.worker = new Worker(url, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: WRITER_THREAD_YOUNG_MB } });
    this.worker.unref();
    this.worker.on('message', (reply: WriterReply) => this.onReply(reply));
    this.worker.on('error', (error) => this.fail(new Error(`SqliteStore: the writer thread failed: ${error.message}`, { cause: error })));
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', (code) => {
        this.fail(this.closing ? new StoreClosedError('SqliteStore') : new Error(`SqliteStore: the writer thread exited (code ${code})`));
        resolve();
      }),
    );
  }

  /** Sends a request; resolves with its answer. */
  request(request: DistributiveOmit<Exclude<WriterRequest, { type: 'close' }>, 'id'>): Promise<unknown> {
    if (this.gone) return Promise.reject(this.gone);
    const id = ++this.lastId;
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id } as WriterRequest);
    });
  }

  /** Commits what was sent, then closes the thread's connection and waits for the thread to end. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      if (!this.gone) {
        this.worker.ref();
        this.worker.postMessage({ type: 'close' } satisfies WriterRequest);
      }
    }
    return this.exited;
  }

  private onReply(reply: WriterReply): void {
    if (reply.type === 'written') {
      for (let i = 0; i < reply.ids.length; i++) {
        const error = reply.errors[i];
        this.settle(reply.ids[i], error === undefined ? undefined : errorFromWire(error), undefined);
      }
    } else if (reply.type === 'done') {
      this.settle(reply.id, reply.error === undefined ? undefined : errorFromWire(reply.error), reply.value);
    }
  }

  private settle(id: number, error: Error | undefined, value: unknown): void {
    const waiting = this.waiting.get(id);
    if (!waiting) return;
    this.waiting.delete(id);
    if (this.waiting.size === 0 && !this.closing) this.worker.unref();
    if (error === undefined) waiting.resolve(value);
    else waiting.reject(error);
  }

  private fail(error: Error): void {
    this.gone ??= error;
    for (const waiting of this.waiting.values()) waiting.reject(this.gone);
    this.waiting.clear();
  }
}

/** The young generation of a writer thread's heap, in MiB (see WriterThread). */
const WRITER_THREAD_YOUNG_MB = 4;

/** Omit over each member of a union. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Every fixed statement, prepared once when the store opens. */
function prepareStatements(db: Database.Database) {
  return {
    resource: db.prepare('SELECT attributes FROM resources WHERE id = ?').pluck(),
    shutdowns: rows(db, `SELECT ${ROW_COLUMNS} FROM spans WHERE role = 'shutdown' ORDER BY start_ns DESC, id DESC LIMIT ?`),
    shutdownsOfService: rows(db, `SELECT ${ROW_COLUMNS} FROM spans WHERE role = 'shutdown' AND service = ? ORDER BY start_ns DESC, id DESC LIMIT ?`),
    shutdown: rows(db, `SELECT ${ROW_COLUMNS} FROM spans WHERE trace_id = ? AND span_id = ? AND role = 'shutdown'`),
    // Through the task view rows (a row per task row, same instance, times and snapshot flag), each half
    // by its own index of task_views, then the spans row by its row id (CROSS JOIN keeps that order).
    // Two index reads instead of one OR: tasks that ended at or after the start, and pending snapshots
    // that (as copies of open spans) ended before it. No ORDER BY: sorting the whole result in a temp
    // B-tree cost more than everything else together.
    window: rows(db, windowSql(ROW_COLUMNS_OF_S)),
    windowJudged: rows(db, windowSql(`${ROW_COLUMNS_OF_S}, s.judged`)),
    // The same rows as window, with only what a brief read needs (see ViewRow), from the narrow task_views.
    // Row ids are far below 2^53, so plain numbers (no bigint per row).
    windowViews: db.prepare(windowSql('v.span_row, v.view', false)).raw(),
    // About how many view rows end in or after the window, and the span of their row ids: those of the
    // buckets from the window's start's on (the index alone answers), a superset of the window's rows.
    windowExtent: db
      .prepare(
        `SELECT count(*), min(span_row), max(span_row) FROM task_views INDEXED BY task_views_window_buckets
           WHERE instance = @instance AND (${WINDOW_BUCKET}) >= @startBucket`,
      )
      .raw(),
    // windowViews, its first half read over a range of row ids.
    windowViewsInRowOrder: db
      .prepare(
        `SELECT span_row, view FROM task_views NOT INDEXED
           WHERE span_row BETWEEN @low AND @high AND instance = @instance AND end_ns >= @start AND created_ns <= @end
         UNION ALL
         SELECT span_row, view FROM task_views INDEXED BY task_views_pending
           WHERE snapshot = 1 AND instance = @instance AND created_ns <= @end AND end_ns < @start`,
      )
      .raw(),
    generation: db.prepare('SELECT generation FROM instance_generations WHERE instance = ?').pluck(),
    answer: db.prepare('SELECT judge_key, generation, write_id, chunks, summary FROM shutdown_answers WHERE shutdown_id = ? AND form = ?').raw(),
    answerChunk: db.prepare('SELECT data FROM shutdown_answer_chunks WHERE shutdown_id = ? AND form = ? AND write_id = ? AND seq = ?').pluck(),
    insertAnswerChunk: db.prepare('INSERT OR REPLACE INTO shutdown_answer_chunks (shutdown_id, form, write_id, seq, data) VALUES (?, ?, ?, ?, ?)'),
    putAnswer: db.prepare(
      'INSERT OR REPLACE INTO shutdown_answers (shutdown_id, form, judge_key, generation, write_id, chunks, summary) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    dropOtherAnswerChunks: db.prepare('DELETE FROM shutdown_answer_chunks WHERE shutdown_id = ? AND form = ? AND write_id <> ?'),
    byId: rows(db, `SELECT ${ROW_COLUMNS} FROM spans WHERE id = ?`),
    judgedTask: rows(db, `SELECT ${ROW_COLUMNS}, judged FROM spans WHERE trace_id = ? AND span_id = ? AND role = 'task'`),
    trace: rows(db, `SELECT ${ROW_COLUMNS} FROM spans WHERE trace_id = ? ORDER BY start_ns, id`),
    // Each count is answered from the smallest covering index (the partial ones for tasks and shutdowns).
    counts: db.prepare(
      `SELECT (SELECT count(*) FROM spans) AS spans,
              (SELECT count(*) FROM spans WHERE role = 'task') AS tasks,
              (SELECT count(*) FROM spans WHERE role = 'shutdown') AS shutdowns`,
    ),
  };
}

/**
 * The window read: `columns` of the window's task view rows (`v`) and, with `withSpans`, of their spans
 * rows (`s`, joined by row id).
 */
function windowSql(columns: string, withSpans = true): string {
  const spans = withSpans ? ' CROSS JOIN spans s ON s.id = v.span_row' : '';
  return `SELECT ${columns} FROM task_views v INDEXED BY task_views_window_buckets${spans}
            WHERE v.instance = @instance AND (v.${WINDOW_BUCKET}) >= @startBucket AND v.end_ns >= @start AND v.created_ns <= @end
          UNION ALL
          SELECT ${columns} FROM task_views v INDEXED BY task_views_pending${spans}
            WHERE v.snapshot = 1 AND v.instance = @instance AND v.created_ns <= @end AND v.end_ns < @start`;
}

/** The parameters of the window statements. */
function windowParams(instance: string, start: bigint, end: bigint | undefined) {
  const from = clampInt64(start);
  return { instance, start: from, startBucket: from >> WINDOW_BUCKET_SHIFT, end: end === undefined ? INT64_MAX : clampInt64(end) };
}

/** A statement that returns {@link StoredRow}s: arrays, integers as bigint (exact ns). */
function rows(db: Database.Database, sql: string): Database.Statement {
  return db.prepare(sql).raw().safeIntegers(true);
}

export { StoreOpenError } from './StoreOpenError.js';
/** Re-exported so that callers of the store can catch what its reads throw. */
export { StoreQueryError } from './StoreQueryError.js';

/**
 * Creates `dir` and its missing parents, one level at a time. Not `mkdirSync(dir, { recursive: true })`:
 * under a virtual file system such as /proc it never returns (`--db /proc/x/y.db` hung), where one
 * level at a time fails at once with ENOENT.
 */
function makeParents(dir: string): void {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  if (parent !== dir) makeParents(parent);
  mkdirSync(dir);
}
