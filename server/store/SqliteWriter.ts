import Database from 'better-sqlite3';
import { newerRecord } from '../../contract/contract.js';
import type { SpanRecord, SpanRole } from '../../contract/records.js';
import type { ExpiryBatch, ExpiryCursor } from '../retention/ExpiryCursor.js';
import { sqliteExpireBatch, sqliteReclaim } from '../retention/sqliteExpiry.js';
import { decodeSpanRow } from './codec.js';
import { StoreBusyError } from './StoreBusyError.js';

/** SQLite page cache per connection, in KiB: the indices of a large store stay in memory while it ingests. */
export const DEFAULT_CACHE_KIB = 64 * 1024;

/**
 * The page cache of a writer thread's connection, in KiB. Smaller than {@link DEFAULT_CACHE_KIB}: the
 * thread's own heap costs memory too, and a write touches few pages besides the ends of the tables and
 * indices (since migration 11 the end-ordered indices take appends too) and the (trace id, span id)
 * index, whose pages the OS keeps cached anyway. Measured (bench/ingest, 200,000 spans, the same rate
 * for all three): peak RSS of the serve 278-294 MB with 16 MiB, 282 MB with 8 MiB, 261-271 MB with 4 MiB.
 */
export const WRITER_THREAD_CACHE_KIB = 4 * 1024;

/**
 * Group commit: the batches that arrive while a commit is pending share one transaction, up to about
 * this many spans (a commit per request made the commit most of the cost).
 */
export const GROUP_COMMIT_MAX_SPANS = 10_000;

/**
 * One span, ready to insert: the columns of the spans row in the order of the insert statement, with
 * the resource as an index into its batch's {@link WriteBatch.resources}, then the task's view text
 * and the record's event count (what {@link newerRecord} compares besides the columns).
 */
export type WriteRow = [
  traceId: string,
  spanId: string,
  role: SpanRole,
  service: string,
  instance: string,
  startNs: bigint,
  endNs: bigint,
  createdNs: bigint,
  snapshot: 0 | 1,
  verdict: string | null,
  resource: number,
  record: string,
  judged: string | null,
  view: string | null,
  events: number,
];

/** A batch of rows encoded and judged by the store (everything but the SQL), stored atomically. */
export interface WriteBatch {
  rows: WriteRow[];
  /** the distinct resources of the rows: their key (a hash) and stored text */
  resources: { hash: string; text: string }[];
}

/** What {@link newerRecord} compares. */
type Compared = Pick<SpanRecord, 'snapshot' | 'endTime' | 'events'>;

/** The stored row a conflicting record is compared with: the columns a record is read from, and the row id. */
type ConflictRow = [
  traceId: string,
  spanId: string,
  role: SpanRole,
  service: string,
  instance: string,
  startNs: bigint,
  endNs: bigint,
  snapshot: bigint,
  record: string,
  id: bigint,
];

/**
 * The write side of a SQLite store: one connection that stores batches of {@link WriteRow}s in group
 * commits (one IMMEDIATE transaction, a savepoint per batch, so a batch that fails rolls back alone),
 * keeps each resource once (resources table), lets a newer record replace a stored one (a final
 * record replaces a snapshot, never the reverse), writes each task's view row, bumps each written
 * instance's generation once per batch, and runs retention's deletes. Synchronous and knows no
 * thread: SqliteStore runs it on its own connection, or in a writer thread (sqliteWriterThread.ts).
 */
export class SqliteWriter {
  private readonly stmt: ReturnType<typeof prepareWrites>;
  /** Resource row ids by hash; cleared when a batch rolls back (its new rows are gone). */
  private readonly resourceIds = new Map<string, number | bigint>();
  private readonly storeBatch: Database.Transaction<(batch: WriteBatch) => void>;
  private readonly storeGroup: Database.Transaction<(group: WriteBatch[], errors: unknown[]) => void>;

  constructor(
    readonly db: Database.Database,
    private readonly busyTimeoutMs: number,
    private readonly writeBusyTimeoutMs: number,
  ) {
    this.stmt = prepareWrites(db);
    this.storeBatch = db.transaction((batch: WriteBatch) => {
      const ids = batch.resources.map((resource) => this.resourceIdOf(resource.hash, resource.text));
      for (const row of batch.rows) this.storeOne(row, ids);
      // Once per instance in the batch: the answers judged of its shutdowns before this write no longer stand.
      let last: string | undefined;
      for (const row of batch.rows) {
        if (row[4] === last) continue;
        last = row[4];
        this.stmt.bumpGeneration.run(last);
      }
    });
    this.storeGroup = db.transaction((group: WriteBatch[], errors: unknown[]) => {
      for (let i = 0; i < group.length; i++) {
        try {
          // Nested: a savepoint, so a batch that fails rolls back alone and the others still commit.
          this.storeBatch(group[i]);
        } catch (error) {
          errors[i] = error;
        }
      }
    });
  }

  /** Opens a second connection to a store file that SqliteStore has opened (and migrated), for writing. */
  static open(path: string, busyTimeoutMs: number, writeBusyTimeoutMs: number, cacheKib = DEFAULT_CACHE_KIB): SqliteWriter {
    const db = new Database(path);
    try {
      configureConnection(db, busyTimeoutMs, cacheKib);
      return new SqliteWriter(db, busyTimeoutMs, writeBusyTimeoutMs);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /**
   * Stores `group` in one transaction, waiting at most the write busy timeout for another process's
   * lock; returns each batch's error (undefined: committed). Throws when the whole group failed:
   * {@link StoreBusyError} when another process held the lock.
   */
  write(group: WriteBatch[]): unknown[] {
    const errors: unknown[] = new Array(group.length).fill(undefined);
    const shortWait = this.writeBusyTimeoutMs !== this.busyTimeoutMs;
    if (shortWait) this.db.pragma(`busy_timeout = ${this.writeBusyTimeoutMs}`);
    try {
      this.storeGroup.immediate(group, errors);
    } catch (error) {
      this.resourceIds.clear();
      if (!String((error as { code?: unknown })?.code).startsWith('SQLITE_BUSY')) throw error;
      throw new StoreBusyError(undefined, { cause: error });
    } finally {
      if (shortWait) this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    }
    // Resource rows a rolled-back batch inserted are gone with it.
    if (errors.some((error) => error !== undefined)) this.resourceIds.clear();
    return errors;
  }

  /** Retention: one batch of expired records (server/retention/sqliteExpiry.ts). */
  expire(cutoff: bigint, limit: number, cursor: ExpiryCursor): ExpiryBatch {
    return sqliteExpireBatch(this.db, cutoff, limit, cursor);
  }

  /** Retention: incremental vacuum of up to `maxPages` free pages. */
  reclaim(maxPages: number): number {
    return sqliteReclaim(this.db, maxPages);
  }

  /** Inserts a row, or replaces the stored record when the row's is the newer of the two. */
  private storeOne(row: WriteRow, resourceIds: (number | bigint)[]): void {
    const [traceId, spanId, role, service, instance, startNs, endNs, createdNs, snapshot, verdict, resource, record, judged, view, events] = row;
    const resourceId = resourceIds[resource];
    // Most records are new: try the insert first and read the stored record only on a conflict.
    const inserted = this.stmt.insert.run(traceId, spanId, role, service, instance, startNs, endNs, createdNs, snapshot, verdict, resourceId, record, judged);
    if (inserted.changes === 1) {
      if (role === 'task') this.stmt.insertView.run(inserted.lastInsertRowid, instance, endNs, createdNs, snapshot, view);
      return;
    }
    const stored = this.stmt.stored.get(traceId, spanId) as ConflictRow;
    const [, , storedRole, storedService, storedInstance, storedStart, storedEnd, storedSnapshot, storedBody] = stored;
    const old = decodeSpanRow(
      {
        traceId,
        spanId,
        role: storedRole,
        service: storedService,
        instance: storedInstance,
        startTime: storedStart,
        endTime: storedEnd,
        snapshot: storedSnapshot === 1n,
      },
      storedBody,
      {},
    );
    // newerRecord reads only the count of the events.
    const incoming: Compared = { snapshot: snapshot === 1, endTime: endNs, events: { length: events } as unknown as SpanRecord['events'] };
    if (newerRecord<Compared>(old, incoming) !== incoming) return;
    // The update deletes the old record's view row (trigger spans_task_view_update).
    this.stmt.update.run(role, service, instance, startNs, endNs, createdNs, snapshot, verdict, resourceId, record, judged, traceId, spanId);
    if (role === 'task') this.stmt.insertView.run(stored[9], instance, endNs, createdNs, snapshot, view);
  }

  /** The row id of a resource, inserting it on first sight. */
  private resourceIdOf(hash: string, text: string): number | bigint {
    let id = this.resourceIds.get(hash);
    if (id === undefined) {
      this.stmt.addResource.run(hash, text);
      id = this.stmt.resourceId.get(hash) as number | bigint;
      this.resourceIds.set(hash, id);
    }
    return id;
  }
}

/**
 * Group commit over a {@link SqliteWriter}: the batches added while a commit is pending (those read in
 * the same turn of the event loop) share one transaction, up to about {@link GROUP_COMMIT_MAX_SPANS}
 * spans; then each batch's `tag` is answered with its error (undefined: committed). Used on the store's
 * own connection (SqliteStore) and in its writer thread (sqliteWriterThread.ts).
 */
export class GroupCommit<T> {
  private pending: WriteBatch[] = [];
  private tags: T[] = [];
  private spans = 0;
  private scheduled = false;

  constructor(
    /** the writer, or a throw when there is none any more (the store closed) */
    private readonly writer: () => SqliteWriter,
    private readonly answer: (tags: T[], errors: unknown[]) => void,
  ) {}

  add(batch: WriteBatch, tag: T): void {
    this.pending.push(batch);
    this.tags.push(tag);
    this.spans += batch.rows.length;
    if (this.spans >= GROUP_COMMIT_MAX_SPANS) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      // After the I/O callbacks (or messages) of this turn of the loop, so that the batches read in it join the group.
      setImmediate(() => this.flush());
    }
  }

  /** Commits every pending batch in one transaction now, then answers each. */
  flush(): void {
    this.scheduled = false;
    const group = this.pending;
    const tags = this.tags;
    if (group.length === 0) return;
    this.pending = [];
    this.tags = [];
    this.spans = 0;
    let errors: unknown[];
    try {
      errors = this.writer().write(group);
    } catch (error) {
      errors = group.map(() => error);
    }
    this.answer(tags, errors);
  }
}

/** The pragmas every connection to a store file sets (WAL itself is a property of the file). */
export function configureConnection(db: Database.Database, busyTimeoutMs: number, cacheKib = DEFAULT_CACHE_KIB): void {
  db.pragma('journal_mode = WAL');
  // In WAL mode NORMAL never corrupts the file; an OS crash may lose the last commits, which
  // the exporters' retries cover far better than an fsync per batch would.
  db.pragma('synchronous = NORMAL');
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  // Negative: KiB rather than pages. A page cache of the default 2 MiB makes every insert into the
  // (random-order) id index of a large store a read from disk.
  db.pragma(`cache_size = -${Math.trunc(cacheKib)}`);
  // Enforces spans.resource_id → resources (a row id cached across a rolled-back batch would show here).
  db.pragma('foreign_keys = ON');
}

/** The statements of the write path, prepared once. */
function prepareWrites(db: Database.Database) {
  return {
    // the columns a record is read from, with the row id last: a replaced task's view row is written under it
    stored: db
      .prepare('SELECT trace_id, span_id, role, service, instance, start_ns, end_ns, snapshot, record, id FROM spans WHERE trace_id = ? AND span_id = ?')
      .raw()
      .safeIntegers(true),
    insert: db.prepare(
      `INSERT INTO spans (trace_id, span_id, role, service, instance, start_ns, end_ns, created_ns, snapshot, verdict, resource_id, record, judged)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (trace_id, span_id) DO NOTHING`,
    ),
    update: db.prepare(
      `UPDATE spans SET role = ?, service = ?, instance = ?, start_ns = ?, end_ns = ?, created_ns = ?, snapshot = ?,
       verdict = ?, resource_id = ?, record = ?, judged = ? WHERE trace_id = ? AND span_id = ?`,
    ),
    insertView: db.prepare('INSERT INTO task_views (span_row, instance, end_ns, created_ns, snapshot, view) VALUES (?, ?, ?, ?, ?, ?)'),
    addResource: db.prepare('INSERT INTO resources (hash, attributes) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING'),
    resourceId: db.prepare('SELECT id FROM resources WHERE hash = ?').pluck(),
    bumpGeneration: db.prepare(
      'INSERT INTO instance_generations (instance, generation) VALUES (?, 1) ON CONFLICT (instance) DO UPDATE SET generation = generation + 1',
    ),
  };
}
