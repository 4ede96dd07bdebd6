import type Database from 'better-sqlite3';
import type { SpanRecord } from '../../contract/records.js';
import { decodeSpanRecord, encodeSpanBody } from './codec.js';
import { resourceKey } from './resourceKey.js';

/** One schema step: brings a database from version `index` to `index + 1` of {@link MIGRATIONS}. */
export interface Migration {
  /** what the step does, for error messages */
  name: string;
  up(db: Database.Database): void;
}

/** A database written by a newer canceltrace than this one, or otherwise not one we can open. */
export class StoreSchemaError extends Error {
  override readonly name = 'StoreSchemaError';
}

/**
 * The schema, as an ordered list of steps. `PRAGMA user_version` holds how many have been applied.
 * Never edit or reorder a step that has shipped: add a new one at the end.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    name: 'spans table with the indices for shutdown and window reads',
    up(db) {
      // `id` aliases the rowid, so it stays stable across VACUUM and can serve in paging cursors.
      db.exec(`
        CREATE TABLE spans (
          id         INTEGER PRIMARY KEY,
          trace_id   TEXT    NOT NULL,
          span_id    TEXT    NOT NULL,
          role       TEXT    NOT NULL,
          service    TEXT    NOT NULL,
          instance   TEXT    NOT NULL,
          start_ns   INTEGER NOT NULL,
          end_ns     INTEGER NOT NULL,
          created_ns INTEGER NOT NULL,
          snapshot   INTEGER NOT NULL,
          verdict    TEXT,
          record     TEXT    NOT NULL,
          UNIQUE (trace_id, span_id)
        );
        -- Partial indices only: a plain (role, …) index would tempt the planner into sorting every task.
        CREATE INDEX spans_shutdown_start ON spans (start_ns) WHERE role = 'shutdown';
        CREATE INDEX spans_task_instance_end ON spans (instance, end_ns) WHERE role = 'task';
        CREATE INDEX spans_task_pending ON spans (instance, created_ns) WHERE role = 'task' AND snapshot = 1;
        CREATE INDEX spans_task_end ON spans (end_ns) WHERE role = 'task';
      `);
    },
  },
  {
    name: 'indices for the verdict and service filters of /api/tasks',
    up(db) {
      db.exec(`
        CREATE INDEX spans_task_verdict_end ON spans (verdict, end_ns) WHERE role = 'task';
        CREATE INDEX spans_task_service_end ON spans (service, end_ns) WHERE role = 'task';
      `);
    },
  },
  {
    name: 'resource attributes once per resource, and row bodies without what the columns hold',
    up(db) {
      db.exec(`
        CREATE TABLE resources (
          id         INTEGER PRIMARY KEY,
          hash       TEXT    NOT NULL UNIQUE,
          attributes TEXT    NOT NULL
        );
        ALTER TABLE spans ADD COLUMN resource_id INTEGER REFERENCES resources (id);
      `);
      // Rows written before carry the whole record (and its resource) as JSON: move each resource
      // into the table and shrink the row to the body layout. Pages of rows by id, oldest first.
      // It writes bodies of layout 2 (SPAN_BODY_VERSION): a later layout needs its own step, and
      // the codec must keep reading layout 2 and whole records.
      const page = db.prepare('SELECT id, record FROM spans WHERE id > ? ORDER BY id LIMIT ?').raw();
      const addResource = db.prepare('INSERT INTO resources (hash, attributes) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING');
      const resourceId = db.prepare('SELECT id FROM resources WHERE hash = ?').pluck();
      const update = db.prepare('UPDATE spans SET record = ?, resource_id = ? WHERE id = ?');
      const ids = new Map<string, number | bigint>();
      let last: number | bigint = -1;
      for (;;) {
        const rows = page.all(last, MIGRATION_PAGE_ROWS) as [number | bigint, string][];
        if (rows.length === 0) break;
        for (const [id, json] of rows) {
          last = id;
          if (json.charCodeAt(0) !== 0x7b /* { */) continue;
          let span: SpanRecord;
          try {
            span = decodeSpanRecord(json);
          } catch {
            // A row that cannot be read stays as it was: readers handle whole-record rows, and it
            // fails only its own reads, as before.
            continue;
          }
          const { hash, text } = resourceKey(span.resource);
          let rid = ids.get(hash);
          if (rid === undefined) {
            addResource.run(hash, text);
            rid = resourceId.get(hash) as number | bigint;
            ids.set(hash, rid);
          }
          update.run(encodeSpanBody(span), rid, id);
        }
      }
    },
  },
  {
    name: 'one covering index for /api/tasks instead of three',
    up(db) {
      // Measured (bench/ingest, 512-span requests of realistic task spans): the three indices of
      // /api/tasks cost about 40 % of the insert time. One index in end order that also holds the
      // filter columns answers every filter combination without reading a row to test it; the row id
      // right after the end time keeps the (end_ns, id) paging order free of a sort.
      db.exec(`
        DROP INDEX spans_task_end;
        DROP INDEX spans_task_verdict_end;
        DROP INDEX spans_task_service_end;
        CREATE INDEX spans_task_end_filters ON spans (end_ns, id, verdict, service) WHERE role = 'task';
      `);
    },
  },
  {
    name: 'indices for retention: other spans by end, shutdowns by instance',
    up(db) {
      // Retention (server/retention) walks tasks by spans_task_end_filters and shutdowns by
      // spans_shutdown_start; these two cover the rest without touching the task insert path:
      // other spans in end order, and the shutdowns of one instance (to keep the tasks they hold).
      db.exec(`
        CREATE INDEX spans_other_end ON spans (end_ns) WHERE role = 'other';
        CREATE INDEX spans_shutdown_instance ON spans (instance) WHERE role = 'shutdown';
      `);
    },
  },
  {
    name: "each task's judgment kept beside its record",
    up(db) {
      // Rows written before stay NULL and are judged when read.
      db.exec('ALTER TABLE spans ADD COLUMN judged TEXT');
    },
  },
  {
    name: "each task's brief record kept beside its record",
    up(db) {
      // Rows written before stay NULL. (Dropped again by migration 8: task views replace it.)
      db.exec('ALTER TABLE spans ADD COLUMN brief TEXT');
    },
  },
  {
    name: "each task's view (what the brief reads need, judged) kept in a narrow table of its own, in place of its brief record",
    up(db) {
      // A narrow table of its own, so that a shutdown's window is an index range over small rows that
      // never touches the wide spans rows (reading the same column inside spans read every page of the
      // table). Keyed by the spans row, so that rows are appended as tasks arrive (clustered by instance
      // and end, random inserts of 300-byte rows halved ingest). Rows of tasks written before have no
      // view (NULL): a brief read judges their whole record instead. Deleting a task (retention) or
      // replacing its record deletes its view row (triggers); the store writes the new one.
      db.exec(`
        ALTER TABLE spans DROP COLUMN brief;
        CREATE TABLE task_views (
          span_row INTEGER PRIMARY KEY,
          instance TEXT NOT NULL,
          end_ns INTEGER NOT NULL,
          created_ns INTEGER NOT NULL,
          snapshot INTEGER NOT NULL,
          view TEXT
        );
        CREATE INDEX task_views_window ON task_views (instance, end_ns);
        CREATE INDEX task_views_pending ON task_views (instance, created_ns) WHERE snapshot = 1;
        INSERT INTO task_views SELECT id, instance, end_ns, created_ns, snapshot, NULL FROM spans WHERE role = 'task';
        CREATE TRIGGER spans_task_view_delete AFTER DELETE ON spans WHEN old.role = 'task' BEGIN
          DELETE FROM task_views WHERE span_row = old.id;
        END;
        CREATE TRIGGER spans_task_view_update AFTER UPDATE ON spans WHEN old.role = 'task' BEGIN
          DELETE FROM task_views WHERE span_row = old.id;
        END;
      `);
    },
  },
  {
    name: "a settled shutdown's answers derived once and kept, with a generation per instance that says whether they still stand",
    up(db) {
      // instance_generations: bumped by every write of an instance's spans (once per stored batch) and by
      // every task row retention deletes; an answer stands while its instance's generation is the one
      // read before it was judged. shutdown_answers: one row per shutdown and form (compact, columnar),
      // written last, naming the chunks (a gzip stream in pieces) of one write; chunks of other writes
      // are leftovers of a write that was replaced or cut short. Deleting a shutdown deletes its answers.
      db.exec(`
        CREATE TABLE instance_generations (
          instance TEXT PRIMARY KEY,
          generation INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE shutdown_answers (
          shutdown_id TEXT NOT NULL,
          form TEXT NOT NULL,
          judge_key TEXT NOT NULL,
          generation INTEGER NOT NULL,
          write_id TEXT NOT NULL,
          chunks INTEGER NOT NULL,
          summary TEXT NOT NULL,
          PRIMARY KEY (shutdown_id, form)
        ) WITHOUT ROWID;
        CREATE TABLE shutdown_answer_chunks (
          shutdown_id TEXT NOT NULL,
          form TEXT NOT NULL,
          write_id TEXT NOT NULL,
          seq INTEGER NOT NULL,
          data BLOB NOT NULL,
          PRIMARY KEY (shutdown_id, form, write_id, seq)
        );
        CREATE TRIGGER spans_shutdown_answers_delete AFTER DELETE ON spans WHEN old.role = 'shutdown' BEGIN
          DELETE FROM shutdown_answers WHERE shutdown_id = old.trace_id || '-' || old.span_id;
          DELETE FROM shutdown_answer_chunks WHERE shutdown_id = old.trace_id || '-' || old.span_id;
        END;
        CREATE TRIGGER spans_task_generation_delete AFTER DELETE ON spans WHEN old.role = 'task' BEGIN
          INSERT INTO instance_generations (instance, generation) VALUES (old.instance, 1)
            ON CONFLICT (instance) DO UPDATE SET generation = generation + 1;
        END;
      `);
    },
  },
  {
    name: "window reads through task_views' indices: the spans indices by instance dropped",
    up(db) {
      // A shutdown's window is read from task_views (its two indices), then each spans row by its row id;
      // nothing else read spans_task_instance_end or spans_task_pending, and keeping them up cost every task
      // insert two more random B-tree writes (bench/ingest). Rows of tasks written before migration 8 got
      // their view row then, so task_views holds a row for every task row.
      db.exec(`
        DROP INDEX spans_task_instance_end;
        DROP INDEX spans_task_pending;
      `);
    },
  },
  {
    name: 'the end-ordered task indices keyed by time bucket, then row id: a commit appends to a few buckets',
    up(db) {
      // Keyed by the end time itself, an index takes each task's entry wherever its end falls: the tasks of
      // a fleet's shutdown end within the same second or two, so every commit of a few thousand of them
      // wrote most of both indices' pages again (bench/ingest: 60 % of the writer's time). Keyed by a
      // bucket of the end time (end_ns >> 28: 268 ms; end_ns >> 30: 1.07 s for the window) and then the
      // row id, the entries of a bucket are in arrival order, so a commit appends to the few buckets its
      // tasks ended in. Reads name the same expressions (columns.ts) and check the exact time besides; the
      // list sorts each bucket it reads, the window read needs no order.
      db.exec(`
        DROP INDEX spans_task_end_filters;
        CREATE INDEX spans_task_end_buckets ON spans ((end_ns >> 28), id, end_ns, verdict, service) WHERE role = 'task';
        DROP INDEX task_views_window;
        CREATE INDEX task_views_window_buckets ON task_views (instance, (end_ns >> 30));
      `);
    },
  },
];

/** Rows read per page while migration 3 rewrites them. */
const MIGRATION_PAGE_ROWS = 1_000;

/** The schema version of a database (`PRAGMA user_version`). */
export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings `db` up to the last of `migrations`, one step per transaction, and returns the version
 * it started at. A database already past the last step is refused with a {@link StoreSchemaError}.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS, label = db.name): number {
  const known = migrations.length;
  const initial = schemaVersion(db);
  if (initial > known) throw newerError(label, initial, known);
  for (let target = initial + 1; target <= known; target++) {
    const step = migrations[target - 1];
    // IMMEDIATE takes the write lock before reading the version, so two processes opening the same
    // file cannot both apply a step: the second waits (busy_timeout) and then sees it done.
    db.transaction(() => {
      const current = schemaVersion(db);
      if (current >= target) {
        if (current > known) throw newerError(label, current, known);
        return;
      }
      try {
        step.up(db);
      } catch (error) {
        throw new StoreSchemaError(`${label}: migration ${target} (${step.name}) failed: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        });
      }
      // user_version lives in the file header, which is written in this same transaction.
      db.pragma(`user_version = ${target}`);
    }).immediate();
  }
  return initial;
}

function newerError(label: string, found: number, known: number): StoreSchemaError {
  return new StoreSchemaError(
    `${label}: database is at schema version ${found}, but this canceltrace knows versions up to ${known}; ` +
      'it was written by a newer canceltrace. Upgrade canceltrace, or point it at another database file.',
  );
}
