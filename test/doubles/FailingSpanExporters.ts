import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/** An exporter whose every method throws synchronously, counting the calls it got. */
export class ThrowingSpanExporter implements SpanExporter {
  calls = 0;
  export(_spans: ReadableSpan[], _done: (result: ExportResult) => void): void {
    this.calls++;
    throw new Error('exporter exploded');
  }
  shutdown(): Promise<void> {
    throw new Error('exporter shutdown exploded');
  }
}

/** An exporter that never calls back and whose shutdown never resolves (a collector that hangs). */
export class HangingSpanExporter implements SpanExporter {
  received: ReadableSpan[][] = [];
  export(spans: ReadableSpan[], _done: (result: ExportResult) => void): void {
    this.received.push(spans);
  }
  shutdown(): Promise<void> {
    return new Promise(() => undefined);
  }
}

/** An exporter that reports failure for every batch (a collector that is down). */
export class RejectingSpanExporter implements SpanExporter {
  calls = 0;
  export(_spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.calls++;
    setImmediate(() => done({ code: ExportResultCode.FAILED, error: new Error('connection refused') }));
  }
  async shutdown(): Promise<void> {}
}
