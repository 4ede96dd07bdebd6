import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SHARED_CACHE_MILLIS } from '../../server/api/ShutdownViews.js';
import { createPgTestSchema, type PgTestSchema, pgUnreachable } from '../server/store/pgTestDb.js';
import { CLI, getJson, type Served, startServe, waitFor } from './serve.js';

const unreachable = await pgUnreachable();
if (unreachable !== undefined && process.env.CI !== 'true') console.warn(`serve on PostgreSQL tests skipped: ${unreachable}`);

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const kv = (key: string, value: string | number | boolean) => ({
  key,
  value: typeof value === 'string' ? { stringValue: value } : typeof value === 'boolean' ? { boolValue: value } : { intValue: String(value) },
});
const t0 = 1_700_000_000_000_000_000n;
const ns = (ms: number) => String(t0 + BigInt(ms) * 1_000_000n);

/** An OTLP/JSON request with the given spans of one instance. */
const request = (instance: string, spans: object[]) => ({
  resourceSpans: [
    {
      resource: { attributes: [kv('service.name', 'billing'), kv('service.instance.id', instance)] },
      scopeSpans: [{ scope: { name: 'canceltrace', version: '0.1.0' }, spans }],
    },
  ],
});

async function post(served: Served, body: object): Promise<void> {
  const res = await fetch(`${served.otlpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
}

describe('canceltrace serve --db postgres://', () => {
  it('when PostgreSQL cannot be reached, then serve and import exit 1 with one line naming the host and not the password', () => {
    for (const command of ['serve', 'import']) {
      const args = command === 'serve' ? ['serve', '--otlp-port', '0', '--ui-port', '0'] : ['import', '/dev/null'];
      const run = spawnSync(process.execPath, [CLI, ...args, '--db', 'postgresql://ops:topsecret@127.0.0.1:1/traces'], { encoding: 'utf8', timeout: 20_000 });
      expect(run.status, run.stderr).toBe(1);
      expect(run.stderr.trim().split('\n'), run.stderr).toHaveLength(1);
      expect(run.stderr).toMatch(/^canceltrace: cannot open the database postgresql:\/\/ops@127\.0\.0\.1:1\/traces: .*ECONNREFUSED/);
      expect(run.stderr).not.toContain('topsecret');
    }
  });

  describe.skipIf(unreachable !== undefined && process.env.CI !== 'true')('two instances on one schema', () => {
    let db: PgTestSchema;
    const started: Served[] = [];
    beforeAll(async () => {
      if (unreachable !== undefined) throw new Error(unreachable);
      db = await createPgTestSchema();
    });
    afterEach(async () => {
      await Promise.all(started.splice(0).map((s) => s.stop()));
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('when spans are sent to one instance, then the other serves them judged, and sees later records after the shared cache bound', async () => {
      const [a, b] = await Promise.all([startServe({ db: db.url }), startServe({ db: db.url })]);
      started.push(a, b);
      expect(a.output()).not.toContain('password');
      const traceId = hex(16);
      const instance = randomUUID();
      const shutdownId = hex(8);
      const cancel = { name: 'task.cancel_requested', timeUnixNano: ns(10), attributes: [kv('cancel.count', 1)] };
      const task = (spanId: string, name: string, endMs: number, state: string) => ({
        traceId,
        spanId,
        name,
        startTimeUnixNano: ns(-1000),
        endTimeUnixNano: ns(endMs),
        attributes: [kv('task.kind', 'asyncio'), kv('task.final_state', state), kv('task.snapshot', state === 'pending')],
        events: [cancel],
      });
      const shutdown = {
        traceId,
        spanId: shutdownId,
        name: 'shutdown',
        startTimeUnixNano: ns(0),
        endTimeUnixNano: ns(2000),
        attributes: [kv('shutdown.reason', 'SIGTERM'), kv('shutdown.outcome', 'survivors')],
      };
      const polite = hex(8);
      const stuck = hex(8);
      await post(a, request(instance, [shutdown, task(polite, 'polite', 500, 'cancelled'), task(stuck, 'stuck', 1900, 'pending')]));

      const id = `${traceId}-${shutdownId}`;
      const list = await getJson<any[]>(b, '/api/shutdowns');
      expect(list.find((s) => s.id === id)).toMatchObject({ instance, outcome: 'survivors', counts: { cancelled: 1, survivor: 1 } });
      const view = await getJson(b, `/api/shutdowns/${id}`);
      expect(view.tasks.map((t: any) => [t.name, t.verdict]).sort()).toEqual([
        ['polite', 'cancelled'],
        ['stuck', 'survivor'],
      ]);
      const survivors = await getJson(b, '/api/tasks?verdict=survivor&service=billing');
      expect(survivors.tasks.map((t: any) => t.spanId)).toContain(stuck);

      // The stuck task ends after all, having swallowed its cancel; B cached the view above and learns
      // of A's write only when its shared-cache bound has passed.
      await post(a, request(instance, [task(stuck, 'stuck', 1950, 'completed')]));
      const posted = Date.now();
      const after = await waitFor(async () => {
        const v = await getJson(b, `/api/shutdowns/${id}`);
        return v.tasks.some((t: any) => t.verdict === 'swallowed') ? v : undefined;
      });
      expect(Date.now() - posted).toBeLessThan(DEFAULT_SHARED_CACHE_MILLIS + 5_000);
      expect(after.tasks.map((t: any) => [t.name, t.verdict, t.endedAt]).sort()).toEqual([
        ['polite', 'cancelled', ns(500)],
        ['stuck', 'swallowed', ns(1950)],
      ]);
      const summary = await waitFor(async () => {
        const s = (await getJson<any[]>(b, '/api/shutdowns')).find((x) => x.id === id);
        return s?.counts.swallowed === 1 ? s : undefined;
      });
      expect(summary.counts).toMatchObject({ cancelled: 1, swallowed: 1, survivor: 0 });
      expect((await getJson(a, '/api/health')).spans).toBe(3);
      expect((await getJson(b, '/api/health')).spans).toBe(3);
    });
  });
});
