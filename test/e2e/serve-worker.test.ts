import { copyFileSync } from 'node:fs';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type Served, startServe, waitForKeptAnswers } from './serve.js';

let served: Served | undefined;
let lock: Database.Database | undefined;
afterEach(async () => {
  lock?.close();
  lock = undefined;
  await served?.stop();
  served = undefined;
});

const TRACE = '5b8efff798038103d269b633813fc60c';
const hr = (ms: number): [number, number] => [1_700_000_000 + Math.floor(ms / 1000), (ms % 1000) * 1_000_000];

/** ReadableSpan-like objects for the official serializer: `tasks` cancelled tasks and one closed shutdown. */
function shutdownSpans(tasks: number) {
  const resource = { attributes: { 'service.name': 'worker-e2e', 'service.instance.id': 'worker-e2e-1' } };
  const span = (spanId: string, name: string, start: number, end: number, attributes: Record<string, unknown>, events: unknown[]) => ({
    name,
    kind: 0,
    spanContext: () => ({ traceId: TRACE, spanId, traceFlags: 1 }),
    parentSpanContext: undefined,
    startTime: hr(start),
    endTime: hr(end),
    duration: hr(end - start),
    status: { code: 0 },
    attributes,
    links: [],
    events,
    ended: true,
    resource,
    instrumentationScope: { name: 'canceltrace' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  });
  const spans = [span('f'.repeat(16), 'shutdown', 1000, 3000, { 'shutdown.reason': 'SIGTERM', 'shutdown.outcome': 'clean' }, [])];
  for (let i = 0; i < tasks; i++) {
    spans.push(
      span((i + 1).toString(16).padStart(16, '0'), `t${i}`, 0, 1500, { 'task.kind': 'asyncio', 'task.id': String(i), 'task.final_state': 'cancelled' }, [
        { name: 'task.cancel_requested', time: hr(1100), attributes: {} },
      ]),
    );
  }
  return spans;
}

async function post(otlpUrl: string, spans: unknown[]): Promise<Response> {
  return fetch(`${otlpUrl}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf' },
    body: Buffer.from(ProtobufTraceSerializer.serializeRequest(spans as never)!),
  });
}

describe('canceltrace serve with the dashboard + API in a worker thread', () => {
  it('when a shutdown of 20,000 tasks is stored, then its views stream complete JSON, 304 on their ETag, and judged as stored', async () => {
    served = await startServe();
    const spans = shutdownSpans(20_000);
    for (let i = 0; i < spans.length; i += 5_000) expect((await post(served.otlpUrl, spans.slice(i, i + 5_000))).status).toBe(200);
    const id = `${TRACE}-${'f'.repeat(16)}`;
    for (const query of ['', '?tasks=compact']) {
      const res = await fetch(`${served.uiUrl}/api/shutdowns/${id}${query}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { tasks: unknown[]; shutdown: { counts: Record<string, number> } };
      expect(body.tasks).toHaveLength(20_000);
      expect(body.shutdown.counts.cancelled).toBe(20_000);
      const tag = res.headers.get('etag');
      expect(tag).toBeTruthy();
      expect((await fetch(`${served.uiUrl}/api/shutdowns/${id}${query}`, { headers: { 'if-none-match': tag! } })).status).toBe(304);
    }
    // Every stored task row carries its judgment, made once at ingest.
    const db = new Database(served.dbPath, { readonly: true });
    try {
      expect(db.prepare("SELECT count(*) FROM spans WHERE role = 'task' AND judged IS NOT NULL").pluck().get()).toBe(20_000);
    } finally {
      db.close();
    }
  });

  it('when a shutdown settles, then its answers are kept, and after a restart its compact and timeline forms come kept, the text judging gives', async () => {
    served = await startServe();
    const spans = shutdownSpans(5_000);
    expect((await post(served.otlpUrl, spans)).status).toBe(200);
    const id = `${TRACE}-${'f'.repeat(16)}`;
    const dbPath = served.dbPath;
    // Settled after its instance has been quiet a while; then both forms are derived in the worker, unasked.
    await waitForKeptAnswers(dbPath, id);
    await served.stop();
    // The same store without its kept answers: what judging from scratch gives.
    const scratch = `${dbPath}.scratch`;
    copyFileSync(dbPath, scratch);
    const db = new Database(scratch);
    db.exec('DELETE FROM shutdown_answers; DELETE FROM shutdown_answer_chunks');
    db.close();
    const forms = [`/api/shutdowns/${id}?tasks=compact`, `/api/shutdowns/${id}/timeline`];
    const read = async (s: Served) => {
      const out = [];
      for (const path of forms) {
        const res = await fetch(`${s.uiUrl}${path}`);
        out.push({ status: res.status, answer: res.headers.get('x-canceltrace-answer'), etag: res.headers.get('etag'), text: await res.text() });
      }
      return out;
    };
    served = await startServe({ db: dbPath });
    const kept = await read(served);
    await served.stop();
    served = await startServe({ db: scratch });
    const judged = await read(served);
    for (let i = 0; i < forms.length; i++) {
      expect([kept[i].status, kept[i].answer, judged[i].status, judged[i].answer]).toEqual([200, 'kept', 200, 'judged']);
      expect(kept[i].text).toBe(judged[i].text);
      expect(kept[i].etag).toBe(judged[i].etag);
    }
    expect(JSON.parse(kept[0].text).shutdown.counts.cancelled).toBe(5_000);
  });

  it('when a span arrives after a view was read, then the worker judges the view again', async () => {
    served = await startServe();
    const [shutdown, ...tasks] = shutdownSpans(3);
    expect((await post(served.otlpUrl, [shutdown, ...tasks.slice(0, 2)])).status).toBe(200);
    const id = `${TRACE}-${'f'.repeat(16)}`;
    const first = await fetch(`${served.uiUrl}/api/shutdowns/${id}`);
    expect(((await first.json()) as { tasks: unknown[] }).tasks).toHaveLength(2);
    expect((await post(served.otlpUrl, tasks.slice(2))).status).toBe(200);
    const again = await fetch(`${served.uiUrl}/api/shutdowns/${id}`, { headers: { 'if-none-match': first.headers.get('etag')! } });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { tasks: unknown[] }).tasks).toHaveLength(3);
  });

  it('when another process holds the write lock, then /api/health in the worker says busy, and /metrics answers from the main thread', async () => {
    served = await startServe();
    lock = new Database(served.dbPath);
    lock.exec('BEGIN IMMEDIATE');
    expect((await post(served.otlpUrl, shutdownSpans(1))).status).toBe(503);
    const health = (await (await fetch(`${served.uiUrl}/api/health`)).json()) as { status: string };
    expect(health.status).toBe('busy');
    lock.exec('COMMIT');
    const metrics = await fetch(`${served.uiUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^# HELP /m);
  });
});
