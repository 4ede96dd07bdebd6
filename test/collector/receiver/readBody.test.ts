import { once } from 'node:events';
import { Agent, createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { createOtlpApp, OtlpHttpReceiver } from '../../../collector/receiver/OtlpHttpReceiver.js';
import { RecordingConsumer } from '../../doubles/RecordingConsumer.js';
import { readableSpan } from '../../doubles/readableSpans.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const MAX_BODY = 64 * 1024;

let server: Server | undefined;
let agent: Agent | undefined;
afterEach(() => {
  agent?.destroy();
  agent = undefined;
  server?.closeAllConnections();
  server?.close();
  server = undefined;
});

/** The receiver on a real port with a small body limit; counts the TCP connections it accepts. */
async function serve() {
  const consumer = new RecordingConsumer<ReadableSpan>();
  const receiver = new OtlpHttpReceiver({ next: consumer, maxBodyBytes: MAX_BODY, onError: () => {} });
  const listening = createServer(createOtlpApp(receiver));
  server = listening;
  const counts = { connections: 0 };
  listening.on('connection', () => counts.connections++);
  listening.listen(0, '127.0.0.1');
  await once(listening, 'listening');
  const port = (listening.address() as AddressInfo).port;
  return { consumer, counts, port, url: `http://127.0.0.1:${port}/v1/traces` };
}

function spans(count: number, from = 0, padding = 0): ReadableSpan[] {
  return Array.from({ length: count }, (_, i) =>
    readableSpan({ traceId: TRACE, spanId: (from + i + 1).toString(16).padStart(16, '0'), name: `s-${from + i}`, attributes: { pad: 'x'.repeat(padding) } }),
  );
}

function exportWith(exporter: SpanExporter, batch: ReadableSpan[]): Promise<{ code: ExportResultCode; error?: Error }> {
  return new Promise((resolve) => exporter.export(batch, resolve));
}

interface Answer {
  status: number;
  /** true when the answer arrived before the whole body was written */
  beforeBodyEnd: boolean;
}

/** Posts `chunks` one by one on `agent`, yielding between them, and resolves with the answer. */
function postChunks(port: number, chunks: Buffer[], headers: Record<string, string | number>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let written = false;
    const req = request({ host: '127.0.0.1', port, path: '/v1/traces', method: 'POST', agent, headers });
    req.on('response', (res: IncomingMessage) => {
      const beforeBodyEnd = !written;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, beforeBodyEnd }));
    });
    req.on('error', reject);
    (async () => {
      for (const chunk of chunks) {
        // No wait for 'drain': a ClientRequest that has its answer stops emitting it. A short pause instead
        // keeps the upload going while the server answers.
        req.write(chunk);
        await new Promise((r) => setTimeout(r, 2));
      }
      written = true;
      req.end();
    })().catch(reject);
  });
}

describe('readBody and drainRequest (through OtlpHttpReceiver)', () => {
  it.each([
    ['exporter-trace-otlp-proto', 'none', () => ProtoExporter],
    ['exporter-trace-otlp-proto', 'gzip', () => ProtoExporter],
    ['exporter-trace-otlp-http (JSON)', 'none', () => JsonExporter],
  ] as const)('when %s (compression %s) gets a 413, then its next batch on the same connection is stored', async (_name, compression, Exporter) => {
    const { consumer, counts, url } = await serve();
    const exporter = new (Exporter())({ url, compression: compression as never });
    // Random-looking padding, so that gzip cannot shrink the batch under the limit.
    const big = spans(4, 0, 0).map((s, i) => ({
      ...s,
      attributes: { pad: Buffer.from(Array.from({ length: MAX_BODY }, (_, j) => (j * 7919 + i) % 251)).toString('base64') },
    }));
    const refused = await exportWith(exporter, big);
    expect(refused.code).toBe(ExportResultCode.FAILED);
    expect(String(refused.error)).toMatch(/413|Payload Too Large/);
    const next = await exportWith(exporter, spans(2, 10));
    expect(next.code).toBe(ExportResultCode.SUCCESS);
    await exporter.shutdown();
    expect(consumer.items.map((s) => s.name)).toEqual(['s-10', 's-11']);
    expect(counts.connections).toBe(1);
  });

  it('when a gzip body turns out corrupt early on a keep-alive connection, then 400 and the next request on that connection gets 200', async () => {
    const { consumer, counts, port } = await serve();
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const good = gzipSync(ProtobufTraceSerializer.serializeRequest(spans(1))!);
    // A valid gzip header, then garbage: the inflater fails on the first chunk while most of the body is still coming.
    const corrupt = Buffer.concat([good.subarray(0, 10), Buffer.alloc(MAX_BODY / 2, 0xab)]);
    const chunks = Array.from({ length: 8 }, (_, i) => corrupt.subarray((i * corrupt.length) / 8, ((i + 1) * corrupt.length) / 8));
    const headers = { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' };
    expect((await postChunks(port, chunks, { ...headers, 'content-length': corrupt.length })).status).toBe(400);
    expect((await postChunks(port, [good], { ...headers, 'content-length': good.length })).status).toBe(200);
    expect(consumer.items.map((s) => s.name)).toEqual(['s-0']);
    expect(counts.connections).toBe(1);
  });

  it('when a gzip body inflates past the limit on a keep-alive connection, then 413 and the next request on that connection gets 200', async () => {
    const { consumer, counts, port } = await serve();
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    // 64 MiB of zeros in ~64 KiB of gzip: the limit is passed while most of the compressed body is still coming.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const chunks = Array.from({ length: 16 }, (_, i) => bomb.subarray((i * bomb.length) / 16, ((i + 1) * bomb.length) / 16));
    const headers = { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' };
    expect((await postChunks(port, chunks, { ...headers, 'content-length': bomb.length })).status).toBe(413);
    const good = gzipSync(ProtobufTraceSerializer.serializeRequest(spans(1))!);
    expect((await postChunks(port, [good], { ...headers, 'content-length': good.length })).status).toBe(200);
    expect(consumer.items.map((s) => s.name)).toEqual(['s-0']);
    expect(counts.connections).toBe(1);
  });

  it('when a body declared larger than the limit is still being uploaded, then the client reads the 413 before it finishes, and the connection then serves the next request', async () => {
    const { counts, port } = await serve();
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const chunks = Array.from({ length: 64 }, () => Buffer.alloc(16 * 1024, 1));
    const size = chunks.length * chunks[0].length;
    const answer = await postChunks(port, chunks, { 'content-type': 'application/x-protobuf', 'content-length': size });
    expect(answer).toEqual({ status: 413, beforeBodyEnd: true });
    const body = ProtobufTraceSerializer.serializeRequest(spans(1))!;
    expect((await postChunks(port, [Buffer.from(body)], { 'content-type': 'application/x-protobuf', 'content-length': body.length })).status).toBe(200);
    expect(counts.connections).toBe(1);
  });
});
