import { randomUUID } from 'node:crypto';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheusText, seriesValue } from '../server/metrics/parsePrometheusText.js';
import { freePort, type Served, startServe, waitFor } from './serve.js';

const MS = 1_000_000n;

/** A shutdown with one swallowed task, sent through `exporter`. */
async function sendShutdown(exporter: SpanExporter): Promise<void> {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'billing', 'service.instance.id': randomUUID() }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('canceltrace', '0.1.0');
  const t0 = BigInt(Date.now() - 10_000) * MS;
  const hr = (ns: bigint): [number, number] => [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
  const shutdown = tracer.startSpan('shutdown', { startTime: hr(t0), attributes: { 'shutdown.reason': 'SIGTERM' } });
  const swallower = tracer.startSpan('swallower', { startTime: hr(t0 - 500n * MS), attributes: { 'task.kind': 'node', 'task.final_state': 'completed' } });
  swallower.addEvent('task.cancel_requested', { 'cancel.count': 1 }, hr(t0 + MS));
  swallower.end(hr(t0 + 20n * MS));
  shutdown.end(hr(t0 + 100n * MS));
  await provider.forceFlush();
  await provider.shutdown();
}

async function scrape(served: Served) {
  const res = await fetch(`${served.uiUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

describe('canceltrace serve GET /metrics', () => {
  let served: Served;

  beforeAll(async () => {
    served = await startServe({ args: ['--grpc-port', String(await freePort())] });
    await sendShutdown(new GrpcExporter({ url: `http://${served.grpcAddress}` }));
    await sendShutdown(new JsonExporter({ url: `${served.otlpUrl}/v1/traces` }));
    await fetch(`${served.otlpUrl}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"resourceSpans": 7}' });
  });
  afterAll(async () => {
    await served?.stop();
  });

  it('when spans arrive over gRPC and HTTP, then a scrape counts them by protocol and encoding', async () => {
    const f = await scrape(served);
    expect(seriesValue(f, 'canceltrace_otlp_spans_received_total', { protocol: 'grpc', encoding: 'protobuf' })).toBe(2);
    expect(seriesValue(f, 'canceltrace_otlp_spans_received_total', { protocol: 'http', encoding: 'json' })).toBe(2);
    expect(seriesValue(f, 'canceltrace_otlp_requests_total', { protocol: 'grpc', status: 'OK' })).toBe(2);
    expect(seriesValue(f, 'canceltrace_otlp_requests_total', { protocol: 'http', status: '200' })).toBe(2);
    expect(seriesValue(f, 'canceltrace_otlp_requests_total', { protocol: 'http', status: '400' })).toBe(1);
    expect(seriesValue(f, 'canceltrace_otlp_request_duration_seconds_count', { protocol: 'grpc' })).toBe(2);
    expect(seriesValue(f, 'canceltrace_store_commit_duration_seconds_count')).toBeGreaterThanOrEqual(4);
    expect(seriesValue(f, 'canceltrace_store_spans', { role: 'task' })).toBe(2);
    expect(seriesValue(f, 'canceltrace_store_spans', { role: 'shutdown' })).toBe(2);
  });

  it('when the shutdowns settle, then they and their tasks are counted by outcome and verdict', async () => {
    const f = await waitFor(
      async () => {
        const scraped = await scrape(served);
        return seriesValue(scraped, 'canceltrace_shutdowns_judged_total', { outcome: 'clean', settled_by: 'ended' }) +
          seriesValue(scraped, 'canceltrace_shutdowns_judged_total', { outcome: 'survivors', settled_by: 'ended' }) >=
          2
          ? scraped
          : undefined;
      },
      20_000,
      'two settled shutdowns',
    );
    expect(seriesValue(f, 'canceltrace_tasks_judged_total', { verdict: 'swallowed' })).toBe(2);
  });
});

describe('canceltrace serve --metrics off', () => {
  it('when metrics are off, then GET /metrics is 404', async () => {
    const served = await startServe({ args: ['--metrics', 'off'] });
    try {
      const res = await fetch(`${served.uiUrl}/metrics`);
      expect(res.status).toBe(404);
    } finally {
      await served.stop();
    }
  });
});
