import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { CANCELTRACE_SCOPE } from '../../../contract/contract.js';
import { SnapshotSpanProcessor } from '../../../instrument/node/src/SnapshotSpanProcessor.js';

/** A provider with a SnapshotSpanProcessor over an in-memory exporter, and async context on. */
export function taskHarness() {
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  const exporter = new InMemorySpanExporter();
  const processor = new SnapshotSpanProcessor({ exporter });
  const provider = new BasicTracerProvider({ spanProcessors: [processor] });
  const tracer = provider.getTracer(CANCELTRACE_SCOPE);
  return {
    exporter,
    processor,
    provider,
    tracer,
    /** final (non-snapshot) records, after a flush */
    async finished(): Promise<ReadableSpan[]> {
      await processor.forceFlush();
      return exporter.getFinishedSpans().filter((s) => s.attributes['task.snapshot'] !== true);
    },
    async close(): Promise<void> {
      await provider.shutdown();
      context.disable();
    },
  };
}
