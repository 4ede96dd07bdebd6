import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { byName, shutdownOf as pollShutdown, tasksOf as pollTasks } from './pollViews.js';
import { pythonExampleLine as lineOf, runPythonExample as runExample } from './runPythonExample.js';
import { getJson, type Served, startServe, waitFor } from './serve.js';

/** H1's grace period between SIGTERM and SIGKILL, in milliseconds (snapshots come every second). */
const H1_GRACE_MILLIS = 2_500;

/** Tasks of the scale program, its run bound and how long its spans may take to be stored, in milliseconds. */
const SCALE_TASKS = 20_000;
const SCALE_RUN_MILLIS = 120_000;
const SCALE_ARRIVAL_MILLIS = 60_000;

/** A service name no other test uses. */
const serviceFor = (tag: string) => `py-${tag}-${randomUUID().slice(0, 8)}`;

type Task = {
  name: string;
  verdict: string;
  finalState?: string;
  snapshot: boolean;
  findings: { kind: string }[];
  swallowSite?: { filepath?: string; lineno?: number; function?: string; stack?: string };
  code: { filepath?: string; lineno?: number; function?: string };
  events: { name: string; time: string; attributes: Record<string, unknown> }[];
  attributes: Record<string, unknown>;
};
type ShutdownSummary = { id: string; reason: string; outcome: string; open: boolean; counts: Record<string, number> };
type ShutdownView = {
  shutdown: { reason: string; open: boolean; outcome?: string; attributes: Record<string, unknown> };
  tasks: Task[];
  pending: { t: string; count: number }[];
  pendingBaseline: number;
  gauges: { name: string; baseline: number; samples: { t: string; value: number }[] }[];
  findings: { kind: string }[];
  warnings: { t: string; message: string }[];
};

const kinds = (findings: { kind: string }[]) => findings.map((f) => f.kind);

describe('Python recorder (python -m canceltrace) against canceltrace serve', () => {
  let served: Served;

  beforeAll(async () => {
    served = await startServe();
  });
  afterAll(async () => {
    await served?.stop();
  });

  /** Polls the task list of a service until `ready` holds for it. */
  const tasksOf = (service: string, ready: (tasks: Task[]) => boolean = (t) => t.length > 0) => pollTasks<Task>(served, service, ready, 15_000);

  /** Polls until a shutdown of the service matches `ready`, then returns its full view. */
  const shutdownOf = (service: string, ready: (s: ShutdownSummary, view: ShutdownView) => boolean = () => true) =>
    pollShutdown<ShutdownSummary, ShutdownView>(served, service, ready, 15_000);

  it('P1: when a worker returns from its except CancelledError block, then it is swallowed with the catch site', async () => {
    const service = serviceFor('p1');
    const run = await runExample('p01_swallow_return.py', { endpoint: served.otlpUrl, service });
    expect(run.code).toBe(0);
    const sd = await shutdownOf(service, (s) => (s.counts.swallowed ?? 0) > 0);
    expect(sd.summary.reason).toBe('main_returned');
    const worker = byName(sd.tasks, 'queue-worker');
    expect(worker.verdict).toBe('swallowed');
    expect(worker.finalState).toBe('completed');
    expect(worker.swallowSite?.filepath).toMatch(/p01_swallow_return\.py$/);
    expect(worker.swallowSite?.lineno).toBe(lineOf('p01_swallow_return.py', '# P1: the cancellation is caught here'));
    expect(worker.swallowSite?.function).toBe('worker');
    expect(worker.code.lineno).toBe(lineOf('p01_swallow_return.py', 'asyncio.create_task(worker(queue)'));
  });

  it('P2: when the worker catches BaseException without re-raising, then it is swallowed', async () => {
    const service = serviceFor('p2');
    expect((await runExample('p02_swallow_baseexception.py', { endpoint: served.otlpUrl, service })).code).toBe(0);
    const poller = byName(await tasksOf(service), 'poller');
    expect(poller.verdict).toBe('swallowed');
    expect(poller.swallowSite?.lineno).toBe(lineOf('p02_swallow_baseexception.py', '# P2: also catches CancelledError'));
  });

  it('P3: when cleanup is a try/finally, then the task is cancelled with its cleanup ok', async () => {
    const service = serviceFor('p3');
    expect((await runExample('p03_try_finally.py', { endpoint: served.otlpUrl, service })).code).toBe(0);
    const session = byName(await tasksOf(service), 'session');
    expect(session.verdict).toBe('cancelled');
    expect(session.findings).toEqual([]);
    const end = session.events.find((e) => e.name === 'task.cleanup.end');
    expect(end?.attributes['cleanup.outcome']).toBe('ok');
  });

  it('P4: when the except block re-raises, then the task is cancelled', async () => {
    const service = serviceFor('p4');
    const run = await runExample('p04_reraise.py', { endpoint: served.otlpUrl, service });
    expect(run.stdout).toContain('importer cancelled=True tx=rolled back');
    const importer = byName(await tasksOf(service), 'importer');
    expect(importer.verdict).toBe('cancelled');
    expect(importer.findings).toEqual([]);
  });

  it('P5: when a shielded, bounded flush completes, then the writer is cancelled and the shield ok', async () => {
    const service = serviceFor('p5');
    const run = await runExample('p05_bounded_shield_ok.py', { endpoint: served.otlpUrl, service });
    expect(run.stdout).toContain('writer cancelled=True stored=True buffered=0');
    const writer = byName(await tasksOf(service), 'writer');
    expect(writer.verdict).toBe('cancelled');
    expect(writer.findings).toEqual([]);
    expect(writer.events.find((e) => e.name === 'task.shield.end')?.attributes['shield.outcome']).toBe('ok');
  });

  it('P6: when the shielded flush hangs, then the writer is cancelled with cleanup_timeout and the drain ends', async () => {
    const service = serviceFor('p6');
    const run = await runExample('p06_bounded_shield_hang.py', { endpoint: served.otlpUrl, service });
    expect(run.code).toBe(0);
    expect(run.millis).toBeLessThan(10_000);
    const writer = byName(await tasksOf(service), 'writer');
    expect(writer.verdict).toBe('cancelled');
    expect(kinds(writer.findings)).toContain('cleanup_timeout');
  });

  it('P7: when a deadline re-cancels an unshielded await in finally, then cleanup_interrupted is found', async () => {
    const service = serviceFor('p7');
    const run = await runExample('p07_cleanup_interrupted.py', { endpoint: served.otlpUrl, service, sigterm: true });
    expect(run.code).toBe(0);
    const sd = await shutdownOf(service, (s) => !s.open);
    expect(sd.summary.reason).toBe('SIGTERM');
    const uploader = byName(sd.tasks, 'uploader');
    expect(uploader.verdict).toBe('cancelled');
    expect(kinds(uploader.findings)).toContain('cleanup_interrupted');
  });

  it('P8: when a loop keeps swallowing cancels, then it is a survivor with its stack and the pending count stays up', async () => {
    const service = serviceFor('p8');
    const run = await runExample('p08_survivor_loop.py', { endpoint: served.otlpUrl, service, sigterm: true });
    expect(run.code).toBe(3); // the program's own watchdog
    const sd = await shutdownOf(service, (_, v) => v.tasks.some((t) => t.name === 'poller'));
    expect(sd.summary.reason).toBe('SIGTERM');
    expect(sd.shutdown.open).toBe(true);
    const poller = byName(sd.tasks, 'poller');
    expect(poller.verdict).toBe('survivor');
    expect(poller.snapshot).toBe(true);
    expect(poller.swallowSite?.lineno).toBe(lineOf('p08_survivor_loop.py', 'except asyncio.CancelledError:'));
    const stack = poller.events.find((e) => e.name === 'task.stack');
    expect(String(stack?.attributes['task.stack'])).toContain('in poller');
    expect(kinds(sd.findings)).toContain('pending_not_at_baseline');
    expect(sd.pendingBaseline).toBe(0);
    expect(sd.pending.at(-1)?.count).toBe(1);
  });

  it('P9: when a task is left pending as its loop closes, then it is destroyed with the loop warning', async () => {
    const service = serviceFor('p9');
    const run = await runExample('p09_orphan_destroyed.py', { endpoint: served.otlpUrl, service });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('Task was destroyed but it is pending!');
    const sd = await shutdownOf(service, (_, v) => v.warnings.length > 0 && v.tasks.some((t) => t.finalState === 'destroyed'));
    expect(sd.summary.reason).toBe('loop_closed');
    expect(byName(sd.tasks, 'heartbeat').verdict).toBe('destroyed');
    expect(sd.warnings.map((w) => w.message)).toContain('Task was destroyed but it is pending!');
  });

  it('P10: when uncancel() absorbs a cancel, then the task is swallowed with uncancel_misuse', async () => {
    const service = serviceFor('p10');
    expect((await runExample('p10_uncancel_misuse.py', { endpoint: served.otlpUrl, service })).code).toBe(0);
    const fetch = byName(await tasksOf(service), 'fetch-page');
    expect(fetch.verdict).toBe('swallowed');
    expect(kinds(fetch.findings)).toContain('uncancel_misuse');
  });

  it('P11: when a TaskGroup child swallows while its sibling fails, then the group owner is group_blocked', async () => {
    const service = serviceFor('p11');
    const run = await runExample('p11_taskgroup_swallow.py', { endpoint: served.otlpUrl, service, sigterm: true });
    expect(run.code).toBe(0);
    const sd = await shutdownOf(service, (s) => (s.counts.swallowed ?? 0) > 0);
    const child = byName(sd.tasks, 'flaky-cache');
    expect(child.verdict).toBe('swallowed');
    expect(child.attributes['task.group_id']).toBeTruthy();
    expect(kinds(byName(sd.tasks, 'request').findings)).toContain('group_blocked');
  });

  it('P12: when asyncio.timeout expires inside a task that handles it, then nothing is flagged', async () => {
    const service = serviceFor('p12');
    const run = await runExample('p12_timeout_handled.py', { endpoint: served.otlpUrl, service });
    expect(run.stdout).toContain('lookup=cached');
    const lookup = byName(await tasksOf(service), 'lookup');
    expect(['finished', 'cancelled']).toContain(lookup.verdict);
    expect(lookup.findings).toEqual([]);
    const uncancel = lookup.events.find((e) => e.name === 'task.uncancel');
    expect(uncancel?.attributes['uncancel.handoff']).toBe(true);
  });

  it('P13: when cleanup raises a different error on the cancel path, then the task is replaced', async () => {
    const service = serviceFor('p13');
    expect((await runExample('p13_replaced.py', { endpoint: served.otlpUrl, service })).code).toBe(0);
    const holder = byName(await tasksOf(service), 'lease-holder');
    expect(holder.verdict).toBe('replaced');
    expect(holder.finalState).toBe('failed');
  });

  it('P14: when swallowed cancels leak pool connections, then the pool gauge is resource_not_released', async () => {
    const service = serviceFor('p14');
    const run = await runExample('p14_pool_leak.py', { endpoint: served.otlpUrl, service });
    expect(run.stdout).toContain('after shutdown: 3 connection(s) still in use');
    const sd = await shutdownOf(service, (s) => (s.counts.swallowed ?? 0) === 3);
    expect(sd.summary.counts.cancelled).toBe(3);
    expect(kinds(sd.findings)).toContain('resource_not_released');
    const gauge = sd.gauges.find((g) => g.name === 'db.pool.in_use');
    expect(gauge?.baseline).toBe(0);
    expect(gauge?.samples.at(-1)?.value).toBe(3);
  });

  it('P15: when 1,000 well-behaved workers are shut down, then all are cancelled and the pending count falls to 0', async () => {
    const service = serviceFor('p15');
    const run = await runExample('p15_clean_1000.py', { endpoint: served.otlpUrl, service, sigterm: true });
    expect(run.code).toBe(0);
    const sd = await shutdownOf(service, (s) => (s.counts.cancelled ?? 0) === 1000);
    expect(sd.summary.reason).toBe('SIGTERM');
    expect(sd.summary.outcome).toBe('clean');
    expect(sd.summary.counts.swallowed ?? 0).toBe(0);
    expect(sd.summary.counts.survivor ?? 0).toBe(0);
    expect(sd.pending[0]?.count).toBe(1000);
    expect(sd.pending.at(-1)?.count).toBe(0);
    expect(sd.findings).toEqual([]);
  });

  it('H1: when a hung shutdown is killed by SIGKILL, then the snapshots already hold the survivor', async () => {
    const service = serviceFor('h1');
    const run = await runExample('h1_hang_then_sigkill.py', {
      endpoint: served.otlpUrl,
      service,
      sigterm: true,
      killAfterMillis: H1_GRACE_MILLIS,
    });
    expect(run.signal).toBe('SIGKILL');
    const sd = await shutdownOf(service, (_, v) => v.tasks.some((t) => t.name === 'poller'));
    expect(sd.shutdown.open).toBe(true);
    expect(sd.summary.outcome).toBe('open');
    const poller = byName(sd.tasks, 'poller');
    expect(poller.verdict).toBe('survivor');
    expect(poller.snapshot).toBe(true);
    expect(poller.events.some((e) => e.name === 'task.stack')).toBe(true);
    expect(sd.shutdown.attributes['shutdown.reason']).toBe('SIGTERM');
  });

  it('H2: when the collector is down during the shutdown and comes back, then the app is unaffected and the data arrives', async () => {
    const port = await reservePort();
    const service = serviceFor('h2');
    const plain = await runExample('h2_collector_down.py');
    const pending = runExample('h2_collector_down.py', { endpoint: `http://127.0.0.1:${port}`, service });
    await new Promise((r) => setTimeout(r, 800)); // the shutdown starts at 0.5 s with nobody listening
    const proxy = await forward(port, served.otlpUrl);
    try {
      const run = await pending;
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(plain.stdout);
      expect(run.stderr).toBe('');
      expect(run.millis).toBeLessThan(plain.millis + 4_000);
      const reporter = byName(await tasksOf(service), 'reporter');
      expect(reporter.verdict).toBe('swallowed');
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });

  it('when 20,000 tasks are cancelled at once, then every span arrives over OTLP and in --output, the final shutdown span last', async () => {
    const service = serviceFor('scale');
    const output = join(mkdtempSync(join(tmpdir(), 'canceltrace-py-')), 'spans.jsonl');
    const run = await runExample('scale_tasks.py', { endpoint: served.otlpUrl, service, output, runTimeoutMillis: SCALE_RUN_MILLIS });
    expect({ code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({ code: 0, stdout: '20000 workers started\n', stderr: '' });
    // the summary's counts only (the full view of 20,000 tasks is not fetched on every poll)
    const summary = await waitFor(
      async () => {
        const list = await getJson<ShutdownSummary[]>(served, `/api/shutdowns?service=${encodeURIComponent(service)}`);
        return list.find((s) => !s.open && (s.counts.cancelled ?? 0) === SCALE_TASKS);
      },
      SCALE_ARRIVAL_MILLIS,
      `${SCALE_TASKS} cancelled tasks of ${service}`,
    );
    expect(summary.outcome).toBe('clean');
    expect(summary.counts.survivor ?? 0).toBe(0);

    const spans = readFileSync(output, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .flatMap((line) => JSON.parse(line).resourceSpans[0].scopeSpans[0].spans as { name: string; attributes: { key: string }[] }[]);
    const isTask = (s: { attributes: { key: string }[] }) => s.attributes.some((a) => a.key === 'task.kind');
    expect(new Set(spans.filter(isTask).map((s) => s.name)).size).toBe(SCALE_TASKS);
    const last = spans.at(-1) as { name: string; attributes: { key: string; value: Record<string, unknown> }[] } | undefined;
    expect(last?.name).toBe('shutdown');
    expect(last?.attributes.find((a) => a.key === 'canceltrace.spans_dropped')?.value).toEqual({ intValue: '0' });
  }, 180_000);

  it('when a program runs with and without the recorder, then its exit code and stdout are the same', async () => {
    for (const file of ['p01_swallow_return.py', 'p13_replaced.py', 'p14_pool_leak.py']) {
      const plain = await runExample(file);
      const recorded = await runExample(file, { endpoint: served.otlpUrl, service: serviceFor('same') });
      expect({ file, code: recorded.code, stdout: recorded.stdout }).toEqual({ file, code: plain.code, stdout: plain.stdout });
    }
  });
});

/** A port nobody listens on now (bound, then released). */
async function reservePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  return port;
}

/** Starts forwarding HTTP on `port` to `target` (the collector "comes back" there). */
async function forward(port: number, target: string): Promise<http.Server> {
  const proxy = http.createServer((req, res) => {
    const upstream = http.request(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r));
  return proxy;
}
