import { randomUUID } from 'node:crypto';
import { context, type HrTime, type Tracer, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JUDGMENT, verdictCountAttr } from '../../contract/contract.js';
import { freePort, getJson, type Served, startServe, waitFor } from './serve.js';

const MS = 1_000_000n;
const at = (ns: bigint): HrTime => [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];

/** A shutdown with a polite, a swallowing, a surviving and an orphaned task; returns the shutdown's trace id. */
function emitShutdown(tracer: Tracer, t0: bigint): string {
  const shutdown = tracer.startSpan('shutdown', { startTime: at(t0), attributes: { 'shutdown.reason': 'SIGTERM', 'shutdown.outcome': 'survivors' } });
  // The tasks are children of the shutdown here, so that one trace holds the whole scenario.
  const inShutdown = trace.setSpan(context.active(), shutdown);
  const task = (name: string, finalState: string, endMs: number, cancelled: boolean, extra: Record<string, string | boolean> = {}) => {
    const span = tracer.startSpan(
      name,
      {
        startTime: at(t0 - 1000n * MS),
        attributes: { 'task.kind': 'node', 'task.id': name, 'task.final_state': finalState, 'code.filepath': `/srv/${name}.ts`, 'code.lineno': 7, ...extra },
      },
      inShutdown,
    );
    if (cancelled) span.addEvent('task.cancel_requested', { 'cancel.count': 1 }, at(t0 + 1n * MS));
    span.end(at(t0 + BigInt(endMs) * MS));
  };
  task('polite', 'cancelled', 50, true);
  task('swallower', 'completed', 60, true, { 'task.swallow_site': '/srv/swallower.ts:42 in loop' });
  task('zombie', 'pending', 500, true, { 'task.snapshot': true });
  task('forgotten', 'pending', 500, false, { 'task.snapshot': true });
  shutdown.end(at(t0 + 500n * MS));
  return shutdown.spanContext().traceId;
}

async function send(exporter: SpanExporter, instance: string): Promise<string> {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'orders', 'service.instance.id': instance }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const traceId = emitShutdown(provider.getTracer('canceltrace', '0.1.0'), BigInt(Date.now() - 60_000) * MS);
  await provider.forceFlush();
  await provider.shutdown();
  return traceId;
}

const spanView = (s: any) => ({
  spanId: s.spanId,
  parentSpanId: s.parentSpanId,
  name: s.name,
  attributes: s.attributes,
  resource: s.resource,
  scope: s.scope,
  events: s.events,
});

describe('canceltrace serve --forward to a second canceltrace serve', () => {
  let downstream: Served;
  let upstream: Served;

  beforeAll(async () => {
    downstream = await startServe();
    upstream = await startServe({ args: ['--forward', downstream.otlpUrl, '--grpc-port', String(await freePort())] });
  });
  afterAll(async () => {
    await upstream?.stop();
    await downstream?.stop();
  });

  describe.each<[string, (s: Served) => SpanExporter]>([
    ['exporter-trace-otlp-proto', (s) => new ProtoExporter({ url: `${s.otlpUrl}/v1/traces` })],
    ['exporter-trace-otlp-http (JSON)', (s) => new JsonExporter({ url: `${s.otlpUrl}/v1/traces` })],
    ['exporter-trace-otlp-grpc', (s) => new GrpcExporter({ url: `http://${s.grpcAddress}` })],
  ])('fed by the official %s', (_label, exporterFor) => {
    let traceId: string;
    let upstreamSpans: any[];
    let downstreamSpans: any[];
    let judgment: any;
    let shutdownId: string;

    beforeAll(async () => {
      traceId = await send(exporterFor(upstream), randomUUID());
      upstreamSpans = (await getJson(upstream, `/api/traces/${traceId}`)).spans;
      downstreamSpans = await waitFor(
        async () => {
          const spans = (await getJson(downstream, `/api/traces/${traceId}`).catch(() => ({ spans: [] }))).spans;
          return spans.some((s: any) => s.name === JUDGMENT.spanName) ? spans : undefined;
        },
        20_000,
        'the forwarded spans and the judgment span downstream',
      );
      judgment = downstreamSpans.find((s: any) => s.name === JUDGMENT.spanName);
      shutdownId = `${traceId}-${upstreamSpans.find((s: any) => s.name === 'shutdown').spanId}`;
    });

    it('when spans reach the upstream, then the downstream holds every one of them unchanged, with resource and scope', () => {
      const forwarded = downstreamSpans.filter((s: any) => s.name !== JUDGMENT.spanName);
      expect(forwarded.map(spanView)).toEqual(upstreamSpans.map(spanView));
      expect(forwarded).toHaveLength(5);
    });

    it('when the shutdown settles, then one canceltrace.judgment span, child of the shutdown span, carries the verdict counts', async () => {
      const shutdownSpanId = shutdownId.split('-')[1];
      expect(downstreamSpans.filter((s: any) => s.name === JUDGMENT.spanName)).toHaveLength(1);
      expect(judgment.parentSpanId).toBe(shutdownSpanId);
      const { counts, outcome } = (await getJson<any[]>(upstream, '/api/shutdowns')).find((r) => r.id === shutdownId);
      for (const verdict of ['swallowed', 'survivor', 'orphan', 'cancelled']) {
        expect(judgment.attributes[verdictCountAttr(verdict)]).toBe(counts[verdict] ?? 0);
      }
      expect(judgment.attributes[JUDGMENT.shutdownId]).toBe(shutdownId);
      expect(judgment.attributes[JUDGMENT.outcome]).toBe(outcome);
    });

    it('when tasks got bad verdicts, then the judgment has one event per such task with its span id, verdict and swallow site', async () => {
      const view = await getJson(upstream, `/api/shutdowns/${shutdownId}`);
      const bad = view.tasks.filter((t: any) => ['swallowed', 'survivor', 'replaced', 'destroyed', 'orphan'].includes(t.verdict));
      const events = judgment.events.filter((e: any) => e.name === JUDGMENT.taskEvent);
      expect(events.map((e: any) => [e.attributes[JUDGMENT.taskSpanId], e.attributes[JUDGMENT.verdict]]).sort()).toEqual(
        bad.map((t: any) => [t.spanId, t.verdict]).sort(),
      );
      const swallower = events.find((e: any) => e.attributes['task.name'] === 'swallower');
      expect(swallower.attributes['task.swallow_site']).toBe('/srv/swallower.ts:42 in loop');
    });

    it('when the downstream judges the forwarded shutdown itself, then its verdicts are the upstream verdicts', async () => {
      const up = await getJson(upstream, `/api/shutdowns/${shutdownId}`);
      const down = await getJson(downstream, `/api/shutdowns/${shutdownId}`);
      const verdicts = (v: any) => v.tasks.map((t: any) => [t.name, t.verdict]).sort();
      expect(verdicts(down)).toEqual(verdicts(up));
    });
  });
});

describe('canceltrace serve --forward to a downstream that is down', () => {
  let upstream: Served;

  beforeAll(async () => {
    upstream = await startServe({ args: ['--forward', `http://127.0.0.1:${await freePort()}`] });
  });
  afterAll(async () => {
    await upstream?.stop();
  });

  it('when spans arrive, then the upstream still answers success and stores them', async () => {
    const results: number[] = [];
    const exporter = new ProtoExporter({ url: `${upstream.otlpUrl}/v1/traces` });
    const original = exporter.export.bind(exporter);
    exporter.export = (spans, done) =>
      original(spans, (result) => {
        results.push(result.code);
        done(result);
      });
    const traceId = await send(exporter, randomUUID());
    expect(results.length).toBe(5);
    expect(results.every((code) => code === 0)).toBe(true);
    const stored = await getJson(upstream, `/api/traces/${traceId}`);
    expect(stored.spans).toHaveLength(5);
  });
});
