import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { gunzipSync } from 'node:zlib';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decodeTraceRequest } from '../../collector/otlp/decode.js';
import { toSpanRecord } from '../../collector/processor/toSpanRecord.js';
import { JUDGMENT, verdictCountAttr } from '../../contract/contract.js';
import type { SpanRecord } from '../../contract/records.js';
import type { RunningService } from '../../server/service.js';
import type { UiWorkerRequest } from '../../server/uiWorkerMessages.js';
import { readableSpan } from '../doubles/readableSpans.js';

/**
 * The UI worker is dist/server/uiWorker.js, so these tests run the built service (npm test builds it
 * first, in `pretest`; run `npm run build` before running this file alone).
 */
const DIST = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'dist', 'server');
const builtService = () => import(pathToFileURL(join(DIST, 'service.js')).href) as Promise<typeof import('../../server/service.js')>;
const builtViews = () => import(pathToFileURL(join(DIST, 'api', 'ShutdownViews.js')).href) as Promise<typeof import('../../server/api/ShutdownViews.js')>;

const TRACE = '6c1f0e5a9b8d4c3e2f1a0b9c8d7e6f50';
const SHUTDOWN_SPAN = 'a'.repeat(16);
const SHUTDOWN_ID = `${TRACE}-${SHUTDOWN_SPAN}`;
const CANCELLED = 200;
const MS = 1_000_000n;

/** One closed shutdown of CANCELLED polite tasks and one that swallowed its cancellation, protobuf-encoded. */
function shutdownRequest(): Uint8Array {
  const t0 = BigInt(Date.now() - 60_000) * MS;
  const resource = { 'service.name': 'orders', 'service.instance.id': 'orders-worker-test' };
  const task = (i: number, finalState: string) =>
    readableSpan({
      traceId: TRACE,
      spanId: (i + 1).toString(16).padStart(16, '0'),
      name: `t${i}`,
      start: t0 - 1000n * MS,
      end: t0 + 50n * MS,
      attributes: { 'task.kind': 'asyncio', 'task.id': String(i), 'task.final_state': finalState },
      events: [{ name: 'task.cancel_requested', time: t0 + MS }],
      resource,
    });
  const spans = [
    readableSpan({
      traceId: TRACE,
      spanId: SHUTDOWN_SPAN,
      name: 'shutdown',
      start: t0,
      end: t0 + 500n * MS,
      attributes: { 'shutdown.reason': 'SIGTERM', 'shutdown.outcome': 'clean' },
      resource,
    }),
    ...Array.from({ length: CANCELLED }, (_, i) => task(i, 'cancelled')),
    task(CANCELLED, 'completed'),
  ];
  return ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array;
}

/** A downstream OTLP/HTTP receiver that keeps the spans of every request. */
async function forwardTarget(): Promise<{ server: Server; url: string; spans: SpanRecord[] }> {
  const spans: SpanRecord[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = Buffer.concat(chunks);
        const decoded = decodeTraceRequest(req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body, 'protobuf');
        for (const span of decoded.spans) spans.push(toSpanRecord(span));
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans };
}

describe('startService with the dashboard + API in a worker thread (built)', () => {
  let service: RunningService | undefined;
  let target: Awaited<ReturnType<typeof forwardTarget>>;
  let judgeRequests: UiWorkerRequest[];
  let mainThreadJudging: { mock: { calls: unknown[] } };

  beforeEach(async () => {
    target = await forwardTarget();
    judgeRequests = [];
    const post = Worker.prototype.postMessage;
    vi.spyOn(Worker.prototype, 'postMessage').mockImplementation(function (
      this: Worker,
      message: UiWorkerRequest,
      transfer?: Parameters<Worker['postMessage']>[1],
    ) {
      if (message.type === 'judge') judgeRequests.push(message);
      return post.call(this, message, transfer);
    });
    // The main thread's views: a report judged here would have held up ingest.
    mainThreadJudging = vi.spyOn((await builtViews()).ShutdownViews.prototype, 'briefReport');
  });
  afterEach(async () => {
    await service?.stop();
    service = undefined;
    vi.restoreAllMocks();
    await new Promise((closed) => target.server.close(closed));
  });

  async function start(): Promise<RunningService> {
    const { startService } = await builtService();
    const dir = mkdtempSync(join(tmpdir(), 'canceltrace-service-worker-'));
    service = await startService({ otlpPort: 0, uiPort: 0, dbPath: join(dir, 'c.db'), forward: [target.url], uiThread: 'worker', onError: () => {} });
    const res = await fetch(`${service.otlpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: Buffer.from(shutdownRequest()),
    });
    expect(res.status).toBe(200);
    return service;
  }

  function expectJudgmentForwarded(): void {
    const judgments = target.spans.filter((s) => s.name === JUDGMENT.spanName);
    expect(judgments).toHaveLength(1);
    const [judgment] = judgments;
    expect(judgment.parentSpanId).toBe(SHUTDOWN_SPAN);
    expect(judgment.attributes[JUDGMENT.shutdownId]).toBe(SHUTDOWN_ID);
    expect(judgment.attributes[JUDGMENT.tasksCount]).toBe(CANCELLED + 1);
    expect(judgment.attributes[verdictCountAttr('cancelled')]).toBe(CANCELLED);
    expect(judgment.attributes[verdictCountAttr('swallowed')]).toBe(1);
    expect(judgment.events.map((e) => [e.attributes['task.name'], e.attributes[JUDGMENT.verdict]])).toEqual([[`t${CANCELLED}`, 'swallowed']]);
  }

  it('when a shutdown settles, then the worker judges it (asked by a judge message, the main thread judges nothing) and its judgment span reaches the forward target', async () => {
    const running = await start();
    const deadline = Date.now() + 20_000;
    while (!target.spans.some((s) => s.name === JUDGMENT.spanName) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expectJudgmentForwarded();
    expect(judgeRequests).toEqual([{ type: 'judge', id: 1, shutdownId: SHUTDOWN_ID }]);
    expect(mainThreadJudging.mock.calls).toEqual([]);
    // The dashboard, in the same worker, agrees with the judgment.
    const list = (await (await fetch(`${running.uiUrl}/api/shutdowns`)).json()) as { id: string; counts: Record<string, number> }[];
    expect(list.find((s) => s.id === SHUTDOWN_ID)?.counts).toMatchObject({ cancelled: CANCELLED, swallowed: 1 });
  });

  it('when the service stops before the shutdown settled, then the worker judges it before it stops and the judgment span is still forwarded', async () => {
    const running = await start();
    await running.stop();
    expectJudgmentForwarded();
    expect(judgeRequests).toEqual([{ type: 'judge', id: 1, shutdownId: SHUTDOWN_ID }]);
    expect(mainThreadJudging.mock.calls).toEqual([]);
  });
});
