import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { afterEach, describe, expect, it } from 'vitest';
import { forwardUrl, OtlpForwarder, retryAfterOf } from '../../../collector/forward/OtlpForwarder.js';
import { decodeTraceRequest } from '../../../collector/otlp/decode.js';
import { readableSpan } from '../../doubles/readableSpans.js';

const TRACE = '5b8efff798038103d269b633813fc60c';

interface Received {
  at: number;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** A downstream OTLP/HTTP receiver that answers each request with the next of `answers` (then 200). */
async function downstream(answers: { status: number; headers?: Record<string, string> }[] = []) {
  const received: Received[] = [];
  const waiters: (() => void)[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ at: performance.now(), path: req.url ?? '', headers: req.headers, body: gunzipSync(Buffer.concat(chunks)) });
      const answer = answers.shift() ?? { status: 200 };
      res.writeHead(answer.status, { 'Content-Type': 'application/x-protobuf', ...answer.headers }).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const until = async (count: number) => {
    while (received.length < count) await new Promise<void>((r) => waiters.push(r));
  };
  return { base, received, until };
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

function forwarder(url: string, options: Partial<ConstructorParameters<typeof OtlpForwarder>[0]> = {}) {
  const errors: unknown[] = [];
  const f = new OtlpForwarder({ url, initialBackoffMillis: 1, closeGraceMillis: 200, onError: (e) => errors.push(e), ...options });
  cleanup.push(() => f.close());
  return { f, errors };
}

const spans = [
  readableSpan({ traceId: TRACE, spanId: '00000000000000a1', name: 'one', attributes: { big: 1, ratio: 0.5, tags: ['a', 'b'] } }),
  readableSpan({ traceId: TRACE, spanId: '00000000000000a2', parentSpanId: '00000000000000a1', name: 'two', resource: { 'service.name': 'other' } }),
];
const protobufBody = ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array;
const jsonBody = JsonTraceSerializer.serializeRequest(spans) as Uint8Array;

describe('forwardUrl', () => {
  it.each([
    ['http://tempo:4318', 'http://tempo:4318/v1/traces'],
    ['http://tempo:4318/', 'http://tempo:4318/v1/traces'],
    ['https://otel.example/otlp', 'https://otel.example/otlp/v1/traces'],
    ['http://c:4318/v1/traces', 'http://c:4318/v1/traces'],
  ])('when given %s, then it sends to %s', (given, expected) => {
    expect(forwardUrl(given)).toBe(expected);
  });

  it.each(['tempo:4318', 'ftp://x/y', 'not a url'])('when given %s, then it says it needs an http(s) URL', (given) => {
    expect(() => forwardUrl(given)).toThrow(/--forward must be an http:\/\/ or https:\/\/ URL/);
  });
});

describe('retryAfterOf', () => {
  it('when the header is seconds or an HTTP date, then it is milliseconds; else undefined', () => {
    expect(retryAfterOf('3')).toBe(3000);
    expect(retryAfterOf(new Date(Date.now() + 60_000).toUTCString())).toBeGreaterThan(50_000);
    expect(retryAfterOf('soon')).toBeUndefined();
    expect(retryAfterOf(null)).toBeUndefined();
  });
});

describe('OtlpForwarder', () => {
  describe('offer', () => {
    it('when a protobuf request is offered, then the downstream gets the same bytes, gzip, at /v1/traces', async () => {
      const down = await downstream();
      const { f } = forwarder(down.base);
      expect(f.offer({ body: protobufBody, encoding: 'protobuf', spans: 2 })).toBe(true);
      await down.until(1);
      expect(down.received[0].path).toBe('/v1/traces');
      expect(down.received[0].headers['content-type']).toBe('application/x-protobuf');
      expect(down.received[0].headers['content-encoding']).toBe('gzip');
      expect(Buffer.compare(down.received[0].body, Buffer.from(protobufBody))).toBe(0);
      await f.close();
      expect(f.sentSpans).toBe(2);
      expect(f.queuedBytes).toBe(0);
    });

    it('when a JSON request is offered, then the downstream gets it as protobuf with every span, resource and attribute', async () => {
      const down = await downstream();
      const { f } = forwarder(down.base);
      f.offer({ body: jsonBody, encoding: 'json', spans: 2 });
      await down.until(1);
      const forwarded = decodeTraceRequest(down.received[0].body, 'protobuf');
      const original = decodeTraceRequest(jsonBody, 'json');
      expect(forwarded.rejected).toBe(0);
      const view = (d: typeof forwarded) =>
        d.spans.map((s) => ({
          id: s.spanContext().spanId,
          parent: s.parentSpanContext?.spanId,
          name: s.name,
          attributes: s.attributes,
          resource: s.resource.attributes,
          scope: s.instrumentationScope,
          start: s.startTime,
        }));
      expect(view(forwarded)).toEqual(view(original));
    });

    it('when a JSON request carries base64 ids, then the forwarded protobuf carries the same ids', async () => {
      const base64Ids = (value: unknown): unknown => {
        if (Array.isArray(value)) return value.map(base64Ids);
        if (value === null || typeof value !== 'object') return value;
        return Object.fromEntries(
          Object.entries(value).map(([k, v]) => [
            k,
            ['traceId', 'spanId', 'parentSpanId'].includes(k) && typeof v === 'string' && v !== '' ? Buffer.from(v, 'hex').toString('base64') : base64Ids(v),
          ]),
        );
      };
      const body = new TextEncoder().encode(JSON.stringify(base64Ids(JSON.parse(new TextDecoder().decode(jsonBody)))));
      expect(new TextDecoder().decode(body)).toContain(`"traceId":"${Buffer.from(TRACE, 'hex').toString('base64')}"`);
      const down = await downstream();
      const { f } = forwarder(down.base);
      f.offer({ body, encoding: 'json', spans: 2 });
      await down.until(1);
      const forwarded = decodeTraceRequest(down.received[0].body, 'protobuf');
      expect(forwarded.rejected).toBe(0);
      expect(forwarded.spans.map((s) => [s.spanContext().traceId, s.spanContext().spanId, s.parentSpanContext?.spanId])).toEqual([
        [TRACE, '00000000000000a1', undefined],
        [TRACE, '00000000000000a2', '00000000000000a1'],
      ]);
    });

    it('when the downstream answers 503 with Retry-After, then the same request is sent again no sooner than asked', async () => {
      const down = await downstream([{ status: 503, headers: { 'Retry-After': '1' } }]);
      const { f } = forwarder(down.base);
      f.offer({ body: protobufBody, encoding: 'protobuf', spans: 2 });
      await down.until(2);
      expect(down.received[1].at - down.received[0].at).toBeGreaterThanOrEqual(950);
      expect(Buffer.compare(down.received[1].body, down.received[0].body)).toBe(0);
      await f.close();
      expect([f.sentSpans, f.droppedSpans]).toEqual([2, 0]);
    });

    it('when the downstream refuses a request with 400, then it is dropped and counted, not retried', async () => {
      const down = await downstream([{ status: 400 }]);
      const { f, errors } = forwarder(down.base);
      f.offer({ body: protobufBody, encoding: 'protobuf', spans: 2 });
      f.offer({ body: protobufBody, encoding: 'protobuf', spans: 2 });
      await down.until(2);
      await f.close();
      expect([f.sentSpans, f.droppedSpans]).toEqual([2, 2]);
      expect(String(errors[0])).toMatch(/HTTP 400; dropped/);
    });

    it('when the queue is full, then the offer is refused at once and its spans counted dropped', async () => {
      const { f } = forwarder('http://127.0.0.1:9', { maxQueueBytes: protobufBody.byteLength * 2 });
      expect(f.offer({ body: protobufBody, encoding: 'protobuf', spans: 2 })).toBe(true);
      expect(f.offer({ body: protobufBody, encoding: 'protobuf', spans: 2 })).toBe(true);
      expect(f.offer({ body: protobufBody, encoding: 'protobuf', spans: 2 })).toBe(false);
      expect(f.droppedSpans).toBe(2);
      expect(f.queuedBytes).toBe(protobufBody.byteLength * 2);
    });

    it('when the downstream cannot be reached, then offers are still taken and close drops what is left', async () => {
      const { f, errors } = forwarder('http://127.0.0.1:9');
      for (let i = 0; i < 10; i++) expect(f.offer({ body: protobufBody, encoding: 'protobuf', spans: 2 })).toBe(true);
      await f.close();
      expect([f.sentSpans, f.droppedSpans, f.queuedBytes]).toEqual([0, 20, 0]);
      expect(String(errors[0])).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9\/v1\/traces/);
      expect(f.offer({ body: protobufBody, encoding: 'protobuf', spans: 2 })).toBe(false);
    });
  });
});
