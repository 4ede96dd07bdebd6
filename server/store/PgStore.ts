import pg from 'pg';
import { newerRecord, readShutdown, readTask } from '../../contract/contract.js';
import type { Attrs, ShutdownRecord, SpanRecord, SpanRole, TaskRecord, Verdict } from '../../contract/records.js';
import type { ExpiryBatch, ExpiryCursor } from '../retention/ExpiryCursor.js';
import { pgExpireBatch, pgSizeBytes } from '../retention/pgExpiry.js';
import { decodeResource, decodeSpanRow, encodeSpanBody, SpanCodecError } from './codec.js';
import { checkLimit, checkVerdict, clampInt64, derivedColumns, INT64_MAX } from './columns.js';
import { StoreSchemaError } from './migrations.js';
import { migratePg } from './pgMigrations.js';
import { resourceKey } from './resourceKey.js';
import type { ShutdownQuery, Store, TaskPage, TaskQuery } from './Store.js';
import { StoreClosedError } from './StoreClosedError.js';
import { StoreOpenError } from './StoreOpenError.js';
import { StoreQueryError } from './StoreQueryError.js';
import { taskCursor } from './taskCursor.js';

/** Connections the pool of one store opens at most. */
export const DEFAULT_PG_POOL_SIZE = 10;
/** How long opening a connection may take before it fails, in milliseconds. */
export const DEFAULT_PG_CONNECT_TIMEOUT_MILLIS = 10_000;
/** How often a batch is tried again when PostgreSQL aborts it for a deadlock with another writer. */
export const DEFAULT_PG_BATCH_ATTEMPTS = 5;
/** Largest page {@link PgStore.queryTasks} returns (the {@link TaskQuery} contract). */
export const MAX_TASK_PAGE = 10_000;

/** Options of {@link PgStore.open}. */
export interface PgStoreOptions {
  /**
   * `postgres://user[:password]@host[:port]/database[?options=-c%20search_path%3Dschema]`; the
   * tables live in the first schema of the search_path (created on first start).
   */
  url: string;
  /**
   * The verdict a task gets judged alone, kept in a column for /api/tasks?verdict= (as in
   * SqliteStore); injected because storage knows nothing of analysis. Called once per stored task record.
   */
  verdictOf: (task: TaskRecord) => Verdict;
  /** What an idle connection's error is reported to (a restarted server); never thrown into a caller. */
  onError?: (error: unknown) => void;
  /** defaults to {@link DEFAULT_PG_POOL_SIZE} */
  poolSize?: number;
}

/** True when `db` names a PostgreSQL database rather than a SQLite file. */
export function isPgUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/** `url` without its password (nor a `password` parameter), to name the server in messages. */
export function redactPgUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    parsed.search = '';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

const SHUTDOWN_ID = /^([0-9a-f]{32})-([0-9a-f]{16})$/;
/** SQLSTATEs after which the whole batch may simply run again: deadlock_detected, serialization_failure. */
const RETRYABLE = new Set(['40P01', '40001']);

/** What every read selects to rebuild a record; BIGINT columns arrive as strings and become bigint. */
const ROW_COLUMNS = 'trace_id, span_id, role, service, instance, start_ns, end_ns, snapshot, resource_id, record';

interface StoredRow {
  trace_id: string;
  span_id: string;
  role: SpanRole;
  service: string;
  instance: string;
  start_ns: string;
  end_ns: string;
  snapshot: boolean;
  resource_id: string;
  record: string;
}

/** One row to write, its columns in the order of {@link UPSERT}'s arrays. */
interface Row {
  span: SpanRecord;
  hash: string;
  resourceText: string;
  created: bigint;
  verdict: string | null;
  record: string;
}

/**
 * One statement for a whole batch, its rows as parallel arrays. Row ids are drawn in arrival order
 * (so that ties in start or end time read back in arrival order, as in SQLite), but the rows are
 * written in (trace id, span id) order: every writer then locks rows in the same order, so two
 * instances writing overlapping batches wait for each other instead of deadlocking. The replace
 * rule of newerRecord is the WHERE of the update, which PostgreSQL evaluates on the locked, latest
 * version of the row, so two instances writing the same span at once still keep the newer record.
 */
const UPSERT = `
  WITH r AS (
    SELECT u.*, res.id AS resource_id, nextval(pg_get_serial_sequence('spans', 'id')) AS id
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::boolean[],
                $10::integer[], $11::text[], $12::text[], $13::text[])
         WITH ORDINALITY AS u (trace_id, span_id, role, service, instance, start_ns, end_ns, created_ns, snapshot, event_count, verdict, hash, record, n)
    -- LEFT: a resource row that is not there (a cached hash of a table someone emptied) makes
    -- resource_id NULL and fails the batch loudly instead of dropping its spans.
    LEFT JOIN resources res ON res.hash = u.hash
    ORDER BY u.n
  )
  INSERT INTO spans AS s (id, trace_id, span_id, role, service, instance, start_ns, end_ns, created_ns, snapshot, event_count, verdict, resource_id, record)
  SELECT id, trace_id, span_id, role, service, instance, start_ns, end_ns, created_ns, snapshot, event_count, verdict, resource_id, record
  FROM r
  ORDER BY trace_id COLLATE "C", span_id COLLATE "C"
  ON CONFLICT (trace_id, span_id) DO UPDATE SET
    role = EXCLUDED.role, service = EXCLUDED.service, instance = EXCLUDED.instance, start_ns = EXCLUDED.start_ns,
    end_ns = EXCLUDED.end_ns, created_ns = EXCLUDED.created_ns, snapshot = EXCLUDED.snapshot, event_count = EXCLUDED.event_count,
    verdict = EXCLUDED.verdict, resource_id = EXCLUDED.resource_id, record = EXCLUDED.record
  WHERE (s.snapshot AND NOT EXCLUDED.snapshot)
     OR (s.snapshot = EXCLUDED.snapshot
         AND (EXCLUDED.end_ns > s.end_ns OR (EXCLUDED.end_ns = s.end_ns AND EXCLUDED.event_count > s.event_count)))`;

/**
 * The shared {@link Store} when several canceltrace instances run: PostgreSQL, with the same
 * semantics as SqliteStore (one row per (trace id, span id), a final record replaces a snapshot and
 * never the reverse, atomic batches, exact ns times) and the same row layout: filter and sort
 * columns, a codec.ts body, resources once each. Times are BIGINT, read as strings and turned into
 * bigint, never through a JS number.
 */
export class PgStore implements Store {
  private pool: pg.Pool | undefined;
  private readonly verdictOf: (task: TaskRecord) => Verdict;
  /** Decoded resources by row id; a resource row never changes once written. */
  private readonly resources = new Map<string, Attrs>();
  /** Encoded resources by the attributes object (see SqliteStore); records are never mutated once handed on. */
  private readonly resourceKeys = new WeakMap<Attrs, { hash: string; text: string }>();
  /** Hashes known to be committed in the resources table, so a batch need not insert them again. */
  private readonly knownHashes = new Set<string>();

  private constructor(pool: pg.Pool, verdictOf: (task: TaskRecord) => Verdict) {
    this.pool = pool;
    this.verdictOf = verdictOf;
  }

  /**
   * Connects, creates or migrates the schema, and returns the store. A server that cannot be
   * reached (or refuses the login) is a {@link StoreOpenError} naming the URL without its password.
   */
  static async open(options: PgStoreOptions): Promise<PgStore> {
    const label = redactPgUrl(options.url);
    const onError = options.onError ?? ((error: unknown) => console.error(`canceltrace: PgStore ${label}: ${errorText(error)}`));
    let pool: pg.Pool;
    try {
      pool = new pg.Pool({
        connectionString: options.url,
        max: options.poolSize ?? DEFAULT_PG_POOL_SIZE,
        connectionTimeoutMillis: DEFAULT_PG_CONNECT_TIMEOUT_MILLIS,
      });
    } catch (error) {
      throw new StoreOpenError(label, new Error(errorText(error)));
    }
    // An idle connection that breaks (server restart) emits 'error'; unhandled, it would end the process.
    pool.on('error', (error) => {
      try {
        onError(error);
      } catch {
        // the reporter itself must not throw
      }
    });
    try {
      const client = await pool.connect();
      try {
        await migratePg(client, undefined, `PgStore ${label}`);
      } finally {
        client.release();
      }
      return new PgStore(pool, options.verdictOf);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error instanceof StoreSchemaError ? error : new StoreOpenError(label, new Error(errorText(error)));
    }
  }

  /** Stores a batch in one transaction: a final record replaces a snapshot, never the reverse. */
  async consume(batch: SpanRecord[]): Promise<void> {
    const pool = this.live();
    if (batch.length === 0) return;
    const rows = this.rowsOf(batch);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.write(pool, rows);
        break;
      } catch (error) {
        // The cache may be what is wrong (see UPSERT): the next batch inserts its resources again.
        this.knownHashes.clear();
        if (attempt >= DEFAULT_PG_BATCH_ATTEMPTS || !RETRYABLE.has((error as { code?: string }).code ?? '')) throw error;
      }
    }
    for (const row of rows) this.knownHashes.add(row.hash);
  }

  /** Shutdowns, newest start first. */
  async listShutdowns(query: ShutdownQuery = {}): Promise<ShutdownRecord[]> {
    const pool = this.live();
    const limit = query.limit === undefined ? null : checkLimit(query.limit, Number.MAX_SAFE_INTEGER, 'limit');
    const result =
      query.service === undefined
        ? await pool.query<StoredRow>(`SELECT ${ROW_COLUMNS} FROM spans WHERE role = 'shutdown' ORDER BY start_ns DESC, id DESC LIMIT $1`, [limit])
        : await pool.query<StoredRow>(`SELECT ${ROW_COLUMNS} FROM spans WHERE role = 'shutdown' AND service = $1 ORDER BY start_ns DESC, id DESC LIMIT $2`, [
            query.service,
            limit,
          ]);
    return (await this.decodeAll(result.rows)).map(readShutdown);
  }

  /** One shutdown by its id (`<traceId>-<spanId>`), or undefined; a malformed id is a {@link StoreQueryError}. */
  async getShutdown(id: string): Promise<ShutdownRecord | undefined> {
    const pool = this.live();
    const match = SHUTDOWN_ID.exec(typeof id === 'string' ? id.toLowerCase() : '');
    if (!match) {
      throw new StoreQueryError(`invalid shutdown id ${JSON.stringify(id)}: expected <32 hex trace id>-<16 hex span id>`);
    }
    const result = await pool.query<StoredRow>(`SELECT ${ROW_COLUMNS} FROM spans WHERE trace_id = $1 AND span_id = $2 AND role = 'shutdown'`, [
      match[1],
      match[2],
    ]);
    const [record] = await this.decodeAll(result.rows);
    return record === undefined ? undefined : readShutdown(record);
  }

  /** Tasks of `instance` alive at `start` (or still pending at a snapshot) and created up to `end`, in no set order. */
  async tasksInWindow(instance: string, start: bigint, end: bigint | undefined): Promise<TaskRecord[]> {
    const pool = this.live();
    // Two halves, each answered by its own partial index (see SqliteStore).
    const result = await pool.query<StoredRow>(
      `SELECT ${ROW_COLUMNS} FROM spans
         WHERE role = 'task' AND instance = $1 AND end_ns >= $2 AND created_ns <= $3
       UNION ALL
       SELECT ${ROW_COLUMNS} FROM spans
         WHERE role = 'task' AND snapshot AND instance = $1 AND created_ns <= $3 AND end_ns < $2`,
      [instance, clampInt64(start).toString(), (end === undefined ? INT64_MAX : clampInt64(end)).toString()],
    );
    return (await this.decodeAll(result.rows)).map(readTask);
  }

  /**
   * Tasks newest end first, filtered, in pages of `limit` with the same opaque keyset cursor as
   * SqliteStore (end time and row id of the page's last task).
   */
  async queryTasks(query: TaskQuery): Promise<TaskPage> {
    const pool = this.live();
    const limit = checkLimit(query.limit, MAX_TASK_PAGE, 'limit');
    const params: unknown[] = [];
    const param = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    const filters: string[] = [];
    if (query.verdict !== undefined) {
      checkVerdict(query.verdict);
      filters.push(`verdict = ${param(query.verdict)}`);
    }
    if (query.service !== undefined) filters.push(`service = ${param(query.service)}`);
    if (query.since !== undefined) {
      if (typeof query.since !== 'bigint') throw new StoreQueryError('invalid since: expected unix nanoseconds');
      filters.push(`end_ns >= ${param(clampInt64(query.since).toString())}`);
    }
    if (query.cursor !== undefined) {
      const [endNs, id] = taskCursor.decode(query.cursor);
      filters.push(`(end_ns, id) < (${param(endNs.toString())}::bigint, ${param(id.toString())}::bigint)`);
    }
    const result = await pool.query<StoredRow & { id: string; verdict: Verdict }>(
      `SELECT id, verdict, ${ROW_COLUMNS} FROM spans WHERE role = 'task'${filters.map((f) => ` AND ${f}`).join('')}
       ORDER BY end_ns DESC, id DESC LIMIT ${param(limit + 1)}`,
      params,
    );
    const more = result.rows.length > limit;
    const shown = more ? result.rows.slice(0, limit) : result.rows;
    const records = await this.decodeAll(shown);
    const page: TaskPage = { tasks: records.map((record, i) => ({ task: readTask(record), verdict: shown[i].verdict })) };
    if (more) {
      const last = shown[shown.length - 1];
      page.nextCursor = taskCursor.encode(BigInt(last.end_ns), BigInt(last.id));
    }
    return page;
  }

  /** Every stored span of one trace, in start order. */
  async spansOfTrace(traceId: string): Promise<SpanRecord[]> {
    const pool = this.live();
    const result = await pool.query<StoredRow>(`SELECT ${ROW_COLUMNS} FROM spans WHERE trace_id = $1 ORDER BY start_ns, id`, [String(traceId).toLowerCase()]);
    return this.decodeAll(result.rows);
  }

  /** Counts for /api/health. */
  async stats(): Promise<{ spans: number; tasks: number; shutdowns: number }> {
    const pool = this.live();
    const result = await pool.query<{ spans: string; tasks: string; shutdowns: string }>(
      `SELECT count(*) AS spans, count(*) FILTER (WHERE role = 'task') AS tasks, count(*) FILTER (WHERE role = 'shutdown') AS shutdowns FROM spans`,
    );
    const row = result.rows[0];
    return { spans: Number(row.spans), tasks: Number(row.tasks), shutdowns: Number(row.shutdowns) };
  }

  /** Closes the pool (waiting for queries in flight); safe to call twice. */
  async close(): Promise<void> {
    const pool = this.pool;
    if (!pool) return;
    this.pool = undefined;
    await pool.end();
  }

  private live(): pg.Pool {
    if (!this.pool) throw new StoreClosedError('PgStore');
    return this.pool;
  }

  /** Retention: one batch of expired records (server/retention/pgExpiry.ts). */
  async expireBatch(cutoff: bigint, limit: number, cursor: ExpiryCursor): Promise<ExpiryBatch> {
    return pgExpireBatch(this.live(), clampInt64(cutoff), limit, cursor);
  }

  /** Retention: nothing to do by hand; autovacuum makes deleted rows' space reusable. */
  async reclaimSpace(_maxPages: number): Promise<number> {
    this.live();
    return 0;
  }

  /** Bytes of the tables and their indices. */
  async sizeBytes(): Promise<number | undefined> {
    return pgSizeBytes(this.live());
  }

  /**
   * Encodes every record (so a malformed one fails its batch even if it would lose) and merges
   * records of the same span within the batch by the replace rule: one statement may not touch a
   * row twice. The kept record takes the place of the first one, as an update keeps a row's id.
   */
  private rowsOf(batch: SpanRecord[]): Row[] {
    const rows: Row[] = [];
    const at = new Map<string, number>();
    for (const span of batch) {
      const row = this.rowOf(span);
      const key = `${span.traceId}/${span.spanId}`;
      const index = at.get(key);
      if (index === undefined) {
        at.set(key, rows.length);
        rows.push(row);
      } else if (newerRecord(rows[index].span, span) === span) {
        rows[index] = row;
      }
    }
    return rows;
  }

  private rowOf(span: SpanRecord): Row {
    // Encode first: it validates ids and times, so nothing below sees a malformed record.
    const record = encodeSpanBody(span);
    // PostgreSQL text cannot hold U+0000 (the body escapes it; these two columns hold the string as is).
    for (const [what, text] of [
      ['service', span.service],
      ['instance', span.instance],
    ] as const) {
      if (typeof text === 'string' && text.includes('\u0000')) {
        throw new SpanCodecError(`span ${span.traceId}/${span.spanId}: ${what} contains a NUL character, which PostgreSQL cannot store`);
      }
    }
    let key = this.resourceKeys.get(span.resource);
    if (key === undefined) {
      key = resourceKey(span.resource);
      if (span.resource !== null && typeof span.resource === 'object') this.resourceKeys.set(span.resource, key);
    }
    const { created, verdict } = derivedColumns(span, this.verdictOf, 'PgStore');
    return { span, hash: key.hash, resourceText: key.text, created, verdict, record };
  }

  /** Writes the rows in one transaction. */
  private async write(pool: pg.Pool, rows: Row[]): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const fresh = new Map<string, string>();
      for (const row of rows) if (!this.knownHashes.has(row.hash)) fresh.set(row.hash, row.resourceText);
      if (fresh.size > 0) {
        // Sorted, so that two writers bringing the same new resources take their locks in one order.
        const hashes = [...fresh.keys()].sort();
        await client.query(`INSERT INTO resources (hash, attributes) SELECT * FROM unnest($1::text[], $2::text[]) ORDER BY 1 ON CONFLICT (hash) DO NOTHING`, [
          hashes,
          hashes.map((h) => fresh.get(h)),
        ]);
      }
      const column = <T>(pick: (row: Row) => T) => rows.map(pick);
      await client.query(UPSERT, [
        column((r) => r.span.traceId),
        column((r) => r.span.spanId),
        column((r) => r.span.role),
        column((r) => r.span.service),
        column((r) => r.span.instance),
        column((r) => r.span.startTime.toString()),
        column((r) => r.span.endTime.toString()),
        column((r) => r.created.toString()),
        column((r) => r.span.snapshot === true),
        column((r) => r.span.events.length),
        column((r) => r.verdict),
        column((r) => r.hash),
        column((r) => r.record),
      ]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Records from their rows, loading the resources not seen yet in one read. */
  private async decodeAll(rows: StoredRow[]): Promise<SpanRecord[]> {
    const missing = [...new Set(rows.map((r) => r.resource_id))].filter((id) => !this.resources.has(id));
    if (missing.length > 0) {
      const result = await this.live().query<{ id: string; attributes: string }>('SELECT id, attributes FROM resources WHERE id = ANY($1::bigint[])', [
        missing,
      ]);
      for (const { id, attributes } of result.rows) this.resources.set(id, decodeResource(attributes));
    }
    return rows.map((row) =>
      decodeSpanRow(
        {
          traceId: row.trace_id,
          spanId: row.span_id,
          role: row.role,
          service: row.service,
          instance: row.instance,
          startTime: BigInt(row.start_ns),
          endTime: BigInt(row.end_ns),
          snapshot: row.snapshot,
        },
        row.record,
        this.resources.get(row.resource_id),
      ),
    );
  }
}

/** One line of what went wrong; Node reports a refused dual-stack connect as an AggregateError with no message. */
function errorText(error: unknown): string {
  if (error instanceof AggregateError && !error.message) {
    return error.errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ');
  }
  const text = error instanceof Error ? error.message || (error as NodeJS.ErrnoException).code || error.name : String(error);
  return text.split('\n')[0];
}

export { StoreOpenError } from './StoreOpenError.js';
export { StoreQueryError } from './StoreQueryError.js';
