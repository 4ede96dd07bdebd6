import type { ClientBase } from 'pg';
import { StoreSchemaError } from './migrations.js';

/** One schema step of the PostgreSQL store: SQL that brings the schema from version `index` to `index + 1`. */
export interface PgMigration {
  /** what the step does, for error messages */
  name: string;
  /** statements run in the migration's transaction */
  sql: string;
}

/**
 * The PostgreSQL schema, as an ordered list of steps; the `schema_version` table holds how many
 * have been applied. Never edit or reorder a step that has shipped: add a new one at the end.
 * Tables are created in the first schema of the connection's search_path.
 */
export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    name: 'resources and spans tables with the indices of the reads',
    sql: `
      CREATE TABLE resources (
        id         BIGSERIAL PRIMARY KEY,
        hash       TEXT NOT NULL UNIQUE,
        attributes TEXT NOT NULL
      );
      -- event_count is kept for the replace rule (newerRecord), which the upsert evaluates in SQL.
      CREATE TABLE spans (
        id          BIGSERIAL PRIMARY KEY,
        trace_id    TEXT    NOT NULL,
        span_id     TEXT    NOT NULL,
        role        TEXT    NOT NULL,
        service     TEXT    NOT NULL,
        instance    TEXT    NOT NULL,
        start_ns    BIGINT  NOT NULL,
        end_ns      BIGINT  NOT NULL,
        created_ns  BIGINT  NOT NULL,
        snapshot    BOOLEAN NOT NULL,
        event_count INTEGER NOT NULL,
        verdict     TEXT,
        resource_id BIGINT  NOT NULL REFERENCES resources (id),
        record      TEXT    NOT NULL,
        UNIQUE (trace_id, span_id)
      );
      CREATE INDEX spans_shutdown_start ON spans (start_ns, id) WHERE role = 'shutdown';
      CREATE INDEX spans_shutdown_service_start ON spans (service, start_ns, id) WHERE role = 'shutdown';
      CREATE INDEX spans_task_instance_end ON spans (instance, end_ns) WHERE role = 'task';
      CREATE INDEX spans_task_pending ON spans (instance, created_ns) WHERE role = 'task' AND snapshot;
      CREATE INDEX spans_task_end ON spans (end_ns, id) WHERE role = 'task';
      CREATE INDEX spans_task_verdict_end ON spans (verdict, end_ns, id) WHERE role = 'task';
      CREATE INDEX spans_task_service_end ON spans (service, end_ns, id) WHERE role = 'task';
    `,
  },
  {
    name: 'indices for retention: other spans by end, shutdowns by instance',
    sql: `
      CREATE INDEX spans_other_end ON spans (end_ns, id) WHERE role = 'other';
      CREATE INDEX spans_shutdown_instance ON spans (instance) WHERE role = 'shutdown';
    `,
  },
];

/**
 * Brings the schema of `client`'s search_path up to the last of `migrations` in one transaction and
 * returns the version it started at. Instances starting together serialise on an advisory lock
 * (keyed by the schema), so only one applies each step. A schema past the last step is refused
 * with a {@link StoreSchemaError}.
 */
export async function migratePg(client: ClientBase, migrations: readonly PgMigration[] = PG_MIGRATIONS, label = 'PgStore'): Promise<number> {
  const known = migrations.length;
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('canceltrace.schema:' || coalesce(current_schema(), '')))`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_version (
         only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
         version  INTEGER NOT NULL
       )`,
    );
    const found = await client.query<{ version: number }>('SELECT version FROM schema_version');
    const initial = found.rows.length === 0 ? 0 : found.rows[0].version;
    if (initial > known) {
      throw new StoreSchemaError(
        `${label}: database is at schema version ${initial}, but this canceltrace knows versions up to ${known}; ` +
          'it was written by a newer canceltrace. Upgrade canceltrace, or point it at another database or schema.',
      );
    }
    for (let target = initial + 1; target <= known; target++) {
      const step = migrations[target - 1];
      try {
        await client.query(step.sql);
      } catch (error) {
        throw new StoreSchemaError(`${label}: migration ${target} (${step.name}) failed: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        });
      }
    }
    if (initial < known) {
      await client.query('INSERT INTO schema_version (only_row, version) VALUES (true, $1) ON CONFLICT (only_row) DO UPDATE SET version = EXCLUDED.version', [
        known,
      ]);
    }
    await client.query('COMMIT');
    return initial;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
