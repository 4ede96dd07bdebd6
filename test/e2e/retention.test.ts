import { spawnSync } from 'node:child_process';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, getJson, type Served, startServe, waitFor } from './serve.js';

const DAY_MS = 86_400_000;

/** Sends one shutdown with one task, `ageDays` old; returns its trace id. */
async function sendShutdown(served: Served, ageDays: number, instance: string): Promise<string> {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'archive', 'service.instance.id': instance }),
    spanProcessors: [new SimpleSpanProcessor(new ProtoExporter({ url: `${served.otlpUrl}/v1/traces` }))],
  });
  const tracer = provider.getTracer('canceltrace', '0.1.0');
  const t0 = Date.now() - ageDays * DAY_MS;
  const shutdown = tracer.startSpan('shutdown', { startTime: t0, attributes: { 'shutdown.reason': 'SIGTERM', 'shutdown.outcome': 'clean' } });
  tracer.startSpan('worker', { startTime: t0 - 1000, attributes: { 'task.kind': 'node', 'task.final_state': 'cancelled' } }).end(t0 + 50);
  shutdown.end(t0 + 100);
  await provider.forceFlush();
  await provider.shutdown();
  return shutdown.spanContext().traceId;
}

describe('canceltrace serve --retention', () => {
  let served: Served;
  beforeAll(async () => {
    served = await startServe({ args: ['--retention', '14d'] });
  });
  afterAll(async () => {
    await served?.stop();
  });

  it('when shutdowns older than the retention are stored, then the first sweep deletes them and keeps the recent ones', async () => {
    await sendShutdown(served, 30, 'old');
    await sendShutdown(served, 1, 'recent');
    // A sweep deletes shutdowns first and their tasks in a later batch: wait for the whole sweep.
    const health = await waitFor(
      async () => {
        const h = await getJson<{ spans: number; tasks: number; shutdowns: number }>(served, '/api/health');
        return h.shutdowns === 1 && h.spans === 2 ? h : undefined;
      },
      30_000,
      'the first retention sweep',
    );
    expect(health).toMatchObject({ spans: 2, tasks: 1, shutdowns: 1 });
    const left = await getJson<any[]>(served, '/api/shutdowns');
    expect(left.map((r) => r.instance)).toEqual(['recent']);
    const metrics = await (await fetch(`${served.uiUrl}/metrics`)).text();
    expect(metrics).toMatch(/^canceltrace_retention_deleted_spans_total\{role="shutdown"\} 1$/m);
    expect(metrics).toMatch(/^canceltrace_retention_deleted_spans_total\{role="task"\} 1$/m);
  });
});

describe('canceltrace serve with a bad retention', () => {
  it.each([
    ['--retention', ['--retention', '14'], {}],
    ['CANCELTRACE_RETENTION', [], { CANCELTRACE_RETENTION: 'two weeks' }],
  ])('when %s is not a period, then it exits 2 and says what is expected', (_label, args, env) => {
    const run = spawnSync(process.execPath, [CLI, 'serve', '--otlp-port', '0', '--ui-port', '0', '--grpc-port', '0', '--db', ':memory:', ...args], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--retention: retention must be a whole number with a unit s, m, h, d or w/);
  });
});
