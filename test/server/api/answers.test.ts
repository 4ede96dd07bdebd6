import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ShutdownViews } from '../../../server/api/ShutdownViews.js';
import { createApp } from '../../../server/app.js';
import { judgeAtIngest, judgeTaskAlone } from '../../../server/judge/index.js';
import { SqliteStore } from '../../../server/store/SqliteStore.js';
import { events, MS, SEC, shutdownSpan, taskSpan } from '../../doubles/spans.js';

const SHUTDOWN_SPAN = 'a'.repeat(16);

/** A shutdown of `n` tasks: swallowed, cancelled and pending ones, with a few sites. */
function shutdownOf(n: number, instance = 'svc-1') {
  const tasks = Array.from({ length: n }, (_, i) =>
    taskSpan({
      instance,
      spanId: (i + 1).toString(16).padStart(16, '0'),
      name: `worker-${i % 7}`,
      start: -SEC,
      end: SEC + BigInt(i) * MS,
      finalState: i % 3 === 0 ? 'completed' : 'cancelled',
      events: [events.cancel(100n * MS)],
    }),
  );
  return [shutdownSpan({ instance, spanId: SHUTDOWN_SPAN, start: 0n, end: 3n * SEC, outcome: 'clean' }), ...tasks];
}

describe('kept answers of settled shutdowns', () => {
  let dir: string;
  let store: SqliteStore;
  let views: ShutdownViews;
  let errors: unknown[];
  let app: ReturnType<typeof createApp>;

  const open = () => {
    store = SqliteStore.open({ path: join(dir, 'db.sqlite'), verdictOf: judgeTaskAlone, judgmentOf: (t) => judgeAtIngest(t) });
    views = new ShutdownViews(store);
    app = createApp({ store, views, onError: (e) => errors.push(e) });
  };
  const shutdownId = async () => (await store.listShutdowns())[0].id;
  /** A GET over a real socket, its body as sent (gzip stays gzip). */
  const raw = async (path: string, headers: Record<string, string> = {}) => {
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as { port: number };
      return await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path, headers }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (d: Buffer) => parts.push(d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
            res.on('error', reject);
          })
          .on('error', reject);
      });
    } finally {
      server.close();
    }
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'canceltrace-answers-'));
    errors = [];
    open();
  });
  afterEach(async () => {
    await store.close();
    expect(errors).toEqual([]);
  });

  it('when an ended shutdown is read and its answers derived, then after a restart both forms come kept, byte for byte the judged text, gzipped or not', async () => {
    await views.consume(shutdownOf(3_000));
    const id = await shutdownId();
    const judged = {
      compact: await raw(`/api/shutdowns/${id}?tasks=compact`, { 'accept-encoding': 'identity' }),
      columnar: await raw(`/api/shutdowns/${id}/timeline`, { 'accept-encoding': 'identity' }),
    };
    expect(judged.compact.headers['x-canceltrace-answer']).toBe('judged');
    await views.derive((await store.getShutdown(id))!);
    await store.close();
    open();
    for (const [form, path] of [
      ['compact', `/api/shutdowns/${id}?tasks=compact`],
      ['columnar', `/api/shutdowns/${id}/timeline`],
    ] as const) {
      const plain = await raw(path, { 'accept-encoding': 'identity' });
      expect(plain.status).toBe(200);
      expect(plain.headers['x-canceltrace-answer']).toBe('kept');
      // the tag of the judged text: a client that holds it gets a 304
      expect(plain.headers.etag).toBe(judged[form].headers.etag);
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.body.equals(judged[form].body)).toBe(true);
      const zipped = await raw(path, { 'accept-encoding': 'gzip, deflate' });
      expect(zipped.headers['content-encoding']).toBe('gzip');
      expect(zipped.body.length).toBeLessThan(plain.body.length / 4);
      expect(gunzipSync(zipped.body).equals(judged[form].body)).toBe(true);
      const again = await raw(path, { 'if-none-match': String(plain.headers.etag) });
      expect(again.status).toBe(304);
    }
    // The list reads the kept summary: the same counts as the judged report.
    const listed = await request(app).get('/api/shutdowns');
    expect(listed.body[0].counts).toEqual(JSON.parse(judged.compact.body.toString()).shutdown.counts);
  });

  it('when a span of the instance is written after the answers were kept (by another process, while this one was stopped), then they no longer stand and the read judges again with it', async () => {
    await views.consume(shutdownOf(10));
    const id = await shutdownId();
    await views.derive((await store.getShutdown(id))!);
    const kept = await request(app).get(`/api/shutdowns/${id}?tasks=compact`);
    expect(kept.headers['x-canceltrace-answer']).toBe('kept');
    expect(kept.body.shutdown.counts.swallowed).toBe(4);
    await store.close();
    // A late task end (swallowed) of the same instance, written by another process.
    const other = SqliteStore.open({ path: join(dir, 'db.sqlite'), verdictOf: judgeTaskAlone, judgmentOf: (t) => judgeAtIngest(t) });
    await other.consume([
      taskSpan({ instance: 'svc-1', spanId: 'f'.repeat(16), start: -SEC, end: 2n * SEC, finalState: 'completed', events: [events.cancel(100n * MS)] }),
    ]);
    await other.close();
    open();
    const fresh = await request(app).get(`/api/shutdowns/${id}?tasks=compact`);
    expect(fresh.headers['x-canceltrace-answer']).toBe('judged');
    expect(fresh.body.shutdown.counts.swallowed).toBe(5);
    expect(fresh.body.tasks).toHaveLength(11);
    expect((await request(app).get('/api/shutdowns')).body[0].counts.swallowed).toBe(5);
  });

  it('when a span of the instance arrives here after the answers were kept, then the next read judges again with it', async () => {
    await views.consume(shutdownOf(10));
    const id = await shutdownId();
    await views.derive((await store.getShutdown(id))!);
    await views.consume([
      taskSpan({ instance: 'svc-1', spanId: 'f'.repeat(16), start: -SEC, end: 2n * SEC, finalState: 'completed', events: [events.cancel(100n * MS)] }),
    ]);
    const fresh = await request(app).get(`/api/shutdowns/${id}?tasks=compact`);
    expect(fresh.headers['x-canceltrace-answer']).toBe('judged');
    expect(fresh.body.shutdown.counts.swallowed).toBe(5);
  });

  it('when an ended shutdown had to be judged for a read, then its answers are kept a while after the response', async () => {
    views = new ShutdownViews(store, {}, undefined, { deriveAfterReadMillis: 20 });
    app = createApp({ store, views, onError: (e) => errors.push(e) });
    await views.consume(shutdownOf(10));
    const id = await shutdownId();
    const first = await request(app).get(`/api/shutdowns/${id}/timeline`);
    expect(first.headers['x-canceltrace-answer']).toBe('judged');
    for (let i = 0; i < 100 && !(await store.answers.readAnswer(id, 'columnar')); i++) await new Promise((r) => setTimeout(r, 20));
    const second = await request(app).get(`/api/shutdowns/${id}/timeline`);
    expect(second.headers['x-canceltrace-answer']).toBe('kept');
    expect(second.text).toBe(first.text);
  });

  it('when a span of another instance arrives, then the kept answers still stand', async () => {
    await views.consume(shutdownOf(10));
    const id = await shutdownId();
    await views.derive((await store.getShutdown(id))!);
    await views.consume([taskSpan({ instance: 'svc-2', start: -SEC, end: SEC, finalState: 'cancelled', events: [events.cancel(100n * MS)] })]);
    expect((await request(app).get(`/api/shutdowns/${id}?tasks=compact`)).headers['x-canceltrace-answer']).toBe('kept');
  });

  it('when a shutdown is still open (only snapshots of it arrived), then nothing is kept of it', async () => {
    await views.consume([shutdownSpan({ spanId: SHUTDOWN_SPAN, start: 0n, end: SEC, snapshot: true }), ...shutdownOf(5).slice(1)]);
    const shutdown = (await store.listShutdowns())[0];
    expect(shutdown.open).toBe(true);
    await views.derive(shutdown);
    expect(await store.answers.readAnswer(shutdown.id, 'compact')).toBeUndefined();
  });

  it('when the views judge with other options than the kept answers were judged with, then they are not used', async () => {
    await views.consume(shutdownOf(10));
    const id = await shutdownId();
    await views.derive((await store.getShutdown(id))!);
    const strict = new ShutdownViews(store, { slowCancelNs: 1n });
    expect(await strict.answer((await store.getShutdown(id))!, 'compact')).toBeUndefined();
    expect(await views.answer((await store.getShutdown(id))!, 'compact')).toBeDefined();
  });

  it('when an answer is larger than a chunk, then it is kept in several and read back whole', async () => {
    const chunkBytes = 4096;
    views = new ShutdownViews(store, {}, undefined, { answerChunkBytes: chunkBytes });
    app = createApp({ store, views, onError: (e) => errors.push(e) });
    await views.consume(shutdownOf(2_000));
    const id = await shutdownId();
    const judged = await raw(`/api/shutdowns/${id}/timeline`, { 'accept-encoding': 'identity' });
    await views.derive((await store.getShutdown(id))!);
    const kept = await views.answer((await store.getShutdown(id))!, 'columnar');
    expect(kept?.stored.chunks).toBeGreaterThan(1);
    const read = await raw(`/api/shutdowns/${id}/timeline`, { 'accept-encoding': 'identity' });
    expect(read.headers['x-canceltrace-answer']).toBe('kept');
    expect(read.body.equals(judged.body)).toBe(true);
  });

  it('when retention deletes the shutdown, then its answers and their chunks go with it', async () => {
    await views.consume(shutdownOf(10));
    const id = await shutdownId();
    await views.derive((await store.getShutdown(id))!);
    expect(await store.answers.readAnswer(id, 'compact')).toBeDefined();
    const { FIRST_EXPIRY_CURSOR } = await import('../../../server/retention/ExpiryCursor.js');
    let cursor: Awaited<ReturnType<typeof store.expireBatch>>['next'] = FIRST_EXPIRY_CURSOR;
    while (cursor) cursor = (await store.expireBatch(2n ** 62n, 1_000, cursor)).next;
    expect(await store.answers.readAnswer(id, 'compact')).toBeUndefined();
    expect((await store.stats()).spans).toBe(0);
    const db = new Database(join(dir, 'db.sqlite'), { readonly: true });
    expect(db.prepare('SELECT (SELECT count(*) FROM shutdown_answers) + (SELECT count(*) FROM shutdown_answer_chunks)').pluck().get()).toBe(0);
    db.close();
  });
});
