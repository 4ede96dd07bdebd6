import { Metadata } from '@grpc/grpc-js';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readableSpan } from '../doubles/readableSpans.js';
import { parsePrometheusText, seriesValue } from '../server/metrics/parsePrometheusText.js';
import { freePort, type Served, startServe } from './serve.js';

const TOKEN = 'e2e-grpc-token-7d2e';
const TRACE = 'feed0000feed0000feed0000feed0000';

function exportWith(exporter: SpanExporter, spans: ReadableSpan[]): Promise<{ code: ExportResultCode }> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

describe('canceltrace serve --token with OTLP/gRPC and /metrics', () => {
  let served: Served;
  const auth = { Authorization: `Bearer ${TOKEN}` };
  beforeAll(async () => {
    served = await startServe({ env: { CANCELTRACE_TOKEN: TOKEN }, args: ['--grpc-port', String(await freePort())] });
  });
  afterAll(async () => {
    await served?.stop();
  });

  it('when the official gRPC exporter sends without the token, then the export fails; with it as metadata, the spans are stored', async () => {
    const url = `http://${served.grpcAddress}`;
    const span = (n: number) => readableSpan({ traceId: TRACE, spanId: n.toString(16).padStart(16, '0'), name: `grpc-${n}` });
    const stranger = new GrpcExporter({ url });
    expect((await exportWith(stranger, [span(90)])).code).toBe(ExportResultCode.FAILED);
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${TOKEN}`);
    const owner = new GrpcExporter({ url, metadata });
    expect((await exportWith(owner, [span(1)])).code).toBe(ExportResultCode.SUCCESS);
    await Promise.all([stranger.shutdown(), owner.shutdown()]);
    const res = await fetch(`${served.uiUrl}/api/traces/${TRACE}`, { headers: auth });
    expect(((await res.json()) as { spans: { name: string }[] }).spans.map((s) => s.name)).toEqual(['grpc-1']);
  });

  it('when /metrics is scraped without the token, then 401; with it, a scrape that counts the refused call', async () => {
    expect((await fetch(`${served.uiUrl}/metrics`)).status).toBe(401);
    const res = await fetch(`${served.uiUrl}/metrics`, { headers: auth });
    expect(res.status).toBe(200);
    const families = parsePrometheusText(await res.text());
    expect(seriesValue(families, 'canceltrace_otlp_requests_total', { protocol: 'grpc', status: 'UNAUTHENTICATED' })).toBeGreaterThanOrEqual(1);
    expect(seriesValue(families, 'canceltrace_otlp_spans_received_total', { protocol: 'grpc', encoding: 'protobuf' })).toBe(1);
  });
});
