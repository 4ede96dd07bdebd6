import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server the PostgreSQL tests use; CANCELTRACE_TEST_PG_URL overrides it (database `test`, trust auth). */
export const PG_TEST_URL = process.env.CANCELTRACE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** What to do when the server is not there: printed when the tests are skipped. */
export const PG_START_HINT =
  'start PostgreSQL with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` ' +
  '(install it with `apt-get install -y postgresql`), or set CANCELTRACE_TEST_PG_URL';

/** How long the reachability probe waits, in milliseconds. */
const PROBE_TIMEOUT_MILLIS = 3_000;

/** Why the test server cannot be used, or undefined when it answers. */
export async function pgUnreachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_TEST_URL, connectionTimeoutMillis: PROBE_TIMEOUT_MILLIS });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    const text = error instanceof AggregateError ? error.errors.map(String).join('; ') : String(error);
    return `PostgreSQL at ${PG_TEST_URL} is unreachable (${text.split('\n')[0]}): ${PG_START_HINT}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs `sql` on the test database through a short-lived connection. */
export async function pgAdmin<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: PG_TEST_URL });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** A throw-away schema in the test database, and a URL whose connections use it. */
export interface PgTestSchema {
  schema: string;
  /** PG_TEST_URL with `options=-c search_path=<schema>` */
  url: string;
  /** runs `sql` with the schema as search_path */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  /** empties the schema (drops every table in it) */
  clear(): Promise<void>;
  /** drops the schema and everything in it */
  drop(): Promise<void>;
}

/** Creates `canceltrace_test_<random>`. */
export async function createPgTestSchema(): Promise<PgTestSchema> {
  const schema = `canceltrace_test_${randomBytes(6).toString('hex')}`;
  await pgAdmin(`CREATE SCHEMA ${schema}`);
  const url = new URL(PG_TEST_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const query = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => {
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
  return {
    schema,
    url: url.toString(),
    query,
    clear: async () => {
      await pgAdmin(`DROP SCHEMA ${schema} CASCADE; CREATE SCHEMA ${schema}`);
    },
    drop: async () => {
      await pgAdmin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
  };
}
