import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { OtlpTypes } from '../../../collector/otlp/schema.js';
import { SpanRecordProcessor } from '../../../collector/processor/SpanRecordProcessor.js';
import { IngestBudget } from '../../../collector/receiver/IngestBudget.js';
import { createOtlpApp, OtlpHttpReceiver } from '../../../collector/receiver/OtlpHttpReceiver.js';
import type { Consumer } from '../../../contract/records.js';
import { judgeTaskAlone } from '../../../server/judge/index.js';
import { SqliteStore } from '../../../server/store/SqliteStore.js';
import { readableSpan } from '../../doubles/readableSpans.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PROTO = 'application/x-protobuf';
/** 2^64 - 1 ns: valid OTLP (fixed64) but beyond the int64 columns of every store. */
const BEYOND_INT64 = 2n ** 64n - 1n;

const spanId = (i: number): string => (i + 1).toString(16).padStart(16, '0');

function goodSpans(count: number, from = 0, trace = TRACE): ReadableSpan[] {
  return Array.from({ length: count }, (_, i) => readableSpan({ traceId: trace, spanId: spanId(from + i), name: `good-${from + i}` }));
}

let server: Server | undefined;
let store: SqliteStore | undefined;
afterEach(async () => {
  if (server) {
    server.closeAllConnections();
    server.close();
  }
  server = undefined;
  await store?.close();
  store = undefined;
});

/** The OTLP app on a real port with a real SQLite store behind the processor. */
async function serve(
  next?: Consumer<ReadableSpan> | ((store: SqliteStore) => Consumer<ReadableSpan>),
  options: { budget?: IngestBudget; token?: string } = {},
) {
  const opened = SqliteStore.open({ path: ':memory:', verdictOf: judgeTaskAlone });
  store = opened;
  const consumer = typeof next === 'function' ? next(opened) : (next ?? new SpanRecordProcessor({ next: opened }));
  const receiver = new OtlpHttpReceiver({ next: consumer, onError: () => {}, ...options });
  server = createServer(createOtlpApp(receiver));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, store, receiver };
}

function post(url: string, from: number, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': PROTO, ...headers },
    body: Buffer.from(ProtobufTraceSerializer.serializeRequest(goodSpans(1, from))!),
  });
}

function exportWith(exporter: SpanExporter, spans: ReadableSpan[]): Promise<{ code: ExportResultCode; error?: Error }> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

describe('SpanIngest (through OtlpHttpReceiver)', () => {
  describe('one bad span', () => {
    it.each([
      ['protobuf', PROTO],
      ['json', 'application/json'],
    ] as const)(
      'when a %s request has one span ending beyond int64, then 200 with partialSuccess naming it and the valid spans stored once',
      async (kind, type) => {
        const { url, store } = await serve();
        const spans = [...goodSpans(2), readableSpan({ traceId: TRACE, spanId: spanId(9), name: 'far-future', end: BEYOND_INT64 })];
        const body = kind === 'protobuf' ? ProtobufTraceSerializer.serializeRequest(spans)! : JsonTraceSerializer.serializeRequest(spans)!;
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': type }, body: Buffer.from(body) });
        expect(res.status).toBe(200);
        const bytes = new Uint8Array(await res.arrayBuffer());
        const answer =
          kind === 'protobuf'
            ? OtlpTypes.ExportTraceServiceResponse.toObject(OtlpTypes.ExportTraceServiceResponse.decode(bytes), { longs: Number })
            : JSON.parse(Buffer.from(bytes).toString('utf8'));
        expect(answer.partialSuccess.rejectedSpans).toBe(1);
        expect(answer.partialSuccess.errorMessage).toMatch(
          /^span "far-future" \(4bf92f3577b34da6a3ce929d0e0e4736\/000000000000000a\): endTimeUnixNano 18446744073709551615/,
        );
        // A retry of the same request must not store anything twice.
        await fetch(url, { method: 'POST', headers: { 'content-type': type }, body: Buffer.from(body) });
        const stored = await store.spansOfTrace(TRACE);
        expect(stored.map((s) => s.name).sort()).toEqual(['good-0', 'good-1']);
      },
    );

    it.each([
      ['exporter-trace-otlp-proto', () => ProtoExporter],
      ['exporter-trace-otlp-http (JSON)', () => JsonExporter],
    ] as const)('when %s sends one unstorable span among good ones, then the export succeeds and the good spans are stored', async (_name, Exporter) => {
      const { url, store } = await serve();
      const exporter = new (Exporter())({ url });
      const spans = [readableSpan({ traceId: TRACE, spanId: spanId(7), name: 'bad', start: BEYOND_INT64 - 1n, end: BEYOND_INT64 }), ...goodSpans(3)];
      expect((await exportWith(exporter, spans)).code).toBe(ExportResultCode.SUCCESS);
      await exporter.shutdown();
      expect((await store.spansOfTrace(TRACE)).map((s) => s.name).sort()).toEqual(['good-0', 'good-1', 'good-2']);
    });

    it('when the next stage refuses a batch as bad data, then each span goes alone: the good ones are kept and only the bad one is counted', async () => {
      const taken: string[] = [];
      const picky: Consumer<ReadableSpan> = {
        async consume(batch) {
          if (batch.some((s) => s.name === 'poison')) throw Object.assign(new Error('cannot keep it'), { permanent: true });
          taken.push(...batch.map((s) => s.name));
        },
      };
      const { url } = await serve(picky);
      const spans = [...goodSpans(1), readableSpan({ traceId: TRACE, spanId: spanId(5), name: 'poison' }), ...goodSpans(1, 1)];
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JsonTraceSerializer.serializeRequest(spans)!),
      });
      expect(await res.json()).toEqual({
        partialSuccess: { rejectedSpans: 1, errorMessage: expect.stringMatching(/span "poison" .*refused by the store: cannot keep it/) },
      });
      expect(taken).toEqual(['good-0', 'good-1']);
    });
  });

  describe('shedding', () => {
    /** A next stage that holds every batch until opened. */
    function gate() {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      const items: ReadableSpan[] = [];
      const consumer: Consumer<ReadableSpan> = {
        async consume(batch) {
          await opened;
          items.push(...batch);
        },
      };
      return { consumer, open, items };
    }

    it('when maxPendingBatches batches wait for the store, then the next request gets 429 with Retry-After, and 200 once they are stored', async () => {
      const held = gate();
      const { url, receiver } = await serve(held.consumer, { budget: new IngestBudget({ maxPendingBatches: 1 }) });
      const first = post(url, 0);
      await waitUntil(async () => (receiver.ingest.budget.stats().pendingBatches === 1 ? true : undefined));
      const shed = await post(url, 1);
      expect(shed.status).toBe(429);
      expect(shed.headers.get('retry-after')).toBe('1');
      held.open();
      expect((await first).status).toBe(200);
      expect((await post(url, 2)).status).toBe(200);
      expect(held.items.map((s) => s.name)).toEqual(['good-0', 'good-2']);
    });

    it('when the process is over --max-memory-mib, then 503 with Retry-After and nothing is passed on', async () => {
      const held = gate();
      held.open();
      const { url } = await serve(held.consumer, { budget: new IngestBudget({ maxMemoryMiB: 1 }) });
      const res = await post(url, 0);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect((OtlpTypes.RpcStatus.toObject(OtlpTypes.RpcStatus.decode(new Uint8Array(await res.arrayBuffer()))) as { message: string }).message).toMatch(
        /over its memory limit/,
      );
      expect(held.items).toEqual([]);
    });

    it('when the decompressed bytes in flight would pass the budget, then 429 and the bytes are given back', async () => {
      const held = gate();
      const { url, receiver } = await serve(held.consumer, { budget: new IngestBudget({ maxBytesInFlight: 100 }) });
      const first = post(url, 0);
      await waitUntil(async () => (receiver.ingest.budget.stats().pendingBatches === 1 ? true : undefined));
      expect((await post(url, 1)).status).toBe(429);
      held.open();
      expect((await first).status).toBe(200);
      expect(receiver.ingest.budget.stats()).toMatchObject({ bytesInFlight: 0, pendingBatches: 0, shed: { bytes: 1 } });
    });

    it.each([
      ['exporter-trace-otlp-proto', () => ProtoExporter],
      ['exporter-trace-otlp-http (JSON)', () => JsonExporter],
    ] as const)(
      'when 4 %s exporters send at once past the budget, then some are shed with 429 and, retrying, every span is stored once',
      async (_name, Exporter) => {
        const statuses: number[] = [];
        // A store that takes 50 ms a batch, so that concurrent exports overlap.
        const slowStore = (store: SqliteStore) =>
          new SpanRecordProcessor({
            next: {
              consume: async (batch) => {
                await new Promise((resolve) => setTimeout(resolve, 50));
                await store.consume(batch);
              },
            },
          });
        const { url, store } = await serve(slowStore, { budget: new IngestBudget({ maxPendingBatches: 1 }) });
        server?.prependListener('request', (_req, res) => res.once('finish', () => statuses.push(res.statusCode)));
        const exporters = Array.from({ length: 4 }, () => new (Exporter())({ url }));
        const results = await Promise.all(exporters.map((e, i) => exportWith(e, goodSpans(25, i * 25))));
        await Promise.all(exporters.map((e) => e.shutdown()));
        expect(results.map((r) => r.code)).toEqual(Array(4).fill(ExportResultCode.SUCCESS));
        expect(statuses).toContain(429);
        expect(statuses.filter((s) => s === 200)).toHaveLength(4);
        expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
        expect(await store.spansOfTrace(TRACE)).toHaveLength(100);
      },
    );
  });

  describe('token', () => {
    it('when a token is set and the request has none or a wrong one, then 401 with WWW-Authenticate and nothing is taken', async () => {
      const { url, store } = await serve(undefined, { token: 's3cret' });
      const none = await post(url, 0);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      expect((await post(url, 1, { authorization: 'Bearer nope' })).status).toBe(401);
      expect(await store.spansOfTrace(TRACE)).toEqual([]);
    });

    it.each([
      ['exporter-trace-otlp-proto', () => ProtoExporter],
      ['exporter-trace-otlp-http (JSON)', () => JsonExporter],
    ] as const)('when %s sends the token as a Bearer header, then its spans are stored; without it the export fails', async (_name, Exporter) => {
      const { url, store } = await serve(undefined, { token: 's3cret' });
      const good = new (Exporter())({ url, headers: { Authorization: 'Bearer s3cret' } });
      expect((await exportWith(good, goodSpans(2))).code).toBe(ExportResultCode.SUCCESS);
      const bad = new (Exporter())({ url });
      expect((await exportWith(bad, goodSpans(1, 5))).code).toBe(ExportResultCode.FAILED);
      await Promise.all([good.shutdown(), bad.shutdown()]);
      expect((await store.spansOfTrace(TRACE)).map((s) => s.name).sort()).toEqual(['good-0', 'good-1']);
    });
  });
});

async function waitUntil<T>(probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const got = await probe();
    if (got !== undefined) return got;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('condition not reached');
}
