import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpanRecord } from '../../../contract/records.js';
import { SpanCodecError } from '../../../server/store/codec.js';
import { StoreSchemaError } from '../../../server/store/migrations.js';
import { isPgUrl, PgStore, redactPgUrl, StoreOpenError } from '../../../server/store/PgStore.js';
import { PG_MIGRATIONS } from '../../../server/store/pgMigrations.js';
import { createPgTestSchema, type PgTestSchema, pgUnreachable } from './pgTestDb.js';
import { otherSpan, shutdownSpan, taskSpan, traceId, verdictAlone } from './spanBuilder.js';
import { storeContract } from './storeContract.js';

const unreachable = await pgUnreachable();

if (unreachable !== undefined && process.env.CI !== 'true') {
  console.warn(`PgStore tests skipped: ${unreachable}`);
}

describe('PgStore URLs', () => {
  it('when a --db value starts with postgres:// or postgresql://, then it is a PostgreSQL URL; anything else is a file', () => {
    expect(isPgUrl('postgres://u@h/db')).toBe(true);
    expect(isPgUrl('PostgreSQL://u@h:5433/db')).toBe(true);
    expect(isPgUrl('./canceltrace.db')).toBe(false);
    expect(isPgUrl('/var/lib/postgres://x')).toBe(false);
  });

  it('when a URL carries a password, then the redacted form names user, host, port and database only', () => {
    expect(redactPgUrl('postgres://alice:s3cret@db.example:5433/traces?password=x&options=-c%20a')).toBe('postgres://alice@db.example:5433/traces');
  });
});

describe.skipIf(unreachable !== undefined && process.env.CI !== 'true')('PgStore', () => {
  let db: PgTestSchema;
  beforeAll(async () => {
    // Under CI a missing server is a failure, with the same hint.
    if (unreachable !== undefined) throw new Error(unreachable);
    db = await createPgTestSchema();
  });
  afterAll(async () => {
    await db?.drop();
  });

  storeContract('PgStore', async () => {
    await db.clear();
    return {
      open: (verdictOf) => PgStore.open({ url: db.url, verdictOf }),
      peek: {
        resourceCount: async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM resources'))[0].n),
        bodies: async () => (await db.query<{ record: string }>('SELECT record FROM spans ORDER BY id')).map((r) => r.record),
        times: async () =>
          (await db.query<{ start_ns: string; end_ns: string; created_ns: string }>('SELECT start_ns, end_ns, created_ns FROM spans ORDER BY id')).map((r) => ({
            start: BigInt(r.start_ns),
            end: BigInt(r.end_ns),
            created: BigInt(r.created_ns),
          })),
      },
      dispose: async () => undefined,
    };
  });

  describe('open', () => {
    it('when the schema is empty, then the tables and a schema_version row at the last version are created', async () => {
      await db.clear();
      const store = await PgStore.open({ url: db.url, verdictOf: verdictAlone });
      await store.close();
      expect(await db.query('SELECT version FROM schema_version')).toEqual([{ version: PG_MIGRATIONS.length }]);
      const tables = (await db.query<{ tablename: string }>('SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1')).map(
        (t) => t.tablename,
      );
      expect(tables).toEqual(['resources', 'schema_version', 'spans']);
    });

    it('when several stores open an empty schema at once, then one creates it and all of them work', async () => {
      await db.clear();
      const stores = await Promise.all(Array.from({ length: 4 }, () => PgStore.open({ url: db.url, verdictOf: verdictAlone })));
      try {
        await Promise.all(stores.map((s, i) => s.consume([taskSpan({ trace: 1, span: i + 1 })])));
        expect(await stores[0].stats()).toEqual({ spans: 4, tasks: 4, shutdowns: 0 });
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });

    it('when the schema was written by a newer version, then open fails with a clear StoreSchemaError and changes nothing', async () => {
      await db.clear();
      await (await PgStore.open({ url: db.url, verdictOf: verdictAlone })).close();
      await db.query('UPDATE schema_version SET version = $1', [PG_MIGRATIONS.length + 5]);
      const open = PgStore.open({ url: db.url, verdictOf: verdictAlone });
      await expect(open).rejects.toThrow(StoreSchemaError);
      await expect(PgStore.open({ url: db.url, verdictOf: verdictAlone })).rejects.toThrow(
        new RegExp(`schema version ${PG_MIGRATIONS.length + 5}, but this canceltrace knows versions up to ${PG_MIGRATIONS.length}`),
      );
      expect(await db.query('SELECT version FROM schema_version')).toEqual([{ version: PG_MIGRATIONS.length + 5 }]);
    });

    it('when nothing listens at the URL, then open fails with a one-line StoreOpenError naming the host and not the password', async () => {
      const url = 'postgres://someone:hunter2@127.0.0.1:1/nowhere';
      const error = await PgStore.open({ url, verdictOf: verdictAlone }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreOpenError);
      const message = (error as Error).message;
      expect(message).toMatch(/^cannot open the database postgres:\/\/someone@127\.0\.0\.1:1\/nowhere: .*ECONNREFUSED/);
      expect(message).not.toContain('hunter2');
      expect(message).not.toContain('\n');
    });

    it('when the database does not exist, then the error says so', async () => {
      const url = new URL(db.url);
      url.pathname = '/canceltrace_no_such_db';
      await expect(PgStore.open({ url: url.toString(), verdictOf: verdictAlone })).rejects.toThrow(/canceltrace_no_such_db.*does not exist/);
    });
  });

  describe('consume', () => {
    it('when a service name holds a NUL character, then the batch fails as bad data and nothing of it is kept', async () => {
      await db.clear();
      const store = await PgStore.open({ url: db.url, verdictOf: verdictAlone });
      try {
        const bad = { ...otherSpan({ trace: 5, span: 2 }), service: 'svc\u0000x' };
        await expect(store.consume([taskSpan({ trace: 5, span: 1 }), bad])).rejects.toThrow(SpanCodecError);
        await expect(store.consume([bad])).rejects.toThrow(/service contains a NUL character/);
        expect(await store.stats()).toEqual({ spans: 0, tasks: 0, shutdowns: 0 });
      } finally {
        await store.close();
      }
    });

    it('when the resources table is emptied under a running store, then a batch fails loudly and the next one stores its spans', async () => {
      await db.clear();
      const store = await PgStore.open({ url: db.url, verdictOf: verdictAlone });
      try {
        await store.consume([taskSpan({ trace: 6, span: 1 })]);
        await db.query('TRUNCATE spans, resources');
        await expect(store.consume([taskSpan({ trace: 6, span: 2 })])).rejects.toThrow(/resource_id/);
        await store.consume([taskSpan({ trace: 6, span: 3 })]);
        expect((await store.spansOfTrace(traceId(6))).map((s) => s.spanId)).toEqual([taskSpan({ span: 3 }).spanId]);
      } finally {
        await store.close();
      }
    });
  });

  describe('several writers', () => {
    it('when two stores upsert snapshots and the final record of the same spans at once, then every span keeps its final record', async () => {
      await db.clear();
      const [a, b] = await Promise.all([0, 1].map(() => PgStore.open({ url: db.url, verdictOf: verdictAlone })));
      try {
        const SPANS = 200;
        const snapshots = (end: bigint) => Array.from({ length: SPANS }, (_, i) => taskSpan({ trace: 2, span: i + 1, snapshot: true, cancelled: true, end }));
        const finals = Array.from({ length: SPANS }, (_, i) => taskSpan({ trace: 2, span: i + 1, state: 'cancelled', cancelled: true, end: 3_000n }));
        // The final records go in the middle of a stream of ever later snapshots from the other writer,
        // in reverse order, so that the two transactions cross on the same rows.
        const writes: Promise<void>[] = [];
        for (let round = 0; round < 10; round++) {
          writes.push(a.consume(snapshots(2_000n + BigInt(round) * 1_000n)));
          if (round === 3) writes.push(b.consume([...finals].reverse()));
          writes.push(b.consume(snapshots(2_500n + BigInt(round) * 1_000n).reverse()));
        }
        await Promise.all(writes);
        const stored = await a.spansOfTrace(traceId(2));
        expect(stored).toHaveLength(SPANS);
        expect(stored.filter((s) => s.snapshot)).toEqual([]);
        expect(stored.every((s) => s.endTime === 3_000n)).toBe(true);
        expect((await b.queryTasks({ limit: 10_000, verdict: 'cancelled' })).tasks).toHaveLength(SPANS);
        expect(await b.stats()).toEqual({ spans: SPANS, tasks: SPANS, shutdowns: 0 });
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('when two stores bring the same new resource at once, then it is stored once and both batches are kept', async () => {
      await db.clear();
      const [a, b] = await Promise.all([0, 1].map(() => PgStore.open({ url: db.url, verdictOf: verdictAlone })));
      try {
        const batch = (trace: number): SpanRecord[] => [
          otherSpan({ trace, span: 1, instance: 'svc-shared' }),
          shutdownSpan({ trace, span: 2, instance: 'svc-shared' }),
        ];
        await Promise.all([a.consume(batch(3)), b.consume(batch(4))]);
        expect(await db.query('SELECT count(*)::int AS n FROM resources')).toEqual([{ n: 1 }]);
        expect((await a.spansOfTrace(traceId(4))).map((s) => s.instance)).toEqual(['svc-shared', 'svc-shared']);
        expect((await b.spansOfTrace(traceId(3))).map((s) => s.resource)).toEqual(batch(3).map((s) => s.resource));
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });
});
