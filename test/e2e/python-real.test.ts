import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { byName, shutdownOf as pollShutdown, tasksOf as pollTasks } from './pollViews.js';
import { pythonExampleLine as lineOf, REAL_LIBRARIES, runPythonExample, VENV_PYTHON } from './runPythonExample.js';
import { type Served, startServe } from './serve.js';

/** Grace between SIGTERM and SIGKILL for the hung service, in milliseconds (snapshots come every second). */
const HANG_GRACE_MILLIS = 2_500;
/** Bound on one poll of the API for a program's spans, in milliseconds. */
const ARRIVAL_TIMEOUT_MILLIS = 15_000;

type Task = {
  name: string;
  verdict: string;
  finalState?: string;
  snapshot: boolean;
  findings: { kind: string }[];
  swallowSite?: { filepath?: string; lineno?: number; function?: string };
  attributes: Record<string, unknown>;
};
type ShutdownSummary = { id: string; reason: string; outcome: string; open: boolean; counts: Record<string, number> };
type ShutdownView = { shutdown: { open: boolean; attributes: Record<string, unknown> }; tasks: Task[]; pending: { count: number }[] };

const serviceFor = (tag: string) => `py-real-${tag}-${randomUUID().slice(0, 8)}`;
const run = (file: string, opts: Parameters<typeof runPythonExample>[1] = {}) => runPythonExample(`real/${file}`, { python: VENV_PYTHON, ...opts });

describe('Python recorder on programs built on real libraries (anyio 4, httpx, Starlette, uvicorn, aiohttp)', () => {
  let served: Served;

  beforeAll(async () => {
    // A missing library fails these tests (it never skips them): .ci/run installs them.
    const probe = spawnSync(VENV_PYTHON, ['-c', `import ${REAL_LIBRARIES.join(', ')}`], { encoding: 'utf8' });
    if (probe.status !== 0) {
      throw new Error(`the real libraries are missing from ${VENV_PYTHON} (run .ci/run's venv step): ${probe.error?.message ?? probe.stderr}`);
    }
    served = await startServe();
  });
  afterAll(async () => {
    await served?.stop();
  });

  const tasksOf = (service: string, ready: (tasks: Task[]) => boolean) => pollTasks<Task>(served, service, ready, ARRIVAL_TIMEOUT_MILLIS);
  const shutdownOf = (service: string, ready: (s: ShutdownSummary, v: ShutdownView) => boolean) =>
    pollShutdown<ShutdownSummary, ShutdownView>(served, service, ready, ARRIVAL_TIMEOUT_MILLIS);

  it("when anyio's and httpx's own scopes time out and hand their cancel back, then those tasks are finished and only the shutdown's swallow is flagged", async () => {
    const service = serviceFor('anyio');
    const plain = await run('anyio_scopes.py');
    const recorded = await run('anyio_scopes.py', { endpoint: served.otlpUrl, service });
    expect({ code: recorded.code, stdout: recorded.stdout }).toEqual({ code: plain.code, stdout: plain.stdout });
    expect(plain.stdout).toContain('results: moved on, timed out, scope cancelled, read timeout');

    const names = ['mover', 'failer', 'self-cancel', 'http-client'];
    const tasks = await tasksOf(service, (ts) => names.every((n) => ts.some((t) => t.name === n)));
    for (const name of names) {
      const t = byName(tasks, name);
      expect({ name, verdict: t.verdict, findings: t.findings }).toEqual({ name, verdict: 'finished', findings: [] });
    }
    const sd = await shutdownOf(service, (s) => !s.open && (s.counts.swallowed ?? 0) > 0);
    expect(sd.summary.reason).toBe('main_returned');
    const poller = byName(sd.tasks, 'poller');
    expect(poller.verdict).toBe('swallowed');
    expect(poller.findings.map((f) => f.kind)).not.toContain('uncancel_misuse');
    expect(poller.swallowSite?.lineno).toBe(lineOf('real/anyio_scopes.py', '# SWALLOW'));
    expect(sd.shutdown.attributes['canceltrace.spans_dropped']).toBe(0);
  });

  it('when uvicorn handles SIGTERM with signal.signal and drains, then a SIGTERM shutdown opens and its drivers are judged by their own end', async () => {
    const service = serviceFor('uvicorn');
    const plain = await run('uvicorn_service.py', { args: ['clean'], sigterm: true });
    const recorded = await run('uvicorn_service.py', { args: ['clean'], sigterm: true, endpoint: served.otlpUrl, service });
    expect({ code: recorded.code, signal: recorded.signal, stdout: recorded.stdout }).toEqual({ code: plain.code, signal: plain.signal, stdout: plain.stdout });
    expect(plain.stdout).toContain('lifespan: worker stopped');

    const sd = await shutdownOf(service, (s) => !s.open && s.reason === 'SIGTERM');
    expect(sd.summary.outcome).toBe('clean');
    expect(byName(sd.tasks, 'cache-refresher').verdict).toBe('cancelled');
    const main = sd.tasks.find((t) => t.attributes['task.main'] === true);
    expect(main?.verdict).toBe('finished');
    expect(sd.tasks.filter((t) => t.verdict !== 'cancelled' && t.verdict !== 'finished')).toEqual([]);
    expect(sd.pending.at(-1)?.count).toBe(0);
    // Starlette's streaming response cancels its own task group and hands the cancel back
    const streamed = (await tasksOf(service, (ts) => ts.some((t) => t.name === 'client'))).filter((t) => t.verdict !== 'cancelled');
    expect(streamed.map((t) => t.verdict).filter((v) => v !== 'finished')).toEqual([]);
  });

  it('when aiohttp run_app takes SIGTERM and its cleanup context cancels a background task, then the drain is clean and the handled timeout finished', async () => {
    const service = serviceFor('aiohttp');
    const plain = await run('aiohttp_service.py', { sigterm: true });
    const recorded = await run('aiohttp_service.py', { sigterm: true, endpoint: served.otlpUrl, service });
    expect({ code: recorded.code, signal: recorded.signal, stdout: recorded.stdout }).toEqual({ code: plain.code, signal: plain.signal, stdout: plain.stdout });
    expect(plain.stdout).toContain('cleanup: flusher stopped');

    const sd = await shutdownOf(service, (s) => !s.open && s.reason === 'SIGTERM');
    expect(sd.summary.outcome).toBe('clean');
    expect(byName(sd.tasks, 'metrics-flusher').verdict).toBe('cancelled');
    expect(sd.tasks.filter((t) => !['cancelled', 'finished'].includes(t.verdict)).map((t) => `${t.name}: ${t.verdict}`)).toEqual([]);
    const probe = byName(await tasksOf(service, (ts) => ts.some((t) => t.name === 'probe')), 'probe');
    expect({ verdict: probe.verdict, findings: probe.findings }).toEqual({ verdict: 'finished', findings: [] });
  });

  it('when the lifespan shutdown hangs on a worker and the process is then SIGKILLed, then the snapshots hold the survivor and no driver is an orphan', async () => {
    const service = serviceFor('uvicorn-hang');
    const killed = await run('uvicorn_service.py', {
      args: ['hang'],
      sigterm: true,
      killAfterMillis: HANG_GRACE_MILLIS,
      endpoint: served.otlpUrl,
      service,
    });
    expect(killed.signal).toBe('SIGKILL');
    const sd = await shutdownOf(service, (s, v) => s.reason === 'SIGTERM' && v.tasks.some((t) => t.name === 'cache-refresher'));
    expect(sd.shutdown.open).toBe(true);
    const worker = byName(sd.tasks, 'cache-refresher');
    expect(worker.verdict).toBe('survivor');
    expect(worker.snapshot).toBe(true);
    expect(sd.tasks.filter((t) => t.verdict === 'orphan').map((t) => t.name)).toEqual([]);
    expect(sd.tasks.find((t) => t.attributes['task.main'] === true)?.verdict).toBe('finished');
    expect(sd.pending.at(-1)?.count).toBe(1);
  });
});
