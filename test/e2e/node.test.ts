import { type AddressInfo, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_TIMEOUT_MS, runConsumerScript, runNodeExample as runExample } from './runNodeExample.js';
import { getJson, type Served, startServe, waitFor } from './serve.js';

/** Export bound of the apps whose exporter never answers: far below the run guard (EXIT_TIMEOUT_MS). */
const HUNG_EXPORT_BOUND_MS = 300;
/** N3's grace period before SIGKILL: longer than one snapshot interval (1 s) of the shutdown. */
const N3_GRACE_MS = 2_500;

interface Task {
  name: string;
  verdict: string;
  finalState: string;
  snapshot: boolean;
  code: { filepath?: string; lineno?: number };
  events: { name: string; attributes: Record<string, unknown> }[];
  findings: { kind: string }[];
}
interface ShutdownView {
  shutdown: { open: boolean; outcome?: string; reason: string };
  tasks: Task[];
  findings: { kind: string; detail?: Record<string, unknown> }[];
  pending: { t: string; count: number }[];
}

/** The shutdown of an example's service once its task has arrived (and, unless `open`, its end). */
async function shutdownOf(served: Served, service: string, open = false): Promise<ShutdownView> {
  return waitFor(
    async () => {
      const list = await getJson<{ id: string; open: boolean }[]>(served, `/api/shutdowns?service=${service}`);
      const first = list[0];
      if (!first || first.open !== open) return undefined;
      const view = await getJson<ShutdownView>(served, `/api/shutdowns/${first.id}`);
      return view.tasks.length > 0 ? view : undefined;
    },
    15_000,
    `the shutdown of ${service}`,
  );
}

let served: Served;
beforeAll(async () => {
  served = await startServe();
});
afterAll(async () => {
  await served?.stop();
});

describe('Node examples against canceltrace serve', () => {
  it('N1: when the catch resolves after the abort, then the task is swallowed', async () => {
    const ran = await runExample('n1-swallow', served.otlpUrl);
    expect(ran.code, ran.output).toBe(0);
    const view = await shutdownOf(served, 'example-n1-swallow');
    const [task] = view.tasks;
    expect(task, JSON.stringify(view)).toMatchObject({ name: 'queue-poller', verdict: 'swallowed', finalState: 'completed' });
    expect(task.code.filepath).toMatch(/n1-swallow\.js$/);
    expect(task.events.map((e) => e.name)).toContain('task.cancel_requested');
    expect(view.shutdown).toMatchObject({ reason: 'SIGTERM', open: false, outcome: 'clean' });
  });

  it('N2: when the task rethrows the abort after its cleanup, then it is cancelled with the cleanup ok', async () => {
    const ran = await runExample('n2-rethrow', served.otlpUrl);
    expect(ran.code, ran.output).toBe(0);
    const view = await shutdownOf(served, 'example-n2-rethrow');
    const [task] = view.tasks;
    expect(task).toMatchObject({ name: 'upload-stream', verdict: 'cancelled', finalState: 'cancelled' });
    const end = task.events.find((e) => e.name === 'task.cleanup.end');
    expect(end?.attributes).toMatchObject({ 'cleanup.name': 'close-upload', 'cleanup.outcome': 'ok' });
    expect(task.findings).toEqual([]);
  });

  it('N3: when the task ignores its signal and the process is SIGKILLed after its grace, then the survivor is still in the collector', async () => {
    const ran = await runExample('n3-ignore', served.otlpUrl, { line: 'draining', ms: N3_GRACE_MS });
    expect(ran.signal, ran.output).toBe('SIGKILL');
    const view = await shutdownOf(served, 'example-n3-ignore', true);
    const [task] = view.tasks;
    expect(task).toMatchObject({ name: 'heartbeat', verdict: 'survivor', finalState: 'pending', snapshot: true });
    expect(task.events.map((e) => e.name)).toContain('task.cancel_requested');
    expect(view.shutdown.open).toBe(true);
    expect(view.findings.map((f) => f.kind)).toContain('pending_not_at_baseline');
    expect(view.pending.at(-1)?.count).toBe(1);
  });

  it('N4: when the cleanup throws another error after the abort, then the task is replaced', async () => {
    const ran = await runExample('n4-replace', served.otlpUrl);
    expect(ran.code, ran.output).toBe(0);
    const view = await shutdownOf(served, 'example-n4-replace');
    const [task] = view.tasks;
    expect(task).toMatchObject({ name: 'transfer-funds', verdict: 'replaced', finalState: 'failed' });
    const exception = task.events.find((e) => e.name === 'exception');
    expect(String(exception?.attributes['exception.message'])).toContain('rollback failed');
  });

  it('N5: when a socket and a timer outlive the drain, then the shutdown reports resource_not_released', async () => {
    const ran = await runExample('n5-handles', served.otlpUrl);
    expect(ran.code, ran.output).toBe(0);
    const view = await shutdownOf(served, 'example-n5-handles');
    expect(view.tasks[0]).toMatchObject({ name: 'metrics-pusher', verdict: 'cancelled' });
    const leaked = view.findings.filter((f) => f.kind === 'resource_not_released').map((f) => f.detail?.resource);
    expect(leaked).toEqual(expect.arrayContaining(['active.Timeout', 'active.TCPSocketWrap']));
    expect(leaked).not.toContain('active.TCPServerWrap');
  });
});

describe('installShutdownHooks against canceltrace serve', () => {
  it('when an app without a SIGTERM handler gets SIGTERM, then it still dies of the signal and its shutdown is recorded', async () => {
    const ran = await runExample('sigterm-hooks', served.otlpUrl);
    expect(ran.signal, ran.output).toBe('SIGTERM');
    const view = await shutdownOf(served, 'example-sigterm-hooks');
    expect(view.shutdown).toMatchObject({ reason: 'SIGTERM', open: false, outcome: 'survivors' });
    expect(view.tasks[0]).toMatchObject({ name: 'job-consumer', verdict: 'orphan' });
  });
});

describe('Node instrumentation with the collector down', () => {
  it('when nothing listens at the endpoint, then the example still shuts down and exits on its own', async () => {
    const closed = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => closed.once('listening', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const ran = await runExample('n1-swallow', `http://127.0.0.1:${port}`);
    expect(ran.code, ran.output).toBe(0);
    expect(ran.output).toContain('poller resolved with: stopped');
    expect(ran.ms).toBeLessThan(EXIT_TIMEOUT_MS);
  });

  it('when nothing listens and the export bound is long, then the app still exits by the exit bound, not the export bound', async () => {
    const port = await deadPort();
    // Before the exit bound, each export here retried for up to 30 s and the awaited end and shutdown held the app that long.
    const ran = await runConsumerScript(`
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { SnapshotSpanProcessor, beginShutdown, runTask } from 'canceltrace/node';
const processor = new SnapshotSpanProcessor({ url: 'http://127.0.0.1:${port}', exportTimeoutMillis: 30000, flushTimeoutMillis: 30000, exitTimeoutMillis: 500 });
const provider = new NodeTracerProvider({ spanProcessors: [processor] });
provider.register();
await runTask('job', async () => 7);
await beginShutdown('manual').end();
await provider.shutdown();
console.log('app done');
`);
    expect(ran.output).toContain('app done');
    expect(ran.code, ran.output).toBe(0);
    expect(ran.ms).toBeLessThan(EXIT_TIMEOUT_MS);
  });
});

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const closed = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => closed.once('listening', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  return port;
}

/**
 * An app that uses canceltrace/node with a misbehaving exporter: it awaits a task, the shutdown's
 * end and the provider's shutdown at top level, then prints its last line. Nothing else keeps the
 * process alive, so only the telemetry's own bounds decide whether the awaits return.
 */
function appWithExporter(exportBody: string, shutdownBody: string): string {
  return `
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { trace } from '@opentelemetry/api';
import { SnapshotSpanProcessor, beginShutdown, runTask } from 'canceltrace/node';
const exporter = {
  export(spans, done) { ${exportBody} },
  shutdown() { ${shutdownBody} },
};
const processor = new SnapshotSpanProcessor({ exporter, exportTimeoutMillis: 200, flushTimeoutMillis: 400 });
const provider = new BasicTracerProvider({ spanProcessors: [processor] });
trace.setGlobalTracerProvider(provider);
const value = await runTask('job', async () => 7);
await beginShutdown('manual').end();
await provider.shutdown();
console.log('app done with ' + value);
`;
}

describe('canceltrace/node in an app whose exporter misbehaves', () => {
  it('when the async export rejects, then the app neither crashes nor notices and exits 0', async () => {
    const ran = await runConsumerScript(appWithExporter("return Promise.reject(new Error('export rejected'));", 'return Promise.resolve();'));
    expect(ran.output).toContain('app done with 7');
    expect(ran.code, ran.output).toBe(0);
  });

  it('when the exporter never answers, then the awaited end and shutdown return within their bounds and the app goes on', async () => {
    const ran = await runConsumerScript(appWithExporter('/* never calls done */', 'return new Promise(() => {});'));
    expect(ran.output).toContain('app done with 7');
    expect(ran.code, ran.output).toBe(0);
  });

  it('when a shutdown is left open and the exporter never answers, then its periodic snapshots hold the process no longer than one export bound', async () => {
    // The flush bound is longer than the run guard: a snapshot whose flush held the process would end in
    // SIGKILL. Each export is bounded (BatchSpanProcessor keeps the process up while one is in flight).
    const ran = await runConsumerScript(`
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { trace } from '@opentelemetry/api';
import { SnapshotSpanProcessor, beginShutdown, runTask } from 'canceltrace/node';
const exporter = { export() {}, shutdown: () => new Promise(() => {}) };
const processor = new SnapshotSpanProcessor({ exporter, exportTimeoutMillis: ${HUNG_EXPORT_BOUND_MS}, flushTimeoutMillis: ${EXIT_TIMEOUT_MS * 2} });
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [processor] }));
void runTask('stuck', () => new Promise(() => {}));
beginShutdown('manual', { snapshotIntervalMs: 50 });
setTimeout(() => console.log('work done'), 500);
`);
    expect(ran.output).toContain('work done');
    expect(ran.signal, ran.output).toBeNull();
    expect(ran.code, ran.output).toBe(0);
  });
});
