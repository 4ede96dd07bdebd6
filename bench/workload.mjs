// Realistic task spans for the ingest and judge benchmarks (issue 11): each task span carries the
// contract's attributes plus application ones (10–20 in all) and 2–6 events, as the Python recorder
// sends them; request bodies are written by the official OpenTelemetry serializers.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';

/** Spans per OTLP request, as the issue defines the workload. */
export const SPANS_PER_REQUEST = 512;
/** Distinct coroutine + creation-site pairs. */
const SITES = 24;
const NS_PER_S = 1_000_000_000n;
const MS = 1_000_000n;
const DRAIN_MS = 1_500;
const SERVE_START_TIMEOUT_MS = 30_000;

export const hex = (bytes) => randomBytes(bytes).toString('hex');
const hr = (ns) => [Number(ns / NS_PER_S), Number(ns % NS_PER_S)];

/** A ReadableSpan for the official serializers; `start`, `end` and event times in unix ns (bigint). */
export function readable(traceId, spanId, name, start, end, attributes, events, resource, status = { code: 0 }) {
  const context = { traceId, spanId, traceFlags: 1 };
  return {
    name,
    kind: 0,
    spanContext: () => context,
    parentSpanContext: undefined,
    startTime: hr(start),
    endTime: hr(end),
    duration: hr(end - start),
    status,
    attributes,
    links: [],
    events: events.map((e) => ({ name: e.name, time: hr(e.time), attributes: e.attributes })),
    ended: true,
    resource,
    instrumentationScope: { name: 'canceltrace', version: 'bench' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** The resource of one process of the benchmark fleet. */
export function benchResource(instance) {
  return resourceFromAttributes({
    'service.name': 'bench',
    'service.instance.id': instance,
    'process.pid': 4242,
    'process.runtime.name': 'cpython',
    'telemetry.sdk.language': 'python',
    'telemetry.sdk.name': 'canceltrace',
    'telemetry.sdk.version': '0.1.0',
    'host.name': 'bench-host-01',
  });
}

/**
 * The `i`-th task span of a shutdown starting at `t0` (unix ns): 10–20 attributes, 2–6 events; one in
 * 997 swallows its cancel, one in 4999 survives (a pending snapshot), the rest end cancelled.
 */
export function taskSpan(i, traceId, t0, resource) {
  const at = (ms) => t0 + BigInt(Math.round(ms * 1000)) * 1000n;
  const site = i % SITES;
  const swallowed = i % 997 === 3;
  const survivor = i % 4999 === 7;
  const cancelMs = 5 + (i % 50) / 10;
  const endMs = survivor ? DRAIN_MS + 500 : Math.min(DRAIN_MS, 10 + ((i * 7919) % 1200));
  const attributes = {
    'task.kind': 'asyncio',
    'task.id': String(i),
    'task.name': `worker-${i}`,
    'task.coroutine': `app.workers.handler_${site}`,
    'task.parent_id': '1',
    'task.group_id': `group-${i % 100}`,
    'code.filepath': `/srv/app/workers/handler_${site}.py`,
    'code.lineno': 40 + site,
    'code.function': 'start_workers',
    'task.final_state': survivor ? 'pending' : swallowed ? 'completed' : 'cancelled',
  };
  if (survivor) attributes['task.snapshot'] = true;
  // Application attributes: 0–10 more, so that a span has 10–20.
  const extra = i % 11;
  const app = ['app.tenant', 'app.region', 'http.route', 'db.system', 'messaging.system', 'app.queue', 'app.shard', 'app.retry', 'app.priority', 'app.job_id'];
  for (let k = 0; k < extra; k++) attributes[app[k]] = k % 3 === 2 ? (i * 31 + k) % 1000 : `${app[k].slice(4)}-${(i + k) % 17}`;
  const events = [
    {
      name: 'task.cancel_requested',
      time: at(cancelMs),
      attributes: { 'cancel.message': 'shutdown', 'cancel.count': 1, 'code.filepath': '/srv/app/main.py', 'code.lineno': 12, 'code.function': 'main' },
    },
    { name: 'task.cleanup.start', time: at(cancelMs + 1), attributes: { 'cleanup.name': 'close' } },
  ];
  if (!survivor)
    events.push({ name: 'task.cleanup.end', time: at(Math.max(cancelMs + 2, endMs - 1)), attributes: { 'cleanup.name': 'close', 'cleanup.outcome': 'ok' } });
  if (!survivor && i % 3 === 0) {
    events.push({ name: 'task.shield.start', time: at(cancelMs + 1.2), attributes: { 'shield.name': 'flush', 'shield.timeout_ms': 500 } });
    events.push({ name: 'task.shield.end', time: at(cancelMs + 1.6), attributes: { 'shield.name': 'flush', 'shield.outcome': 'ok' } });
  }
  if (swallowed)
    events.push({
      name: 'exception',
      time: at(endMs - 0.5),
      attributes: {
        'exception.type': 'CancelledError',
        'exception.message': '',
        'exception.stacktrace': `File "/srv/app/workers/handler_${site}.py", line ${90 + site}, in run`,
      },
    });
  return readable(traceId, hex(8), `worker-${i}`, at(-30_000 + (i % 1000)), at(endMs), attributes, events, resource);
}

/** The shutdown span of `tasks` tasks starting at `t0`. */
export function shutdownSpan(tasks, traceId, t0, resource) {
  const at = (ms) => t0 + BigInt(Math.round(ms * 1000)) * 1000n;
  const events = [{ name: 'shutdown.cancel_all', time: at(5), attributes: { 'tasks.count': tasks } }];
  for (let ms = -200; ms <= DRAIN_MS + 500; ms += 100) {
    const left = ms < 10 ? tasks : Math.max(Math.ceil(tasks / 4999), Math.round(tasks * (1 - (ms - 10) / 1200)));
    events.push({ name: 'tasks.pending', time: at(ms), attributes: { 'tasks.pending.count': left } });
    events.push({
      name: 'resource.gauge',
      time: at(ms),
      attributes: { 'resource.name': 'db.pool.in_use', 'resource.value': ms < 10 ? 20 : ms < 800 ? 10 : 1 },
    });
  }
  const attributes = { 'shutdown.reason': 'SIGTERM', 'shutdown.drain_timeout_ms': DRAIN_MS, 'shutdown.outcome': 'survivors', 'shutdown.pending_baseline': 0 };
  return readable(traceId, hex(8), 'shutdown', at(0), at(DRAIN_MS + 500), attributes, events, resource);
}

/**
 * A shutdown of `tasks` tasks of one instance, as request bodies of {@link SPANS_PER_REQUEST} spans
 * (the shutdown span in the last one), built lazily one request at a time so that a million tasks
 * never sit in memory as span objects. `encoding`: 'protobuf' or 'json'.
 */
export function* shutdownRequests(tasks, encoding, instance = `bench-${hex(4)}`) {
  const traceId = hex(16);
  const resource = benchResource(instance);
  const t0 = BigInt(Date.now() - 600_000) * MS;
  const serializer = encoding === 'json' ? JsonTraceSerializer : ProtobufTraceSerializer;
  for (let i = 0; i < tasks; i += SPANS_PER_REQUEST) {
    const spans = [];
    for (let k = i; k < Math.min(tasks, i + SPANS_PER_REQUEST); k++) spans.push(taskSpan(k, traceId, t0, resource));
    if (i + SPANS_PER_REQUEST >= tasks) {
      const shutdown = shutdownSpan(tasks, traceId, t0, resource);
      spans.push(shutdown);
      yield { body: serializer.serializeRequest(spans), spans: spans.length, shutdownId: `${traceId}-${shutdown.spanContext().spanId}` };
    } else yield { body: serializer.serializeRequest(spans), spans: spans.length };
  }
}

/** Bodies of `n` task spans spread over several instances (a fleet restarting), `perRequest` (default {@link SPANS_PER_REQUEST}) each. */
export function fleetBodies(n, encoding, perRequest = SPANS_PER_REQUEST) {
  const serializer = encoding === 'json' ? JsonTraceSerializer : ProtobufTraceSerializer;
  const t0 = BigInt(Date.now() - 600_000) * MS;
  const bodies = [];
  for (let i = 0; i < n; i += perRequest) {
    const resource = benchResource(`fleet-${Math.floor(i / perRequest) % 16}`);
    const traceId = hex(16);
    const spans = [];
    for (let k = i; k < Math.min(n, i + perRequest); k++) spans.push(taskSpan(k, traceId, t0, resource));
    bodies.push({ body: serializer.serializeRequest(spans), spans: spans.length });
  }
  return bodies;
}

/** The peak resident set (VmHWM) of a process, in MB; undefined where /proc is missing. */
export function peakRssMb(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The current resident set (VmRSS) of a process, in MB. */
export function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Spawns `canceltrace serve` on ports 0 of 127.0.0.1 and waits for its URLs. `nodeArgs`: node flags
 * before the CLI; `serveArgs`: more flags of `serve`.
 */
export async function startServe(cli, db, nodeArgs = [], serveArgs = []) {
  const child = spawn(
    process.execPath,
    [...nodeArgs, cli, 'serve', '--host', '127.0.0.1', '--otlp-port', '0', '--ui-port', '0', '--grpc-port', '0', '--db', db, ...serveArgs],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  const urls = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), SERVE_START_TIMEOUT_MS);
    child.stdout.on('data', (d) => {
      out += d;
      const otlp = /^otlp: (\S+)$/m.exec(out)?.[1];
      const ui = /^ui: (\S+)$/m.exec(out)?.[1];
      if (otlp && ui) {
        clearTimeout(timer);
        resolve({ otlp, ui });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${err}`));
    });
  });
  return {
    ...urls,
    pid: child.pid,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
