import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { SpanRecordProcessor } from '../../../collector/processor/SpanRecordProcessor.js';
import type { Consumer, SpanRecord } from '../../../contract/records.js';

class Recording implements Consumer<SpanRecord> {
  batches: SpanRecord[][] = [];
  fail = false;
  async consume(batch: SpanRecord[]): Promise<void> {
    if (this.fail) throw new Error('store is down');
    this.batches.push(batch);
  }
  get all() {
    return this.batches.flat();
  }
}

function setup(options: { maxQueueSize?: number } = {}) {
  const next = new Recording();
  const errors: unknown[] = [];
  const processor = new SpanRecordProcessor({ next, onError: (e) => errors.push(e), flushDelayMillis: 10_000, ...options });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'svc', 'service.instance.id': 'inst-1' }),
    spanProcessors: [processor],
  });
  return { next, errors, processor, provider, tracer: provider.getTracer('canceltrace') };
}

describe('SpanRecordProcessor', () => {
  describe('onEnd', () => {
    it('when task, shutdown and other spans end, then each record carries its role, service and instance', async () => {
      const { next, processor, tracer } = setup();
      tracer.startSpan('worker', { attributes: { 'task.kind': 'node', 'task.final_state': 'cancelled' } }).end();
      tracer.startSpan('shutdown', { attributes: { 'shutdown.reason': 'SIGTERM' } }).end();
      tracer.startSpan('GET /').end();
      await processor.forceFlush();
      expect(next.all.map((r) => [r.name, r.role, r.service, r.instance])).toEqual([
        ['worker', 'task', 'svc', 'inst-1'],
        ['shutdown', 'shutdown', 'svc', 'inst-1'],
        ['GET /', 'other', 'svc', 'inst-1'],
      ]);
    });

    it('when the queue is full, then further spans are dropped and counted', async () => {
      const { next, processor, tracer } = setup({ maxQueueSize: 2 });
      for (let i = 0; i < 5; i++) tracer.startSpan(`s${i}`).end();
      expect(processor.dropped).toBe(3);
      await processor.forceFlush();
      expect(next.all).toHaveLength(2);
    });

    it('when the next stage fails, then onEnd and forceFlush do not throw and the error is reported', async () => {
      const { next, errors, processor, tracer } = setup();
      next.fail = true;
      expect(() => tracer.startSpan('x').end()).not.toThrow();
      await expect(processor.forceFlush()).resolves.toBeUndefined();
      expect(errors).toHaveLength(1);
      expect(processor.dropped).toBe(1);
    });
  });

  describe('consume', () => {
    it('when the next stage fails, then consume rejects so the receiver can answer retryable', async () => {
      const { next, processor } = setup();
      const spans: any[] = [];
      const capture = { onStart() {}, onEnd: (s: any) => spans.push(s), forceFlush: async () => {}, shutdown: async () => {} };
      const provider = new BasicTracerProvider({ spanProcessors: [capture] });
      provider.getTracer('t').startSpan('a').end();
      next.fail = true;
      await expect(processor.consume(spans)).rejects.toThrow('store is down');
      next.fail = false;
      await processor.consume(spans);
      expect(next.all.map((r) => r.name)).toEqual(['a']);
    });
  });

  describe('shutdown', () => {
    it('when shut down twice, then buffered spans are flushed once and later spans are dropped', async () => {
      const { next, processor, tracer } = setup();
      tracer.startSpan('before').end();
      await processor.shutdown();
      await processor.shutdown();
      tracer.startSpan('after').end();
      expect(next.all.map((r) => r.name)).toEqual(['before']);
      expect(processor.dropped).toBe(1);
    });
  });
});
