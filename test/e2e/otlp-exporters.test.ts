import { randomUUID } from 'node:crypto';
import { type Attributes, type HrTime, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GZIP } from '../doubles/compression.js';
import { freePort, getJson, type Served, startServe, waitFor } from './serve.js';

const MS = 1_000_000n;
const at = (ns: bigint): HrTime => [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];

interface Step {
  name: string;
  offsetMs: number;
  attributes?: Attributes;
}

/** Emits one task span following the contract, with explicit times relative to `t0`. */
function task(
  tracer: Tracer,
  t0: bigint,
  name: string,
  opts: { startMs?: number; endMs: number; finalState: string; events?: Step[]; attributes?: Attributes; error?: string },
): void {
  const span = tracer.startSpan(name, {
    startTime: at(t0 + BigInt(opts.startMs ?? -1000) * MS),
    attributes: {
      'task.kind': 'node',
      'task.id': name,
      'task.name': name,
      'task.coroutine': `worker_${name}`,
      'code.filepath': `/srv/app/${name}.ts`,
      'code.lineno': 10,
      'code.function': 'main',
      'task.final_state': opts.finalState,
      ...opts.attributes,
    },
  });
  for (const e of opts.events ?? []) span.addEvent(e.name, e.attributes ?? {}, at(t0 + BigInt(e.offsetMs) * MS));
  if (opts.error) {
    span.recordException({ name: opts.error, message: `${opts.error} in cleanup` }, at(t0 + BigInt(opts.endMs) * MS));
    span.setStatus({ code: SpanStatusCode.ERROR, message: opts.error });
  }
  span.end(at(t0 + BigInt(opts.endMs) * MS));
}

const cancel = (offsetMs: number): Step => ({ name: 'task.cancel_requested', offsetMs, attributes: { 'cancel.count': 1, 'cancel.message': 'shutdown' } });

/** A whole shutdown with one task per verdict and finding that Node spans can produce. */
function emitShutdown(tracer: Tracer, t0: bigint): void {
  const shutdown = tracer.startSpan('shutdown', {
    startTime: at(t0),
    attributes: { 'shutdown.reason': 'SIGTERM', 'shutdown.drain_timeout_ms': 3000, 'shutdown.outcome': 'survivors', 'shutdown.pending_baseline': 0 },
  });
  shutdown.addEvent('resource.gauge', { 'resource.name': 'pool.in_use', 'resource.value': 0 }, at(t0 - 10n * MS));
  shutdown.addEvent('shutdown.cancel_all', { 'tasks.count': 9 }, at(t0 + 1n * MS));
  for (const [ms, count] of [
    [0, 9],
    [100, 6],
    [200, 3],
    [2000, 2],
  ] as const) {
    shutdown.addEvent('tasks.pending', { 'tasks.pending.count': count }, at(t0 + BigInt(ms) * MS));
  }
  shutdown.addEvent('resource.gauge', { 'resource.name': 'pool.in_use', 'resource.value': 2 }, at(t0 + 2000n * MS));

  task(tracer, t0, 'polite', { endMs: 50, finalState: 'cancelled', events: [cancel(1)] });
  task(tracer, t0, 'swallower', {
    endMs: 60,
    finalState: 'completed',
    events: [cancel(1)],
    attributes: { 'task.swallow_site': '/srv/app/swallower.ts:42 in loop' },
  });
  task(tracer, t0, 'replacer', { endMs: 70, finalState: 'failed', events: [cancel(1)], error: 'TypeError' });
  task(tracer, t0, 'zombie', { endMs: 2500, finalState: 'pending', events: [cancel(1)], attributes: { 'task.snapshot': true } });
  task(tracer, t0, 'dropped', { endMs: 2600, finalState: 'destroyed', events: [] });
  task(tracer, t0, 'forgotten', { endMs: 2500, finalState: 'pending', attributes: { 'task.snapshot': true } });
  task(tracer, t0, 'early', { startMs: -5000, endMs: -100, finalState: 'completed' });
  task(tracer, t0, 'interrupted', {
    endMs: 80,
    finalState: 'cancelled',
    events: [cancel(1), { name: 'task.cleanup.start', offsetMs: 2, attributes: { 'cleanup.name': 'close-db' } }],
  });
  task(tracer, t0, 'flush-timeout', {
    endMs: 1100,
    finalState: 'cancelled',
    events: [
      cancel(1),
      { name: 'task.shield.start', offsetMs: 2, attributes: { 'shield.timeout_ms': 1000 } },
      { name: 'task.shield.end', offsetMs: 1002, attributes: { 'shield.outcome': 'timeout' } },
    ],
  });
  task(tracer, t0, 'slowpoke', { endMs: 1800, finalState: 'cancelled', events: [cancel(1)] });
  task(tracer, t0, 'misuser', {
    endMs: 90,
    finalState: 'completed',
    events: [cancel(1), { name: 'task.uncancel', offsetMs: 5, attributes: { 'cancel.count': 0 } }],
  });
  task(tracer, t0, 'group-owner', { endMs: 2500, finalState: 'pending', events: [cancel(1)], attributes: { 'task.id': 'owner', 'task.snapshot': true } });
  task(tracer, t0, 'group-child', {
    endMs: 95,
    finalState: 'completed',
    events: [cancel(2)],
    attributes: { 'task.id': 'child', 'task.parent_id': 'owner', 'task.group_id': 'group-1' },
  });
  shutdown.end(at(t0 + 2500n * MS));
}

const exporters: [string, (served: Served) => SpanExporter][] = [
  ['exporter-trace-otlp-proto', (served) => new ProtoExporter({ url: `${served.otlpUrl}/v1/traces` })],
  ['exporter-trace-otlp-http (JSON)', (served) => new JsonExporter({ url: `${served.otlpUrl}/v1/traces` })],
  ['exporter-trace-otlp-grpc (gzip)', (served) => new GrpcExporter({ url: `http://${served.grpcAddress}`, compression: GZIP })],
];

describe.each(exporters)('canceltrace serve fed by the official %s', (_label, makeExporter) => {
  let served: Served;
  let view: any;
  const instance = randomUUID();

  beforeAll(async () => {
    served = await startServe({ args: ['--grpc-port', String(await freePort())] });
    const provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'checkout', 'service.instance.id': instance, 'process.pid': 4242 }),
      spanProcessors: [new SimpleSpanProcessor(makeExporter(served))],
    });
    emitShutdown(provider.getTracer('canceltrace', '0.1.0'), BigInt(Date.now() - 60_000) * MS);
    await provider.forceFlush();
    await provider.shutdown();
    const list = await waitFor(
      async () => {
        const rows = await getJson<any[]>(served, '/api/shutdowns');
        return rows.length > 0 ? rows : undefined;
      },
      15_000,
      'the shutdown to be listed',
    );
    view = await getJson(served, `/api/shutdowns/${list[0].id}`);
  });
  afterAll(async () => {
    await served?.stop();
  });

  const verdictOf = (name: string) => view.tasks.find((t: any) => t.name === name);

  it.each([
    ['polite', 'cancelled'],
    ['swallower', 'swallowed'],
    ['replacer', 'replaced'],
    ['zombie', 'survivor'],
    ['dropped', 'destroyed'],
    ['forgotten', 'orphan'],
  ])('when task %s is sent, then its verdict is %s', (name, verdict) => {
    expect(verdictOf(name)?.verdict).toBe(verdict);
  });

  it('when a task ended before the shutdown and was never cancelled, then it is not in the shutdown view', () => {
    expect(verdictOf('early')).toBeUndefined();
  });

  it.each([
    ['interrupted', 'cleanup_interrupted'],
    ['flush-timeout', 'cleanup_timeout'],
    ['slowpoke', 'slow_cancel'],
    ['misuser', 'uncancel_misuse'],
    ['group-owner', 'group_blocked'],
  ])('when task %s is sent, then it has the finding %s', (name, finding) => {
    expect(verdictOf(name)?.findings.map((f: any) => f.kind)).toContain(finding);
  });

  it('when the shutdown left the pending count and a gauge above baseline, then it has both shutdown findings', () => {
    const kinds = view.findings.map((f: any) => f.kind);
    expect(kinds).toContain('pending_not_at_baseline');
    expect(kinds).toContain('resource_not_released');
    expect(view.pending.map((p: any) => p.count)).toEqual([9, 6, 3, 2]);
  });

  it('when a swallowed task names its catch site, then the API returns it', () => {
    expect(verdictOf('swallower').swallowSite).toMatchObject({ filepath: '/srv/app/swallower.ts', lineno: 42 });
    expect(verdictOf('swallower').code).toMatchObject({ filepath: '/srv/app/swallower.ts', lineno: 10 });
  });

  it('when the list is read, then the shutdown carries its service, instance and counts', async () => {
    const [row] = await getJson<any[]>(served, '/api/shutdowns');
    expect(row).toMatchObject({ service: 'checkout', instance, reason: 'SIGTERM', outcome: 'survivors' });
    expect(row.counts.swallowed).toBeGreaterThanOrEqual(3);
    expect(typeof row.start).toBe('string');
  });

  it('when /api/tasks is filtered by verdict, then only those tasks come back', async () => {
    const page = await getJson(served, '/api/tasks?verdict=swallowed&service=checkout');
    expect(page.tasks.length).toBeGreaterThan(0);
    expect(page.tasks.every((t: any) => t.verdict === 'swallowed')).toBe(true);
    expect(page.tasks.map((t: any) => t.name)).toContain('swallower');
  });
});
