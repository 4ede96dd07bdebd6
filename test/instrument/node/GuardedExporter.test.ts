import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { GuardedExporter } from '../../../instrument/node/src/GuardedExporter.js';
import { readableSpan } from '../../doubles/readableSpans.js';

const SPANS = [readableSpan({ traceId: '1'.repeat(32), spanId: '2'.repeat(16) })];

/** An exporter that answers each attempt with the next result of `results` (the last one repeats). */
function scripted(results: ExportResult[]): SpanExporter & { attempts: number } {
  const exporter = {
    attempts: 0,
    export(_spans: ReadableSpan[], done: (result: ExportResult) => void) {
      const result = results[Math.min(exporter.attempts, results.length - 1)];
      exporter.attempts++;
      setImmediate(() => done(result));
    },
    async shutdown() {},
  };
  return exporter;
}

const refused: ExportResult = { code: ExportResultCode.FAILED, error: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) };
const badRequest: ExportResult = { code: ExportResultCode.FAILED, error: Object.assign(new Error('Bad Request'), { code: 400 }) };
const ok: ExportResult = { code: ExportResultCode.SUCCESS };

function exportOnce(guard: GuardedExporter): Promise<void> {
  return new Promise((resolve) => guard.export(SPANS, () => resolve()));
}

describe('GuardedExporter', () => {
  describe('export with retries', () => {
    it('when an attempt fails to connect and the next succeeds, then the spans count as exported once', async () => {
      const inner = scripted([refused, ok]);
      const guard = new GuardedExporter(inner, 10_000, () => {}, true);
      await exportOnce(guard);
      await guard.settled();
      expect(inner.attempts).toBe(2);
      expect(guard.counts).toEqual({ exported: 1, failed: 0 });
    });

    it('when the collector refuses the data with a 4xx, then it is not retried', async () => {
      const inner = scripted([badRequest, ok]);
      const guard = new GuardedExporter(inner, 10_000, () => {}, true);
      await exportOnce(guard);
      await guard.settled();
      expect(inner.attempts).toBe(1);
      expect(guard.counts).toEqual({ exported: 0, failed: 1 });
    });

    it('when retries are stopped (the process exits), then a waiting retry ends at once and later exports fail without an attempt', async () => {
      const inner = scripted([refused]);
      const guard = new GuardedExporter(inner, 60_000, () => {}, true);
      const first = exportOnce(guard);
      // The first attempt fails at once; its retry then waits 500 ms on an unref'd timer.
      await new Promise((r) => setTimeout(r, 20));
      guard.stopRetrying();
      await first;
      expect(guard.counts.failed).toBe(1);
      await exportOnce(guard);
      await guard.settled();
      expect(inner.attempts).toBe(1);
      expect(guard.counts.failed).toBe(2);
    });

    it('when retries are off (an exporter the app gave), then a failure is not retried', async () => {
      const inner = scripted([refused, ok]);
      const guard = new GuardedExporter(inner, 10_000, () => {});
      await exportOnce(guard);
      await guard.settled();
      expect(inner.attempts).toBe(1);
    });
  });
});
