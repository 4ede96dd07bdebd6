import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Response as TestResponse } from 'supertest';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { OtlpTypes } from '../../../collector/otlp/schema.js';
import type { OtlpHttpReceiverOptions } from '../../../collector/receiver/OtlpHttpReceiver.js';
import { createOtlpApp, DEFAULT_MAX_BODY_BYTES, OtlpHttpReceiver } from '../../../collector/receiver/OtlpHttpReceiver.js';
import { RecordingConsumer } from '../../doubles/RecordingConsumer.js';
import { ns, readableSpan } from '../../doubles/readableSpans.js';

const PROTO = 'application/x-protobuf';
const JSON_TYPE = 'application/json';
const TRACE = '5b8efff798038103d269b633813fc60c';

function spans(count: number): ReadableSpan[] {
  return Array.from({ length: count }, (_, i) =>
    readableSpan({ traceId: TRACE, spanId: (i + 1).toString(16).padStart(16, '0'), name: `task-${i}`, attributes: { i } }),
  );
}

function setup(options: Partial<OtlpHttpReceiverOptions> = {}) {
  const consumer = new RecordingConsumer<ReadableSpan>();
  const errors: unknown[] = [];
  const receiver = new OtlpHttpReceiver({ next: consumer, onError: (e) => errors.push(e), ...options });
  return { consumer, errors, app: createOtlpApp(receiver) };
}

/** supertest parser that keeps a binary body as a Buffer. */
function binary(res: unknown, done: (err: Error | null, body: Buffer) => void): void {
  // superagent hands its parser the raw response stream.
  const stream = res as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

function post(app: ReturnType<typeof setup>['app'], type: string, body: Uint8Array | string, encoding?: string) {
  let req = request(app).post('/v1/traces').set('Content-Type', type);
  if (encoding) req = req.set('Content-Encoding', encoding);
  // serialize(identity): superagent would otherwise JSON.stringify a Buffer sent as application/json.
  return req
    .buffer(true)
    .parse(binary)
    .serialize((b: unknown) => b as string)
    .send(typeof body === 'string' ? body : Buffer.from(body));
}

function protoResponse(res: TestResponse) {
  expect(res.headers['content-type']).toMatch(/^application\/x-protobuf/);
  return OtlpTypes.ExportTraceServiceResponse.toObject(OtlpTypes.ExportTraceServiceResponse.decode(res.body as Buffer), { longs: Number });
}

function jsonBody(res: TestResponse): Record<string, unknown> {
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  return JSON.parse((res.body as Buffer).toString('utf8'));
}

function rpcStatus(res: TestResponse) {
  expect(res.headers['content-type']).toMatch(/^application\/x-protobuf/);
  return OtlpTypes.RpcStatus.toObject(OtlpTypes.RpcStatus.decode(res.body as Buffer)) as { code: number; message: string };
}

describe('OtlpHttpReceiver', () => {
  describe('POST /v1/traces', () => {
    it('when a protobuf request arrives, then 200 with an empty protobuf response and the consumer gets the spans', async () => {
      const { app, consumer } = setup();
      const res = await post(app, PROTO, ProtobufTraceSerializer.serializeRequest(spans(3))!);
      expect(res.status).toBe(200);
      expect(protoResponse(res)).toEqual({});
      expect(consumer.batches).toHaveLength(1);
      expect(consumer.items.map((s) => s.name)).toEqual(['task-0', 'task-1', 'task-2']);
      expect(consumer.items[2].spanContext().spanId).toBe('0000000000000003');
    });

    it('when a JSON request with a charset arrives, then 200 with a JSON response and the spans are passed on', async () => {
      const { app, consumer } = setup();
      const res = await post(app, 'application/json; charset=utf-8', JsonTraceSerializer.serializeRequest(spans(2))!);
      expect(res.status).toBe(200);
      expect(jsonBody(res)).toEqual({});
      expect(consumer.items.map((s) => s.attributes.i)).toEqual([0, 1]);
    });

    it.each([
      ['protobuf', PROTO, () => ProtobufTraceSerializer.serializeRequest(spans(2))!],
      ['json', JSON_TYPE, () => JsonTraceSerializer.serializeRequest(spans(2))!],
    ])('when a gzip-compressed %s request arrives, then it is inflated and taken', async (_name, type, make) => {
      const { app, consumer } = setup();
      const res = await post(app, type, gzipSync(make()), 'gzip');
      expect(res.status).toBe(200);
      expect(consumer.items.map((s) => s.name)).toEqual(['task-0', 'task-1']);
      expect(ns(consumer.items[0].startTime)).toBe(1_700_000_000_000_000_000n);
    });

    it('when some spans are bad, then 200 with partialSuccess in the request encoding and only the good spans passed on', async () => {
      const { app, consumer } = setup();
      const body = JSON.stringify({
        resourceSpans: [
          {
            scopeSpans: [
              {
                spans: [
                  { traceId: TRACE, spanId: '0000000000000001', name: 'good', startTimeUnixNano: '10', endTimeUnixNano: '20' },
                  { traceId: 'abcd', spanId: '0000000000000002', name: 'short', startTimeUnixNano: '10', endTimeUnixNano: '20' },
                  { traceId: TRACE, spanId: '0000000000000003', name: 'backwards', startTimeUnixNano: '30', endTimeUnixNano: '20' },
                ],
              },
            ],
          },
        ],
      });
      const res = await post(app, JSON_TYPE, body);
      expect(res.status).toBe(200);
      const parsed = jsonBody(res) as { partialSuccess: { rejectedSpans: number; errorMessage: string } };
      expect(parsed.partialSuccess.rejectedSpans).toBe(2);
      expect(parsed.partialSuccess.errorMessage).toMatch(/"short": traceId must be 16 bytes.*; .*"backwards": ends before it starts/);
      expect(consumer.items.map((s) => s.name)).toEqual(['good']);
    });

    it('when a protobuf request has a bad span, then the partialSuccess comes back as protobuf', async () => {
      const { app, consumer } = setup();
      const good = {
        traceId: Buffer.from(TRACE, 'hex'),
        spanId: Buffer.from('0000000000000001', 'hex'),
        name: 'good',
        startTimeUnixNano: 1,
        endTimeUnixNano: 2,
      };
      const body = OtlpTypes.ExportTraceServiceRequest.encode({
        resourceSpans: [{ scopeSpans: [{ spans: [good, { ...good, name: 'no span id', spanId: Buffer.alloc(0) }] }] }],
      }).finish();
      const res = await post(app, PROTO, body);
      expect(res.status).toBe(200);
      const decoded = protoResponse(res) as { partialSuccess: { rejectedSpans: number; errorMessage: string } };
      expect(decoded.partialSuccess.rejectedSpans).toBe(1);
      expect(decoded.partialSuccess.errorMessage).toMatch(/"no span id": spanId must be 8 bytes, got 0/);
      expect(consumer.items.map((s) => s.name)).toEqual(['good']);
    });

    it('when the protobuf body is empty, then it is a valid empty request: 200 and nothing passed on', async () => {
      const { app, consumer } = setup();
      const res = await post(app, PROTO, new Uint8Array(0));
      expect(res.status).toBe(200);
      expect(protoResponse(res)).toEqual({});
      expect(consumer.calls).toBe(0);
    });

    it('when the JSON body is empty, then 400 with a google.rpc.Status JSON body', async () => {
      const { app, consumer } = setup();
      const res = await post(app, JSON_TYPE, '');
      expect(res.status).toBe(400);
      expect(jsonBody(res)).toEqual({ code: 3, message: expect.stringMatching(/empty/) });
      expect(consumer.calls).toBe(0);
    });

    it('when the JSON body is malformed, then 400 saying it is not valid JSON', async () => {
      const { app, consumer } = setup();
      const res = await post(app, JSON_TYPE, '{"resourceSpans": [');
      expect(res.status).toBe(400);
      expect(jsonBody(res).message).toMatch(/^body is not valid JSON: /);
      expect(consumer.calls).toBe(0);
    });

    it('when the protobuf body is malformed, then 400 with a protobuf google.rpc.Status', async () => {
      const { app, consumer } = setup();
      const res = await post(app, PROTO, Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]));
      expect(res.status).toBe(400);
      const status = rpcStatus(res);
      expect(status.code).toBe(3);
      expect(status.message).toMatch(/^body is not a valid protobuf ExportTraceServiceRequest/);
      expect(consumer.calls).toBe(0);
    });

    it('when the gzip body is corrupt, then 400 saying so', async () => {
      const { app } = setup();
      const gz = gzipSync(JsonTraceSerializer.serializeRequest(spans(1))!);
      const res = await post(app, JSON_TYPE, gz.subarray(0, gz.length - 10), 'gzip');
      expect(res.status).toBe(400);
      expect(jsonBody(res).message).toMatch(/not valid gzip/);
    });

    it.each(['text/plain', 'application/xml', ''])('when the content type is %j, then 415', async (type) => {
      const { app, consumer } = setup();
      const res = await post(app, type, 'hello');
      expect(res.status).toBe(415);
      expect(jsonBody(res).message).toMatch(/unsupported content type/);
      expect(consumer.calls).toBe(0);
    });

    it('when the content encoding is not gzip, then 415', async () => {
      const { app } = setup();
      const res = await post(app, PROTO, new Uint8Array(0), 'br');
      expect(res.status).toBe(415);
      expect(rpcStatus(res).message).toMatch(/unsupported content encoding "br"/);
    });

    it('when the body is larger than maxBodyBytes, then 413 and nothing passed on', async () => {
      const { app, consumer } = setup({ maxBodyBytes: 1024 });
      const body = JsonTraceSerializer.serializeRequest(spans(20))!;
      expect(body.length).toBeGreaterThan(1024);
      const res = await post(app, JSON_TYPE, body);
      expect(res.status).toBe(413);
      expect(jsonBody(res).message).toMatch(/larger than the limit of 1024 bytes/);
      expect(consumer.calls).toBe(0);
    });

    it('when a small gzip body inflates beyond maxBodyBytes, then 413', async () => {
      const { app, consumer } = setup({ maxBodyBytes: 4096 });
      const body = gzipSync(JsonTraceSerializer.serializeRequest(spans(200))!);
      expect(body.length).toBeLessThan(4096);
      const res = await post(app, JSON_TYPE, body, 'gzip');
      expect(res.status).toBe(413);
      expect(jsonBody(res).message).toMatch(/decompressed request body is larger than the limit of 4096 bytes/);
      expect(consumer.calls).toBe(0);
    });

    it('when a zip bomb (1 GiB of zeros in ~1 MiB of gzip) arrives, then 413 quickly without inflating it all', async () => {
      const { app, consumer } = setup();
      // Concatenated gzip members are one valid gzip stream: 16 × 64 MiB of zeros.
      const member = gzipSync(Buffer.alloc(64 * 1024 * 1024));
      const bomb = Buffer.concat(Array.from({ length: 16 }, () => member));
      expect(bomb.length).toBeLessThan(DEFAULT_MAX_BODY_BYTES);
      const res = await post(app, PROTO, bomb, 'gzip');
      expect(res.status).toBe(413);
      expect(rpcStatus(res).message).toMatch(/decompressed request body is larger than the limit/);
      expect(consumer.calls).toBe(0);
    });

    it('when the consumer refuses every span as bad data (a permanent error), then 200 with every span in partialSuccess and no Retry-After', async () => {
      const { app, consumer } = setup();
      consumer.failWith = Object.assign(new Error('time outside 64 bits'), { permanent: true });
      const res = await post(app, PROTO, ProtobufTraceSerializer.serializeRequest(spans(2))!);
      expect(res.status).toBe(200);
      expect(res.headers['retry-after']).toBeUndefined();
      const { partialSuccess } = protoResponse(res) as { partialSuccess: { rejectedSpans: number; errorMessage: string } };
      expect(partialSuccess.rejectedSpans).toBe(2);
      expect(partialSuccess.errorMessage).toMatch(/span "task-0" .*refused by the store: time outside 64 bits/);
    });

    it('when the consumer rejects, then 503 with Retry-After, the error is reported, and the response is in the request encoding', async () => {
      const { app, consumer, errors } = setup();
      const failure = new Error('store is full');
      consumer.failWith = failure;
      const res = await post(app, PROTO, ProtobufTraceSerializer.serializeRequest(spans(1))!);
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(rpcStatus(res).code).toBe(14);
      expect(errors).toEqual([failure]);
      expect(consumer.batches).toEqual([]);
    });

    it('when onError itself throws, then the sender still gets its 503', async () => {
      const { app, consumer } = setup({
        onError: () => {
          throw new Error('reporter broken');
        },
      });
      consumer.failWith = new Error('down');
      const res = await post(app, JSON_TYPE, JsonTraceSerializer.serializeRequest(spans(1))!);
      expect(res.status).toBe(503);
      expect(jsonBody(res).code).toBe(14);
    });
  });

  describe('other routes', () => {
    it('when GET /v1/traces, then 405 with Allow: POST', async () => {
      const { app } = setup();
      const res = await request(app).get('/v1/traces');
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe('POST');
    });

    it('when another path is asked, then 404', async () => {
      const { app } = setup();
      const res = await request(app).post('/v1/metrics').set('Content-Type', JSON_TYPE).send('{}');
      expect(res.status).toBe(404);
      expect(res.body.error).toMatch(/POST \/v1\/traces/);
    });
  });

  describe('with the official OTLP exporters', () => {
    let server: Server | undefined;
    afterEach(async () => {
      if (!server) return;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
      server = undefined;
    });

    it.each([
      ['exporter-trace-otlp-proto with BasicTracerProvider', 'proto'],
      ['exporter-trace-otlp-http (JSON) with NodeTracerProvider', 'http'],
    ] as const)('when %s exports spans, then the consumer gets them with the same ids and attributes', async (_name, kind) => {
      const { app, consumer, errors } = setup();
      server = app.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
      const exporter = kind === 'proto' ? new ProtoExporter({ url }) : new HttpJsonExporter({ url });
      const config = {
        resource: resourceFromAttributes({ 'service.name': `exporter-${kind}`, 'service.instance.id': 'i-1' }),
        spanProcessors: [new SimpleSpanProcessor(exporter)],
      };
      const provider = kind === 'proto' ? new BasicTracerProvider(config) : new NodeTracerProvider(config);
      const tracer = provider.getTracer('canceltrace', '0.1.0');
      const parent = tracer.startSpan('shutdown', { attributes: { 'shutdown.reason': 'SIGTERM' } });
      const child = tracer.startSpan('worker', {
        attributes: { 'task.kind': 'node', 'task.id': 't-7', 'code.lineno': 42, ratio: 0.25, tags: ['a', 'b'] },
      });
      child.addEvent('task.cancel_requested', { 'cancel.count': 1, 'cancel.message': 'bye' });
      child.end();
      parent.end();
      await provider.forceFlush();
      await provider.shutdown();

      expect(errors).toEqual([]);
      const got = new Map(consumer.items.map((s) => [s.name, s]));
      expect([...got.keys()].sort()).toEqual(['shutdown', 'worker']);
      const worker = got.get('worker')!;
      expect(worker.spanContext().traceId).toBe(child.spanContext().traceId);
      expect(worker.spanContext().spanId).toBe(child.spanContext().spanId);
      expect(worker.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(worker.attributes).toEqual({ 'task.kind': 'node', 'task.id': 't-7', 'code.lineno': 42, ratio: 0.25, tags: ['a', 'b'] });
      expect(worker.events.map((e) => [e.name, e.attributes])).toEqual([['task.cancel_requested', { 'cancel.count': 1, 'cancel.message': 'bye' }]]);
      expect(worker.resource.attributes).toMatchObject({ 'service.name': `exporter-${kind}`, 'service.instance.id': 'i-1' });
      expect(worker.instrumentationScope).toEqual({ name: 'canceltrace', version: '0.1.0' });
      expect(got.get('shutdown')!.attributes).toEqual({ 'shutdown.reason': 'SIGTERM' });
      expect(ns(worker.endTime)).toBeGreaterThanOrEqual(ns(worker.startTime));
    });
  });
});
