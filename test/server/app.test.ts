import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ShutdownViews } from '../../server/api/ShutdownViews.js';
import { createApp } from '../../server/app.js';
import { judgeTaskAlone } from '../../server/judge/index.js';
import { SqliteStore } from '../../server/store/SqliteStore.js';
import { events, MS, SEC, shutdownSpan, T0, taskSpan } from '../doubles/spans.js';

describe('createApp', () => {
  let store: SqliteStore;
  let views: ShutdownViews;
  let app: ReturnType<typeof createApp>;
  let webRoot: string;

  beforeEach(() => {
    const dir = mkdtempSync(join(tmpdir(), 'canceltrace-app-'));
    webRoot = join(dir, 'web');
    mkdirSync(webRoot);
    writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>canceltrace</title>');
    store = SqliteStore.open({ path: join(dir, 'db.sqlite'), verdictOf: judgeTaskAlone });
    views = new ShutdownViews(store);
    app = createApp({ store, views, webRoot, onError: () => {} });
  });
  afterEach(async () => {
    await store.close();
  });

  it('when the dashboard is fetched, then it is served with a strict Content-Security-Policy', async () => {
    const res = await request(app).get('/');
    expect(res.status).toBe(200);
    const csp = res.headers['content-security-policy'];
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
  });

  it('when shutdowns are listed, then they come newest first with counts per verdict', async () => {
    await views.consume([
      shutdownSpan({ spanId: 'a'.repeat(16), start: 0n, end: SEC, outcome: 'clean' }),
      shutdownSpan({ spanId: 'b'.repeat(16), start: 10n * SEC, end: 11n * SEC, outcome: 'timeout' }),
      taskSpan({ start: 9n * SEC, end: 10n * SEC + 500n * MS, finalState: 'completed', events: [events.cancel(10n * SEC + MS)] }),
    ]);
    const res = await request(app).get('/api/shutdowns');
    expect(res.status).toBe(200);
    expect(res.body.map((s: any) => s.id.split('-')[1])).toEqual(['b'.repeat(16), 'a'.repeat(16)]);
    expect(res.body[0].counts.swallowed).toBe(1);
    expect(res.body[0].start).toBe(String(T0 + 10n * SEC));
    const filtered = await request(app).get('/api/shutdowns?outcome=clean');
    expect(filtered.body).toHaveLength(1);
  });

  it('when a shutdown view is asked again with its ETag and nothing changed, then it answers 304, and 200 with a new tag once a span arrives', async () => {
    const spanId = 'e'.repeat(16);
    await views.consume([shutdownSpan({ spanId, start: 0n, end: 2n * SEC, outcome: 'clean' })]);
    const [row] = (await request(app).get('/api/shutdowns')).body;
    for (const query of ['', '?tasks=compact']) {
      const first = await request(app).get(`/api/shutdowns/${row.id}${query}`);
      expect(first.status).toBe(200);
      const tag = first.headers.etag;
      expect(tag).toMatch(/^W\/".+"$/);
      const again = await request(app).get(`/api/shutdowns/${row.id}${query}`).set('If-None-Match', tag);
      expect(again.status).toBe(304);
      expect(again.text).toBe('');
    }
    const compactTag = (await request(app).get(`/api/shutdowns/${row.id}?tasks=compact`)).headers.etag;
    const fullTag = (await request(app).get(`/api/shutdowns/${row.id}`)).headers.etag;
    expect(compactTag).not.toBe(fullTag);
    await views.consume([taskSpan({ start: -SEC, end: SEC, finalState: 'cancelled', events: [events.cancel(100n * MS)] })]);
    const changed = await request(app).get(`/api/shutdowns/${row.id}`).set('If-None-Match', fullTag);
    expect(changed.status).toBe(200);
    expect(changed.body.tasks).toHaveLength(1);
    expect(changed.headers.etag).not.toBe(fullTag);
  });

  it('when a new span arrives for a shutdown that was already viewed, then the view is judged again', async () => {
    const spanId = 'c'.repeat(16);
    await views.consume([shutdownSpan({ spanId, start: 0n, end: 2n * SEC })]);
    const [row] = (await request(app).get('/api/shutdowns')).body;
    expect((await request(app).get(`/api/shutdowns/${row.id}`)).body.tasks).toHaveLength(0);
    await views.consume([taskSpan({ start: -SEC, end: SEC, finalState: 'cancelled', events: [events.cancel(100n * MS)] })]);
    const view = (await request(app).get(`/api/shutdowns/${row.id}`)).body;
    expect(view.tasks.map((t: any) => t.verdict)).toEqual(['cancelled']);
  });

  it('when a shutdown is asked in compact form or one task is asked, then they agree with the full view', async () => {
    const spanId = 'd'.repeat(16);
    await views.consume([
      shutdownSpan({ spanId, start: 0n, end: 2n * SEC }),
      taskSpan({
        spanId: 'e'.repeat(16),
        start: -SEC,
        end: SEC,
        finalState: 'cancelled',
        attributes: { 'task.coroutine': 'worker', 'code.filepath': '/w.py', 'code.lineno': 3 },
        events: [events.cancel(100n * MS), events.cleanupStart(110n * MS, 'flush'), events.cleanupEnd(150n * MS, 'flush', 'timeout')],
      }),
      taskSpan({
        spanId: 'f'.repeat(16),
        start: -SEC,
        end: SEC,
        finalState: 'completed',
        attributes: { 'task.coroutine': 'worker', 'code.filepath': '/w.py', 'code.lineno': 3 },
        events: [events.cancel(100n * MS)],
      }),
    ]);
    const id = `${'0af7651916cd43dd8448eb211c80319c'}-${spanId}`;
    const full = (await request(app).get(`/api/shutdowns/${id}`)).body;
    const compact = (await request(app).get(`/api/shutdowns/${id}?tasks=compact`)).body;
    expect(compact.sites).toEqual([{ coroutine: 'worker', filepath: '/w.py', lineno: 3 }]);
    expect(compact.tasks.map((t: any[]) => [t[0], t[2], t[3]])).toEqual(full.tasks.map((t: any) => [t.spanId, t.verdict, 0]));
    const flusher = compact.tasks.find((t: any[]) => t[0] === 'e'.repeat(16));
    expect(flusher[8]).toEqual([String(T0 + 100n * MS)]);
    expect(flusher[9]).toEqual([['cleanup', 'flush', String(T0 + 110n * MS), String(T0 + 150n * MS), 'timeout']]);
    expect(compact.pending).toEqual(full.pending);
    const one = await request(app).get(`/api/shutdowns/${id}/tasks/${'f'.repeat(16)}`);
    expect(one.body).toEqual(full.tasks.find((t: any) => t.spanId === 'f'.repeat(16)));
    expect((await request(app).get(`/api/shutdowns/${id}/tasks/${'1'.repeat(16)}`)).status).toBe(404);
    expect((await request(app).get(`/api/shutdowns/${id}?tasks=tiny`)).status).toBe(400);
  });

  it('when a trace is asked, then every stored span of it comes back, judged or not', async () => {
    const traceId = 'ab'.repeat(16);
    const other = { ...taskSpan({ traceId, spanId: '1'.repeat(16) }), role: 'other' as const, name: 'GET /orders', attributes: {} };
    await views.consume([other, taskSpan({ traceId, spanId: '2'.repeat(16) })]);
    const res = await request(app).get(`/api/traces/${traceId.toUpperCase()}`);
    expect(res.status).toBe(200);
    expect(res.body.spans.map((s: any) => [s.spanId, s.role]).sort()).toEqual([
      ['1'.repeat(16), 'other'],
      ['2'.repeat(16), 'task'],
    ]);
    expect((await request(app).get(`/api/traces/${'cd'.repeat(16)}`)).status).toBe(404);
    expect((await request(app).get('/api/traces/xyz')).status).toBe(400);
  });

  it('when /api/tasks is paged, then every task comes once and the cursor ends the walk', async () => {
    const spans = Array.from({ length: 25 }, (_, i) => taskSpan({ start: BigInt(i) * SEC, end: BigInt(i) * SEC + MS }));
    await views.consume(spans);
    const seen = new Set<string>();
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await request(app)
        .get('/api/tasks')
        .query({ limit: 10, ...(cursor ? { cursor } : {}) });
      expect(res.status).toBe(200);
      for (const t of res.body.tasks) seen.add(t.spanId);
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen.size).toBe(25);
    expect(pages).toBeLessThanOrEqual(4);
  });

  it('when /api/tasks?since= is given as nanoseconds or as an ISO date, then both cut at the same time', async () => {
    const spans = [0n, 10n, 20n].map((s) => taskSpan({ start: s * SEC, end: s * SEC + MS }));
    await views.consume(spans);
    const cut = T0 + 10n * SEC;
    const iso = new Date(Number(cut / 1_000_000n)).toISOString();
    const byNs = await request(app).get('/api/tasks').query({ since: cut.toString() });
    const byIso = await request(app).get('/api/tasks').query({ since: iso });
    expect(byNs.status).toBe(200);
    expect(byNs.body.tasks).toHaveLength(2);
    expect(byIso.body.tasks.map((t: any) => t.spanId)).toEqual(byNs.body.tasks.map((t: any) => t.spanId));
  });

  it.each([
    ['/api/tasks?limit=0', 400, /limit must be/],
    ['/api/tasks?since=yesterday-ish', 400, /since must be/],
    // Date.parse alone would read these as dates in 2001.
    ['/api/tasks?since=foo%201', 400, /since must be/],
    ['/api/tasks?since=-5', 400, /since must be/],
    ['/api/tasks?since=Tue%203', 400, /since must be/],
    ['/api/tasks?verdict=fine', 400, /verdict must be one of/],
    ['/api/tasks?service=a&service=b', 400, /given once/],
    ['/api/shutdowns/xyz', 400, /bad shutdown id/],
    [`/api/shutdowns/${'0'.repeat(32)}-${'0'.repeat(16)}`, 404, /no shutdown/],
    ['/api/unknown', 404, /no API route/],
  ])('when %s is asked, then the answer is %i with a JSON error', async (path, status, message) => {
    const res = await request(app).get(path);
    expect(res.status).toBe(status);
    expect(res.body.error).toMatch(message);
  });
});
