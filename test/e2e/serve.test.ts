import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { getJson, type Served, startServe, waitFor } from './serve.js';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const kv = (key: string, value: string | number | boolean) => ({
  key,
  value: typeof value === 'string' ? { stringValue: value } : typeof value === 'boolean' ? { boolValue: value } : { intValue: String(value) },
});

/** An OTLP/JSON request with the given spans of one instance, as any OTLP client would send. */
function request(instance: string, spans: object[]) {
  return {
    resourceSpans: [
      {
        resource: { attributes: [kv('service.name', 'billing'), kv('service.instance.id', instance)] },
        scopeSpans: [{ scope: { name: 'canceltrace', version: '0.1.0' }, spans }],
      },
    ],
  };
}

async function post(served: Served, body: object): Promise<Response> {
  return fetch(`${served.otlpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const t0 = 1_700_000_000_000_000_000n;
const ns = (ms: number) => String(t0 + BigInt(ms) * 1_000_000n);

describe('canceltrace serve', () => {
  const started: Served[] = [];
  const start = async (db?: string) => {
    const s = await startServe({ db });
    started.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop()));
  });

  it('when started with port 0, then it prints the chosen otlp and ui URLs and answers health', async () => {
    const served = await start();
    expect(served.otlpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(served.uiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(served.otlpUrl).not.toBe(served.uiUrl);
    const health = await getJson(served, '/api/health');
    expect(health.status).toBe('ok');
  });

  it('when stopped with SIGTERM and restarted on the same DB file, then the shutdowns are still there', async () => {
    const first = await start();
    const traceId = hex(16);
    const instance = randomUUID();
    const shutdownSpan = {
      traceId,
      spanId: hex(8),
      name: 'shutdown',
      startTimeUnixNano: ns(0),
      endTimeUnixNano: ns(500),
      attributes: [kv('shutdown.reason', 'SIGTERM'), kv('shutdown.outcome', 'clean')],
    };
    const res = await post(first, request(instance, [shutdownSpan]));
    expect(res.status).toBe(200);
    const before = await getJson<any[]>(first, '/api/shutdowns');
    expect(await first.stop()).toBe(0);

    const second = await start(first.dbPath);
    const after = await getJson<any[]>(second, '/api/shutdowns');
    expect(after).toEqual(before);
    expect(after[0]).toMatchObject({ id: `${traceId}-${shutdownSpan.spanId}`, start: ns(0), end: ns(500), instance });
  });

  it('when a snapshot of a shutdown and its task arrive, then the final records replace them and the verdict follows', async () => {
    const served = await start();
    const traceId = hex(16);
    const instance = randomUUID();
    const shutdownId = hex(8);
    const taskId = hex(8);
    const cancelEvent = { name: 'task.cancel_requested', timeUnixNano: ns(10), attributes: [kv('cancel.count', 1)] };
    const taskSpan = (endMs: number, state: string, snapshot: boolean) => ({
      traceId,
      spanId: taskId,
      name: 'worker',
      startTimeUnixNano: ns(-1000),
      endTimeUnixNano: ns(endMs),
      attributes: [kv('task.kind', 'asyncio'), kv('task.final_state', state), kv('task.snapshot', snapshot)],
      events: [cancelEvent],
    });
    const shutdownSpan = (endMs: number, snapshot: boolean) => ({
      traceId,
      spanId: shutdownId,
      name: 'shutdown',
      startTimeUnixNano: ns(0),
      endTimeUnixNano: ns(endMs),
      attributes: [kv('shutdown.reason', 'SIGINT'), kv('task.snapshot', snapshot), ...(snapshot ? [] : [kv('shutdown.outcome', 'clean')])],
    });
    await post(served, request(instance, [shutdownSpan(1000, true), taskSpan(1000, 'pending', true)]));
    const id = `${traceId}-${shutdownId}`;
    const open = await getJson(served, `/api/shutdowns/${id}`);
    expect(open.shutdown.open).toBe(true);
    expect(open.shutdown.outcome).toBe('open');
    expect(open.tasks[0].verdict).toBe('survivor');

    await post(served, request(instance, [taskSpan(1500, 'cancelled', false), shutdownSpan(2000, false)]));
    // a late snapshot must not undo the final record
    await post(served, request(instance, [taskSpan(3000, 'pending', true)]));
    const closed = await waitFor(async () => {
      const v = await getJson(served, `/api/shutdowns/${id}`);
      return v.shutdown.open ? undefined : v;
    });
    expect(closed.shutdown.outcome).toBe('clean');
    expect(closed.tasks.map((t: any) => [t.spanId, t.verdict, t.endedAt])).toEqual([[taskId, 'cancelled', ns(1500)]]);
  });

  it('when the API gets a bad id, an unknown id or a bad query, then it answers a JSON error with the right status', async () => {
    const served = await start();
    const bad = await fetch(`${served.uiUrl}/api/shutdowns/not-an-id`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatch(/bad shutdown id/);
    const missing = await fetch(`${served.uiUrl}/api/shutdowns/${hex(16)}-${hex(8)}`);
    expect(missing.status).toBe(404);
    const verdict = await fetch(`${served.uiUrl}/api/tasks?verdict=nope`);
    expect(verdict.status).toBe(400);
    expect((await verdict.json()).error).toMatch(/verdict must be one of/);
    const limit = await fetch(`${served.uiUrl}/api/tasks?limit=10001`);
    expect(limit.status).toBe(400);
    const cursor = await fetch(`${served.uiUrl}/api/tasks?cursor=%%%`);
    expect(cursor.status).toBe(400);
    const route = await fetch(`${served.uiUrl}/api/nothing`);
    expect(route.status).toBe(404);
  });
});
