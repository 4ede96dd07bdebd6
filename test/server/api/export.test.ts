import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readDump } from '../../../collector/otlp/dump.js';
import { toSpanRecord } from '../../../collector/processor/toSpanRecord.js';
import type { ShutdownRecord, SpanRecord } from '../../../contract/records.js';
import { EXPORT_FORMATS, exportShutdown } from '../../../server/api/export.js';
import { ShutdownViews, WHOLE_TASKS_CHUNK } from '../../../server/api/ShutdownViews.js';
import { createApp } from '../../../server/app.js';
import { judgeAtIngest, judgeTaskAlone } from '../../../server/judge/index.js';
import { SqliteStore } from '../../../server/store/SqliteStore.js';
import { events, MS, SEC, shutdownSpan, TRACE, taskSpan } from '../../doubles/spans.js';

/** A store as `canceltrace serve` and `import` open it: each task judged as it is written. */
function openStore(dir: string, name: string): SqliteStore {
  return SqliteStore.open({ path: join(dir, name), verdictOf: judgeTaskAlone, judgmentOf: (task) => judgeAtIngest(task) });
}

/** The response text of a request, whatever its media type. */
function text(req: request.Test): request.Test {
  return req.buffer(true).parse((res, done) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      body += chunk;
    });
    res.on('end', () => done(null, body));
  });
}

describe('GET /api/shutdowns/:id/export', () => {
  let dir: string;
  let store: SqliteStore;
  let views: ShutdownViews;
  let app: ReturnType<typeof createApp>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'canceltrace-export-'));
    store = openStore(dir, 'db.sqlite');
    views = new ShutdownViews(store);
    app = createApp({ store, views, onError: () => {} });
  });
  afterEach(async () => {
    await store.close();
  });

  const shutdownSpanId = 'd'.repeat(16);
  const shutdownId = `${TRACE}-${shutdownSpanId}`;
  const shutdownOf = async (s: SqliteStore, id = shutdownId): Promise<ShutdownRecord> => {
    const shutdown = await s.getShutdown(id);
    if (!shutdown) throw new Error(`no shutdown ${id}`);
    return shutdown;
  };
  const exported = async (format: string) => {
    const res = await text(request(app).get(`/api/shutdowns/${shutdownId}/export?format=${format}`));
    expect(res.status).toBe(200);
    return { text: res.body as string, contentType: res.headers['content-type'], disposition: res.headers['content-disposition'] };
  };

  it('when a small shutdown is exported in each format, then the streamed file is the one the whole report made at once, with its type and name', async () => {
    await views.consume([
      shutdownSpan({ spanId: shutdownSpanId, start: 0n, end: 2n * SEC, outcome: 'timeout', attributes: { 'shutdown.drain_timeout_ms': 1500 } }),
      taskSpan({
        name: 'flush, "quoted"',
        start: -SEC,
        end: SEC,
        finalState: 'cancelled',
        attributes: { 'task.coroutine': '=worker', 'code.filepath': '/w.py', 'code.lineno': 3, 'big.int': 9_007_199_254_740_993n, ratio: 0.5 },
        events: [events.cancel(100n * MS), events.cleanupStart(110n * MS, 'flush'), events.cleanupEnd(150n * MS, 'flush', 'timeout')],
      }),
      taskSpan({ name: 'swallower', start: -SEC, end: SEC, finalState: 'completed', events: [events.cancel(100n * MS)] }),
      // another resource (service) and a scope with a version: grouped apart, as before
      { ...taskSpan({ name: 'other-service', service: 'svc-b', start: 0n, end: 3n * SEC }), scope: { name: 'canceltrace', version: '1.2' } },
      taskSpan({ name: 'never-ended', start: 500n * MS, snapshot: true }),
    ]);
    const report = await views.report(await shutdownOf(store));
    expect(report.tasks).toHaveLength(4);
    for (const format of EXPORT_FORMATS) {
      const reference = exportShutdown(report, format);
      const file = await exported(format);
      expect(file.text, format).toBe(reference.body);
      expect(file.contentType, format).toBe(`${reference.contentType.split(';')[0]}; charset=utf-8`);
      expect(file.disposition, format).toBe(`attachment; filename=${reference.filename}`);
    }
    expect(JSON.parse((await exported('otlp')).text).resourceSpans).toHaveLength(2);
    // json when the format is not given
    expect((await exported('')).text).toBe(exportShutdown(report, 'json').body);
  });

  it('when a shutdown without tasks is exported, then each format still holds its header (OTLP: the shutdown span)', async () => {
    await views.consume([shutdownSpan({ spanId: shutdownSpanId, start: 0n, end: SEC })]);
    const report = await views.report(await shutdownOf(store));
    for (const format of EXPORT_FORMATS) expect((await exported(format)).text, format).toBe(exportShutdown(report, format).body);
  });

  it('when the format is unknown, then 400; when the shutdown is unknown, then 404', async () => {
    await views.consume([shutdownSpan({ spanId: shutdownSpanId, start: 0n, end: SEC })]);
    expect((await request(app).get(`/api/shutdowns/${shutdownId}/export?format=xml`)).status).toBe(400);
    expect((await request(app).get(`/api/shutdowns/${TRACE}-${'e'.repeat(16)}/export?format=csv`)).status).toBe(404);
  });

  it('when a shutdown of more tasks than a chunk is exported, then every task is written once in report order in each format, and its OTLP file imported into a fresh store gives the same verdicts', async () => {
    const count = 2 * WHOLE_TASKS_CHUNK + WHOLE_TASKS_CHUNK / 2;
    const spans: SpanRecord[] = [shutdownSpan({ spanId: shutdownSpanId, start: 0n, end: 10n * SEC, outcome: 'timeout' })];
    for (let i = 0; i < count; i++) {
      const start = -SEC + BigInt(i) * MS;
      if (i % 3 === 0) spans.push(taskSpan({ name: `cancelled-${i}`, start, end: 2n * SEC, finalState: 'cancelled', events: [events.cancel(SEC)] }));
      else if (i % 3 === 1) spans.push(taskSpan({ name: `swallowed-${i}`, start, end: 2n * SEC, finalState: 'completed', events: [events.cancel(SEC)] }));
      else spans.push(taskSpan({ name: `done-${i}`, start, end: 5n * SEC, attributes: { 'task.coroutine': 'worker' } }));
    }
    for (let i = 0; i < spans.length; i += 1_000) await views.consume(spans.slice(i, i + 1_000));

    const full = (await request(app).get(`/api/shutdowns/${shutdownId}`)).body;
    const order: string[] = full.tasks.map((t: { spanId: string }) => t.spanId);
    expect(order).toHaveLength(count);
    expect(new Set(order).size).toBe(count);
    const report = await views.report(await shutdownOf(store));

    const csv = (await exported('csv')).text;
    expect(csv).toBe(exportShutdown(report, 'csv').body);
    const rows = csv.split('\r\n').slice(1, -1);
    expect(rows.map((row) => row.split(',')[0])).toEqual(order);

    const json = (await exported('json')).text;
    expect(json).toBe(exportShutdown(report, 'json').body);
    expect(JSON.parse(json).tasks.map((t: { spanId: string }) => t.spanId)).toEqual(order);

    const otlp = (await exported('otlp')).text;
    const request_ = JSON.parse(otlp);
    // one group of the one resource per chunk, the shutdown's span first in the first
    expect(request_.resourceSpans).toHaveLength(Math.ceil(count / WHOLE_TASKS_CHUNK));
    const otlpSpans = request_.resourceSpans.flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans));
    expect(otlpSpans.map((s: { spanId: string }) => s.spanId)).toEqual([shutdownSpanId, ...order]);
    // the same spans as the file made at once, each as it was
    const referenceSpans = JSON.parse(exportShutdown(report, 'otlp').body).resourceSpans.flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans));
    expect(otlpSpans).toEqual(referenceSpans);

    const fresh = openStore(dir, 'reimported.sqlite');
    try {
      await fresh.consume(readDump(Buffer.from(otlp), 'shutdown.otlp.json').map(toSpanRecord));
      const again = await new ShutdownViews(fresh).report(await shutdownOf(fresh));
      const verdicts = (tasks: { spanId: string; verdict: string }[]) => Object.fromEntries(tasks.map((t) => [t.spanId, t.verdict]));
      expect(verdicts(again.tasks.map((t) => ({ spanId: t.task.spanId, verdict: t.verdict })))).toEqual(verdicts(full.tasks));
      expect(again.tasks.map((t) => t.task.spanId)).toEqual(order);
      expect(again.outcome).toBe(report.outcome);
      expect(new Set(again.tasks.map((t) => t.verdict))).toEqual(new Set(['cancelled', 'swallowed', 'finished']));
    } finally {
      await fresh.close();
    }
  });
});
