import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { SpanWithResource } from './copySpan.js';
import { withProcessIdentity } from './processIdentity.js';
import { reportError } from './reportError.js';

/** What a {@link GuardedExporter} counted. */
export interface ExportCounts {
  /** spans the exporter accepted */
  exported: number;
  /** spans whose export failed, threw, rejected or timed out */
  failed: number;
}

/**
 * The exporter as the SDK's `BatchSpanProcessor` sees it: it adds the process identity to each
 * batch's resource, bounds every export by its own timer (`unref()`ed), counts what was exported
 * and what failed, and reports each failure once to the diag logger. Whatever the wrapped
 * exporter does (throw, reject, never call back), the batch processor is told the batch is done,
 * so no failure reaches the SDK's global error handler a second time; the batch processor never
 * retries a batch, so nothing is lost by that.
 */
export class GuardedExporter implements SpanExporter {
  /** spans exported and spans failed so far */
  readonly counts: ExportCounts = { exported: 0, failed: 0 };
  private readonly inFlight = new Set<Promise<void>>();

  /**
   * Wraps `inner`; `timeoutMs` bounds each export; `onTaken(n)` is told how many spans each export
   * takes out of the batch processor's queue.
   */
  constructor(
    private readonly inner: SpanExporter,
    private readonly timeoutMs: number,
    private readonly onTaken: (spans: number) => void,
  ) {}

  /** Sends one batch through the wrapped exporter; never throws, and always calls `done` with success. */
  export(batch: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.onTaken(batch.length);
    const sent = this.send(withIdentity(batch));
    this.inFlight.add(sent);
    void sent.then(() => {
      this.inFlight.delete(sent);
      try {
        done({ code: ExportResultCode.SUCCESS });
      } catch (error) {
        reportError('SnapshotSpanProcessor batch callback failed', error);
      }
    });
  }

  /** True while an export call is in flight (its socket counts among the process's handles). */
  get busy(): boolean {
    return this.inFlight.size > 0;
  }

  /** Resolves when the exports in flight now have settled (each is bounded); never rejects. */
  async settled(): Promise<void> {
    await Promise.all(this.inFlight);
  }

  /** Flushes the wrapped exporter, if it buffers. */
  async forceFlush(): Promise<void> {
    await this.inner.forceFlush?.();
  }

  /** Shuts the wrapped exporter down; a synchronous throw becomes a rejection. */
  async shutdown(): Promise<void> {
    await this.inner.shutdown();
  }

  private send(spans: ReadableSpan[]): Promise<void> {
    return new Promise<void>((resolve) => {
      let settled = false;
      const finish = (result: ExportResult | undefined, error?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timeout);
        if (result?.code === ExportResultCode.SUCCESS) {
          this.counts.exported += spans.length;
        } else {
          this.counts.failed += spans.length;
          reportError(`SnapshotSpanProcessor export of ${spans.length} spans failed`, error ?? result?.error);
        }
        resolve();
      };
      const timeout = setTimeout(() => finish(undefined, new Error(`export timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      timeout.unref();
      try {
        const returned: unknown = this.inner.export(spans, (result) => finish(result, result.error));
        // An `async export()` that throws rejects instead: left alone, that rejection would be
        // unhandled and crash the app.
        if (isThenable(returned)) returned.then(undefined, (error: unknown) => finish(undefined, error));
      } catch (error) {
        finish(undefined, error);
      }
    });
  }
}

/** The spans as exported: with the process identity in their resource (looked up once per resource run). */
function withIdentity(batch: ReadableSpan[]): ReadableSpan[] {
  let from: Resource | undefined;
  let to: Resource | undefined;
  const out = new Array<ReadableSpan>(batch.length);
  for (let i = 0; i < batch.length; i++) {
    const span = batch[i];
    if (span.resource !== from) {
      from = span.resource;
      to = withProcessIdentity(from);
    }
    out[i] = to === from ? span : new SpanWithResource(span, to!);
  }
  return out;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
