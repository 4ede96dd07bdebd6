import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { OtlpTypes } from '../../../collector/otlp/schema.js';
import { IngestBudget } from '../../../collector/receiver/IngestBudget.js';
import type { IngestOutcome } from '../../../collector/receiver/IngestOutcome.js';
import { OtlpGrpcReceiver, type OtlpGrpcReceiverOptions } from '../../../collector/receiver/OtlpGrpcReceiver.js';
import { retryDelaySecondsOf, STATUS_DETAILS_TRAILER, TRACE_EXPORT_PATH } from '../../../collector/receiver/traceServiceGrpc.js';
import { GZIP, NONE } from '../../doubles/compression.js';
import { RecordingConsumer } from '../../doubles/RecordingConsumer.js';

const TRACE = '5b8efff798038103d269b633813fc60c';
const open: { close(): unknown }[] = [];

afterEach(async () => {
  for (const thing of open.splice(0)) await thing.close();
});

async function setup(options: Partial<OtlpGrpcReceiverOptions> = {}) {
  const consumer = new RecordingConsumer<ReadableSpan>();
  const errors: unknown[] = [];
  const outcomes: IngestOutcome[] = [];
  const receiver = new OtlpGrpcReceiver({ next: consumer, onError: (e) => errors.push(e), observe: (o) => outcomes.push(o), ...options });
  const port = await receiver.listen('127.0.0.1', 0);
  open.push(receiver);
  return { consumer, errors, outcomes, address: `127.0.0.1:${port}` };
}

/** Sends spans through the official OTLP/gRPC exporter and resolves with its export result. */
async function exportWith(exporter: SpanExporter, names: string[]): Promise<void> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'checkout', 'service.instance.id': 'i-1' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('canceltrace', '0.1.0');
  for (const name of names) tracer.startSpan(name, { attributes: { 'task.kind': 'node', 'task.final_state': 'completed' } }).end();
  await provider.forceFlush();
  await provider.shutdown();
}

/** A raw ExportTraceServiceRequest with spans named after `names`; a name 'bad' gets an all-zero span id. */
function request(names: string[]): Buffer {
  const spans = names.map((name, i) => ({
    traceId: Buffer.from(TRACE, 'hex'),
    spanId: name === 'bad' ? Buffer.alloc(8) : Buffer.from((i + 1).toString(16).padStart(16, '0'), 'hex'),
    name,
    kind: 1,
    startTimeUnixNano: 1_700_000_000_000_000_000n.toString(),
    endTimeUnixNano: 1_700_000_001_000_000_000n.toString(),
  }));
  const bytes = OtlpTypes.ExportTraceServiceRequest.encode(
    OtlpTypes.ExportTraceServiceRequest.fromObject({
      resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'raw' } }] }, scopeSpans: [{ scope: { name: 'raw' }, spans }] }],
    }),
  ).finish();
  return Buffer.from(bytes);
}

interface CallResult {
  error?: grpc.ServiceError;
  response?: { partialSuccess?: { rejectedSpans?: number; errorMessage?: string } };
}

/** One Export call with a raw grpc-js client (no OTLP library between the test and the wire). */
function call(address: string, body: Buffer, opts: { token?: string; gzip?: boolean } = {}): Promise<CallResult> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), opts.gzip ? { 'grpc.default_compression_algorithm': 2 } : {});
  open.push(client);
  const metadata = new grpc.Metadata();
  if (opts.token) metadata.set('authorization', `Bearer ${opts.token}`);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      TRACE_EXPORT_PATH,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      metadata,
      (error, value) => {
        if (error) resolve({ error });
        else
          resolve({ response: OtlpTypes.ExportTraceServiceResponse.toObject(OtlpTypes.ExportTraceServiceResponse.decode(value as Buffer), { longs: Number }) });
      },
    );
  });
}

describe('OtlpGrpcReceiver', () => {
  describe('Export from the official exporter-trace-otlp-grpc', () => {
    it.each([
      ['uncompressed', NONE],
      ['gzip', GZIP],
    ])('when it sends spans %s, then the next stage gets them with their resource and scope', async (_label, compression) => {
      const { consumer, outcomes, address } = await setup();
      await exportWith(new GrpcExporter({ url: `http://${address}`, compression }), ['a', 'b', 'c']);
      expect(consumer.items.map((s) => s.name).sort()).toEqual(['a', 'b', 'c']);
      const span = consumer.items[0];
      expect(span.resource.attributes['service.instance.id']).toBe('i-1');
      expect(span.instrumentationScope).toMatchObject({ name: 'canceltrace', version: '0.1.0' });
      expect(span.attributes['task.final_state']).toBe('completed');
      // SimpleSpanProcessor exports each span on its own.
      expect(outcomes.every((o) => o.protocol === 'grpc' && o.status === 'OK' && (o.body?.length ?? 0) > 0)).toBe(true);
      expect(outcomes.reduce((n, o) => n + o.accepted, 0)).toBe(3);
    });

    it('when a token is required and the exporter sends it as metadata, then its spans are taken', async () => {
      const { consumer, address } = await setup({ token: 's3cret' });
      const metadata = new grpc.Metadata();
      metadata.set('authorization', 'Bearer s3cret');
      await exportWith(new GrpcExporter({ url: `http://${address}`, metadata }), ['a']);
      expect(consumer.items).toHaveLength(1);
    });
  });

  describe('Export answers', () => {
    it('when one span of a request is bad, then the others are taken and the answer is a partial success', async () => {
      const { consumer, outcomes, address } = await setup();
      const { error, response } = await call(address, request(['good', 'bad', 'fine']));
      expect(error).toBeUndefined();
      expect(response?.partialSuccess?.rejectedSpans).toBe(1);
      expect(response?.partialSuccess?.errorMessage).toMatch(/span/i);
      expect(consumer.items.map((s) => s.name)).toEqual(['good', 'fine']);
      expect(outcomes[0]).toMatchObject({ status: 'OK', accepted: 2, rejected: 1, reason: 'invalid' });
    });

    it('when the request is gzip-compressed by a raw client, then it is inflated and taken', async () => {
      const { consumer, address } = await setup();
      const { error } = await call(address, request(['x', 'y']), { gzip: true });
      expect(error).toBeUndefined();
      expect(consumer.items).toHaveLength(2);
    });

    it('when the body is not an ExportTraceServiceRequest, then INVALID_ARGUMENT and nothing is passed on', async () => {
      const { consumer, address } = await setup();
      const { error } = await call(address, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
      expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(consumer.calls).toBe(0);
    });

    it('when the next stage cannot take the spans, then UNAVAILABLE with a RetryInfo delay', async () => {
      const { consumer, errors, outcomes, address } = await setup({ retryAfterSeconds: 7 });
      consumer.failWith = new Error('store is busy');
      const { error } = await call(address, request(['a', 'b']));
      expect(error?.code).toBe(grpc.status.UNAVAILABLE);
      const details = error?.metadata.get(STATUS_DETAILS_TRAILER)[0];
      expect(Buffer.isBuffer(details)).toBe(true);
      expect(retryDelaySecondsOf(details as Buffer)).toBe(7);
      expect(errors).toHaveLength(1);
      expect(outcomes[0]).toMatchObject({ status: 'UNAVAILABLE', accepted: 0, reason: 'unavailable' });
    });

    it('when the next stage refuses the data itself, then a partial success names it (not retried)', async () => {
      const { consumer, address } = await setup();
      consumer.failWith = Object.assign(new Error('value out of range'), { permanent: true });
      const { error, response } = await call(address, request(['a']));
      expect(error).toBeUndefined();
      expect(response?.partialSuccess?.rejectedSpans).toBe(1);
      expect(response?.partialSuccess?.errorMessage).toMatch(/value out of range/);
    });

    it.each([
      ['too many batches wait for the store', { maxPendingBatches: 1, queueDepth: () => 5 }, grpc.status.RESOURCE_EXHAUSTED],
      ['the process is over its memory limit', { maxMemoryMiB: 1, memoryBytes: () => 1024 ** 3 }, grpc.status.UNAVAILABLE],
    ])('when %s, then the shared ingest budget sheds the call with a RetryInfo delay and nothing is passed on', async (_label, limits, code) => {
      const budget = new IngestBudget({ ...limits, retryAfterSeconds: 3 });
      const { consumer, outcomes, address } = await setup({ budget });
      const { error } = await call(address, request(['a']));
      expect(error?.code).toBe(code);
      expect(retryDelaySecondsOf(error?.metadata.get(STATUS_DETAILS_TRAILER)[0] as Buffer)).toBe(3);
      expect(consumer.calls).toBe(0);
      expect(outcomes[0]).toMatchObject({ reason: 'exhausted' });
    });

    it('when a message is over the limit, then RESOURCE_EXHAUSTED and nothing is passed on', async () => {
      const { consumer, address } = await setup({ maxBodyBytes: 1024 });
      const { error } = await call(address, Buffer.concat([request(['a']), randomBytes(2048)]));
      expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(consumer.calls).toBe(0);
    });

    it('when a small gzip message inflates past the limit, then RESOURCE_EXHAUSTED', async () => {
      const { consumer, address } = await setup({ maxBodyBytes: 4096 });
      // 64 KiB of one repeated span name compresses to well under the limit.
      const { error } = await call(address, request(['n'.repeat(64 * 1024)]), { gzip: true });
      expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(consumer.calls).toBe(0);
    });

    it.each([
      ['no token', undefined],
      ['a wrong token', 'guess'],
    ])('when a token is required and the call carries %s, then UNAUTHENTICATED and nothing is passed on', async (_label, token) => {
      const { consumer, outcomes, address } = await setup({ token: 's3cret' });
      const { error } = await call(address, request(['a']), { token });
      expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(consumer.calls).toBe(0);
      expect(outcomes[0]).toMatchObject({ status: 'UNAUTHENTICATED', reason: 'unauthenticated' });
    });
  });

  describe('close', () => {
    it('when closed twice, or before listening, then it resolves', async () => {
      const idle = new OtlpGrpcReceiver({ next: new RecordingConsumer() });
      await idle.close();
      const { address } = await setup();
      expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    });
  });
});
