import { type DiagLogger, DiagLogLevel, diag } from '@opentelemetry/api';
import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { ATTR, CANCELTRACE_SCOPE } from '../../../contract/contract.js';
import { SnapshotSpanProcessor, tracesUrl } from '../../../instrument/node/src/SnapshotSpanProcessor.js';
import { HangingSpanExporter, RejectingSpanExporter, ThrowingSpanExporter } from '../../doubles/FailingSpanExporters.js';

function setup(options: ConstructorParameters<typeof SnapshotSpanProcessor>[0] = {}) {
  const exporter = new InMemorySpanExporter();
  const processor = new SnapshotSpanProcessor({ exporter, ...options });
  const provider = new BasicTracerProvider({ spanProcessors: [processor] });
  return { exporter, processor, provider, tracer: provider.getTracer(CANCELTRACE_SCOPE) };
}

function idOf(span: ReadableSpan): string {
  return span.spanContext().spanId;
}

/** Collects diag errors so a test can see that failures were reported, not thrown. */
function captureDiag(): string[] {
  const lines: string[] = [];
  const logger: DiagLogger = {
    error: (m) => void lines.push(m),
    warn: (m) => void lines.push(m),
    info: () => undefined,
    debug: () => undefined,
    verbose: () => undefined,
  };
  diag.setLogger(logger, DiagLogLevel.WARN);
  return lines;
}

afterEach(() => {
  diag.disable();
});

describe('SnapshotSpanProcessor', () => {
  describe('onEnd', () => {
    it('when spans end, then they are exported in a batch within a second without a flush', async () => {
      const { exporter, tracer, provider } = setup();
      tracer.startSpan('a').end();
      tracer.startSpan('b').end();
      await new Promise((r) => setTimeout(r, 900));
      expect(
        exporter
          .getFinishedSpans()
          .map((s) => s.name)
          .sort(),
      ).toEqual(['a', 'b']);
      await provider.shutdown();
    });

    it('when a span is not sampled, then it is neither queued nor exported', async () => {
      const exporter = new InMemorySpanExporter();
      const processor = new SnapshotSpanProcessor({ exporter });
      const provider = new BasicTracerProvider({ sampler: new AlwaysOffSampler(), spanProcessors: [processor] });
      provider.getTracer('app').startSpan('dropped by the sampler').end();
      await processor.forceFlush();
      expect(exporter.getFinishedSpans()).toEqual([]);
      expect(processor.stats()).toMatchObject({ queued: 0, exported: 0, dropped: 0 });
      await provider.shutdown();
    });

    it('when the queue is full, then further spans are dropped and counted', async () => {
      const hanging = new HangingSpanExporter();
      const processor = new SnapshotSpanProcessor({ exporter: hanging, maxQueueSize: 10, maxExportBatchSize: 10, exportTimeoutMillis: 60_000 });
      const provider = new BasicTracerProvider({ spanProcessors: [processor] });
      const tracer = provider.getTracer('app');
      for (let i = 0; i < 35; i++) tracer.startSpan(`s${i}`).end();
      // the first 10 went to the (hung) exporter, the next 10 wait in the queue, the rest were dropped
      expect(hanging.received.flat()).toHaveLength(10);
      expect(processor.stats()).toMatchObject({ queued: 10, dropped: 15 });
    });
  });

  describe('snapshot', () => {
    it('when a task span is open, then a copy is exported as pending with the snapshot time as end', async () => {
      const { exporter, processor, tracer, provider } = setup();
      const span = tracer.startSpan('worker', { attributes: { [ATTR.taskKind]: 'node', [ATTR.taskId]: '1' } });
      span.addEvent('task.cancel_requested');
      const before = Date.now();
      await processor.snapshot();
      const [copy] = exporter.getFinishedSpans();
      expect(copy).toBeDefined();
      expect(copy).not.toBe(span);
      expect(idOf(copy)).toBe(span.spanContext().spanId);
      expect(copy.attributes[ATTR.snapshot]).toBe(true);
      expect(copy.attributes[ATTR.finalState]).toBe('pending');
      expect(copy.events.map((e) => e.name)).toEqual(['task.cancel_requested']);
      const endMs = copy.endTime[0] * 1000 + copy.endTime[1] / 1e6;
      expect(endMs).toBeGreaterThanOrEqual(before - 1);
      // the live span is untouched and still open
      expect((span as unknown as ReadableSpan).ended).toBe(false);
      expect((span as unknown as ReadableSpan).attributes[ATTR.snapshot]).toBeUndefined();
      await provider.shutdown();
    });

    it('when the snapshot has been taken, then later changes to the live span do not change the copy', async () => {
      const { exporter, processor, tracer, provider } = setup();
      const span = tracer.startSpan('worker', { attributes: { [ATTR.taskKind]: 'node' } });
      await processor.snapshot();
      span.addEvent('later');
      span.setAttribute('late', 1);
      const [copy] = exporter.getFinishedSpans();
      expect(copy.events).toHaveLength(0);
      expect(copy.attributes.late).toBeUndefined();
      await provider.shutdown();
    });

    it('when an open shutdown span is snapshotted, then it is marked a snapshot without a final state', async () => {
      const { exporter, processor, provider } = setup();
      const other = provider.getTracer('app');
      other.startSpan('shutdown', { attributes: { [ATTR.shutdownReason]: 'SIGTERM' } });
      other.startSpan('plain request');
      await processor.snapshot();
      const spans = exporter.getFinishedSpans();
      expect(spans.map((s) => s.name)).toEqual(['shutdown']);
      expect(spans[0].attributes[ATTR.snapshot]).toBe(true);
      expect(spans[0].attributes[ATTR.finalState]).toBeUndefined();
      await provider.shutdown();
    });

    it('when background snapshots come while an export is in flight, then they start no second export', async () => {
      captureDiag();
      const hanging = new HangingSpanExporter();
      const processor = new SnapshotSpanProcessor({ exporter: hanging, exportTimeoutMillis: 60_000, scheduledDelayMillis: 60_000 });
      const provider = new BasicTracerProvider({ spanProcessors: [processor] });
      provider.getTracer(CANCELTRACE_SCOPE).startSpan('stuck', { attributes: { [ATTR.taskKind]: 'node' } });
      void processor.backgroundSnapshot();
      void processor.backgroundSnapshot();
      void processor.backgroundSnapshot();
      await new Promise((r) => setImmediate(r));
      expect(hanging.received.map((batch) => batch.length)).toEqual([1]);
      expect(processor.stats()).toMatchObject({ snapshots: 3, queued: 2, dropped: 0 });
    });

    it('when the task ends after a snapshot, then its final record follows and it is no longer snapshotted', async () => {
      const { exporter, processor, tracer, provider } = setup();
      const span = tracer.startSpan('worker', { attributes: { [ATTR.taskKind]: 'node' } });
      await processor.snapshot();
      span.setAttribute(ATTR.finalState, 'cancelled');
      span.end();
      await processor.snapshot();
      await processor.snapshot();
      const records = exporter.getFinishedSpans().filter((s) => idOf(s) === span.spanContext().spanId);
      expect(records.map((s) => s.attributes[ATTR.snapshot] === true)).toEqual([true, false]);
      expect(records[1].attributes[ATTR.finalState]).toBe('cancelled');
      expect(processor.openTaskCount()).toBe(0);
      await provider.shutdown();
    });
  });

  describe('export', () => {
    it('when the span resource lacks the process identity, then the exported copy carries instance id and pid', async () => {
      const { exporter, processor, tracer, provider } = setup();
      tracer.startSpan('x').end();
      await processor.forceFlush();
      const [span] = exporter.getFinishedSpans();
      expect(span.resource.attributes[ATTR.processPid]).toBe(process.pid);
      expect(String(span.resource.attributes[ATTR.serviceInstanceId])).toMatch(/^[0-9a-f-]{36}$/);
      await provider.shutdown();
    });

    it('when the exporter throws, then the app sees nothing and the failure is reported to diag', async () => {
      const lines = captureDiag();
      const exporter = new ThrowingSpanExporter();
      const processor = new SnapshotSpanProcessor({ exporter });
      const provider = new BasicTracerProvider({ spanProcessors: [processor] });
      const span = provider.getTracer(CANCELTRACE_SCOPE).startSpan('t', { attributes: { [ATTR.taskKind]: 'node' } });
      expect(() => span.end()).not.toThrow();
      await expect(processor.forceFlush()).resolves.toBeUndefined();
      await expect(processor.shutdown()).resolves.toBeUndefined();
      expect(exporter.calls).toBeGreaterThan(0);
      expect(processor.stats().failed).toBeGreaterThan(0);
      expect(lines.some((l) => l.startsWith('canceltrace/node SnapshotSpanProcessor export') && l.includes('exporter exploded'))).toBe(true);
    });

    it('when the exporter hangs, then flush and shutdown still resolve within their bounds', async () => {
      captureDiag();
      const exporter = new HangingSpanExporter();
      const processor = new SnapshotSpanProcessor({ exporter, exportTimeoutMillis: 100, flushTimeoutMillis: 300 });
      const provider = new BasicTracerProvider({ spanProcessors: [processor] });
      provider.getTracer('app').startSpan('t').end();
      const started = Date.now();
      await processor.forceFlush();
      await processor.shutdown();
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(processor.stats().failed).toBe(1);
    });

    it('when an async export rejects instead of calling back, then the batch counts as failed and no rejection escapes', async () => {
      const lines = captureDiag();
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        const exporter: SpanExporter = {
          // an `async export()` whose body throws: the SpanExporter type allows any return value
          export: async () => {
            throw new Error('async export failed');
          },
          shutdown: async () => undefined,
        };
        const processor = new SnapshotSpanProcessor({ exporter });
        const provider = new BasicTracerProvider({ spanProcessors: [processor] });
        provider.getTracer('app').startSpan('s').end();
        await processor.forceFlush();
        await new Promise((r) => setImmediate(r));
        expect(processor.stats()).toMatchObject({ failed: 1, exported: 0, queued: 0 });
        expect(unhandled).toEqual([]);
        expect(lines.some((l) => l.includes('async export failed'))).toBe(true);
        await provider.shutdown();
      } finally {
        process.removeListener('unhandledRejection', onUnhandled);
      }
    });

    it('when the collector rejects every batch, then the spans are counted as failed and nothing throws', async () => {
      captureDiag();
      const exporter = new RejectingSpanExporter();
      const processor = new SnapshotSpanProcessor({ exporter });
      const provider = new BasicTracerProvider({ spanProcessors: [processor] });
      for (let i = 0; i < 3; i++) provider.getTracer('app').startSpan(`s${i}`).end();
      await processor.forceFlush();
      expect(processor.stats()).toMatchObject({ failed: 3, exported: 0 });
      await provider.shutdown();
    });
  });

  describe('shutdown', () => {
    it('when called twice, then it returns the same promise and shuts the exporter down once', async () => {
      const { exporter, processor, tracer } = setup();
      let shutdowns = 0;
      const original = exporter.shutdown.bind(exporter);
      exporter.shutdown = () => {
        shutdowns++;
        return original();
      };
      tracer.startSpan('open', { attributes: { [ATTR.taskKind]: 'node' } });
      const first = processor.shutdown();
      const second = processor.shutdown();
      expect(second).toBe(first);
      await first;
      expect(shutdowns).toBe(1);
    });

    it('when shut down with open tasks, then their snapshots are exported before the exporter closes', async () => {
      const { exporter, processor, tracer } = setup();
      const hold: ReadableSpan[] = [];
      exporter.export = (spans, done) => {
        hold.push(...spans);
        done({ code: 0 });
      };
      tracer.startSpan('survivor', { attributes: { [ATTR.taskKind]: 'node' } });
      await processor.shutdown();
      expect(hold.map((s) => [s.name, s.attributes[ATTR.finalState]])).toEqual([['survivor', 'pending']]);
    });

    it('when spans end after shutdown, then they are ignored without error', async () => {
      const { exporter, processor, tracer } = setup();
      await processor.shutdown();
      expect(() => tracer.startSpan('late').end()).not.toThrow();
      expect(exporter.getFinishedSpans()).toHaveLength(0);
    });
  });

  describe('tracesUrl', () => {
    it('when given a base URL with a trailing slash, then the traces path is appended once', () => {
      expect(tracesUrl('http://h:1/')).toBe('http://h:1/v1/traces');
    });

    it('when no URL is given, then OTEL_EXPORTER_OTLP_ENDPOINT is used, else the local default', () => {
      const saved = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
      try {
        process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://collector:9999';
        expect(tracesUrl()).toBe('http://collector:9999/v1/traces');
        delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
        expect(tracesUrl()).toBe('http://127.0.0.1:4318/v1/traces');
      } finally {
        if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
        else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved;
      }
    });
  });
});
