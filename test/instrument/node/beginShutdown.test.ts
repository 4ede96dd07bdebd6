import { once } from 'node:events';
import { type AddressInfo, connect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { addHrTimes, hrTime, millisToHrTime } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ATTR, EVENT } from '../../../contract/contract.js';
import { activeResourceCounts, beginShutdown, currentShutdown } from '../../../instrument/node/src/beginShutdown.js';
import { runTask } from '../../../instrument/node/src/runTask.js';
import { taskHarness } from './taskHarness.js';

let h: ReturnType<typeof taskHarness>;
beforeEach(() => {
  h = taskHarness();
});
afterEach(async () => {
  await h.close();
});

function samples(span: ReadableSpan, event: string, key: string, filter?: (a: Record<string, unknown>) => boolean): number[] {
  return span.events.filter((e) => e.name === event && (!filter || filter(e.attributes ?? {}))).map((e) => Number(e.attributes?.[key]));
}

describe('beginShutdown', () => {
  it('when every task settles, then pending falls to 0, drained is recorded and the outcome is clean', async () => {
    const stop = new AbortController();
    const tasks = [1, 2, 3].map((i) =>
      runTask(`w${i}`, (signal) => sleep(20 * i, undefined, { signal }).catch(() => undefined), { tracer: h.tracer, signal: stop.signal }),
    );
    const shutdown = beginShutdown('manual', { processor: h.processor, tracer: h.tracer, drainTimeoutMs: 5_000 });
    expect(currentShutdown()).toBe(shutdown);
    await Promise.all(tasks);
    await sleep(120);
    await shutdown.end();
    expect(currentShutdown()).toBeUndefined();
    const span = (await h.finished()).find((s) => s.attributes[ATTR.shutdownReason] === 'manual')!;
    expect(span.attributes).toMatchObject({ [ATTR.shutdownOutcome]: 'clean', [ATTR.drainTimeoutMs]: 5_000, [ATTR.pendingBaseline]: 0 });
    const pending = samples(span, EVENT.pending, 'tasks.pending.count');
    expect(pending[0]).toBe(3);
    expect(pending.at(-1)).toBe(0);
    expect(pending).toContain(1); // the drain was watched while it happened, not only at both ends
    expect(span.events.some((e) => e.name === EVENT.drained)).toBe(true);
  });

  it('when a task ignores its abort, then the outcome is survivors and snapshots show both spans open', async () => {
    const stop = new AbortController();
    void runTask('zombie', () => new Promise(() => undefined), { tracer: h.tracer, signal: stop.signal });
    const shutdown = beginShutdown('SIGTERM', { processor: h.processor, tracer: h.tracer, snapshotIntervalMs: 50 });
    stop.abort();
    await sleep(150);
    const snaps = h.exporter.getFinishedSpans().filter((s) => s.attributes[ATTR.snapshot] === true);
    expect(snaps.some((s) => s.name === 'zombie')).toBe(true);
    expect(snaps.some((s) => s.attributes[ATTR.shutdownReason] === 'SIGTERM')).toBe(true);
    await shutdown.end();
    const final = (await h.finished()).find((s) => s.attributes[ATTR.shutdownReason] === 'SIGTERM')!;
    expect(final.attributes[ATTR.shutdownOutcome]).toBe('survivors');
    expect(samples(final, EVENT.pending, 'tasks.pending.count').at(-1)).toBe(1);
    expect(final.events.some((e) => e.name === EVENT.drained)).toBe(false);
  });

  it('when a task span ends with a clock ahead of the shutdown span, then the shutdown still ends after it', async () => {
    // Each span's clock starts from a whole-ms Date.now(): a task that ended first can carry the later time.
    const shutdown = beginShutdown('manual', { processor: h.processor, tracer: h.tracer });
    const task = h.tracer.startSpan('skewed', { attributes: { [ATTR.taskKind]: 'node' } });
    const ahead = addHrTimes(hrTime(), millisToHrTime(50));
    task.end(ahead);
    await shutdown.end();
    const span = (await h.finished()).find((s) => s.attributes[ATTR.shutdownReason] === 'manual')!;
    const ns = (t: [number, number]): bigint => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
    expect(ns(span.endTime)).toBeGreaterThan(ns(ahead));
  });

  it('when the app closes its server and socket just before end(), then the last gauges no longer count them', async () => {
    const accepted: Socket[] = [];
    const server: Server = createNetServer((socket) => void accepted.push(socket)).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    while (accepted.length === 0) await sleep(1);
    const shutdown = beginShutdown('manual', { processor: h.processor, tracer: h.tracer });
    // closed without waiting for their 'close' events, as a drain often does before ending the shutdown
    client.destroy();
    server.close();
    for (const socket of [...accepted]) socket.destroy();
    await shutdown.end();
    const span = (await h.finished()).find((s) => s.attributes[ATTR.shutdownReason] === 'manual')!;
    const last = (name: string): number | undefined => samples(span, EVENT.gauge, 'resource.value', (a) => a['resource.name'] === name).at(-1);
    expect(samples(span, EVENT.gauge, 'resource.value', (a) => a['resource.name'] === 'active.TCPServerWrap')[0]).toBe(1);
    expect(last('active.TCPServerWrap')).toBe(0);
    expect(last('active.TCPSocketWrap')).toBe(0);
  });

  it('when timers are left running during the drain, then the Timeout gauge ends above its baseline', async () => {
    const shutdown = beginShutdown('manual', { processor: h.processor, tracer: h.tracer });
    // Five leaked intervals: the test runner's own short-lived timers can move the count by one or two.
    const leaks = Array.from({ length: 5 }, () => setInterval(() => undefined, 1_000));
    try {
      await sleep(120);
      await shutdown.end();
    } finally {
      for (const leak of leaks) clearInterval(leak);
    }
    const span = (await h.finished()).find((s) => s.attributes[ATTR.shutdownReason] === 'manual')!;
    const timeouts = samples(span, EVENT.gauge, 'resource.value', (a) => a['resource.name'] === 'active.Timeout');
    expect(timeouts.length).toBeGreaterThanOrEqual(2);
    expect(timeouts.at(-1)! - timeouts[0]).toBeGreaterThanOrEqual(3);
    const totals = samples(span, EVENT.gauge, 'resource.value', (a) => a['resource.name'] === 'active.total');
    expect(totals.at(-1)! - totals[0]).toBeGreaterThanOrEqual(3);
  });

  it('when end is called twice, then the span ends once', async () => {
    const shutdown = beginShutdown('manual', { processor: h.processor, tracer: h.tracer });
    await Promise.all([shutdown.end(), shutdown.end()]);
    expect((await h.finished()).filter((s) => s.attributes[ATTR.shutdownReason] === 'manual')).toHaveLength(1);
  });

  it('when samples keep changing, then the span stays within its event budget and keeps the first and last samples', async () => {
    const shutdown = beginShutdown('manual', { processor: h.processor, tracer: h.tracer, eventBudget: 30, sampleIntervalMs: 5 });
    const stop = new AbortController();
    for (let i = 0; i < 40; i++) {
      void runTask(`t${i}`, (signal) => sleep(10_000, undefined, { signal }).catch(() => undefined), { tracer: h.tracer, signal: stop.signal });
      await sleep(6);
    }
    stop.abort();
    await sleep(20);
    await shutdown.end();
    const span = (await h.finished()).find((s) => s.attributes[ATTR.shutdownReason] === 'manual')!;
    expect(span.events.length).toBeLessThanOrEqual(30);
    expect(span.droppedEventsCount).toBe(0);
    const pending = samples(span, EVENT.pending, 'tasks.pending.count');
    expect(pending[0]).toBe(0);
    expect(pending.at(-1)).toBe(0);
  });
});

describe('activeResourceCounts', () => {
  it('when a server listens, then its handle is counted and the total matches', async () => {
    const { createServer } = await import('node:net');
    const server = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const counts = activeResourceCounts();
      expect(counts.get('active.TCPServerWrap')).toBeGreaterThanOrEqual(1);
      const sum = [...counts].filter(([k]) => k !== 'active.total').reduce((n, [, v]) => n + v, 0);
      expect(counts.get('active.total')).toBe(sum);
    } finally {
      server.close();
    }
  });
});
