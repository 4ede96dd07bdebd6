import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { SpanWithResource } from './copySpan.js';
import { withProcessIdentity } from './processIdentity.js';
import { reportError } from './reportError.js';

/** First wait before a failed attempt is tried again (ms); it doubles with each retry. */
const RETRY_BASE_MS = 500;

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
  /** ends each retry that is waiting, as a failure */
  private readonly waitingRetries = new Set<() => void>();
  private retrying = true;
  private unreachableAtExit = false;

  /**
   * Wraps `inner`; `timeoutMs` bounds each export, retries included; `onTaken(n)` is told how many
   * spans each export takes out of the batch processor's queue. With `retryAttempts`, a failed
   * attempt of `inner` (which must bound each attempt itself) is tried again within `timeoutMs`.
   */
  constructor(
    private readonly inner: SpanExporter,
    private readonly timeoutMs: number,
    private readonly onTaken: (spans: number) => void,
    private readonly retryAttempts = false,
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

  /**
   * From now on no export is retried, pending retries end at once as failures, and once an
   * attempt has failed the later exports fail without trying: the process is exiting, and a
   * collector that does not answer must not hold it beyond one attempt's bound.
   */
  stopRetrying(): void {
    this.retrying = false;
    for (const giveUp of this.waitingRetries) giveUp();
  }

  private send(spans: ReadableSpan[]): Promise<void> {
    return new Promise<void>((resolve) => {
      const started = Date.now();
      let settled = false;
      let retryTimer: NodeJS.Timeout | undefined;
      let giveUp: (() => void) | undefined;
      const finish = (result: ExportResult | undefined, error?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timeout);
        clearTimeout(retryTimer);
        if (giveUp) this.waitingRetries.delete(giveUp);
        if (result?.code === ExportResultCode.SUCCESS) {
          this.counts.exported += spans.length;
        } else {
          this.counts.failed += spans.length;
          if (!this.retrying) this.unreachableAtExit = true;
          reportError(`SnapshotSpanProcessor export of ${spans.length} spans failed`, error ?? result?.error);
        }
        resolve();
      };
      const timeout = setTimeout(() => finish(undefined, new Error(`export timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      timeout.unref();
      const attempt = (n: number): void => {
        if (!this.retrying && this.unreachableAtExit) {
          finish(undefined, new Error('not sent: the collector did not answer while the process is exiting'));
          return;
        }
        const onResult = (result: ExportResult): void => {
          const wait = retryBackoffMs(n);
          if (result.code === ExportResultCode.SUCCESS || !this.mayRetry(result.error, Date.now() - started + wait)) {
            finish(result, result.error);
            return;
          }
          // Unref'd: a retry waiting here never holds an app whose work is done.
          const last = result.error;
          giveUp = () => finish(undefined, last);
          this.waitingRetries.add(giveUp);
          retryTimer = setTimeout(() => {
            if (giveUp) this.waitingRetries.delete(giveUp);
            attempt(n + 1);
          }, wait);
          retryTimer.unref();
        };
        try {
          const returned: unknown = this.inner.export(spans, onResult);
          // An `async export()` that throws rejects instead: left alone, that rejection would be
          // unhandled and crash the app.
          if (isThenable(returned)) returned.then(undefined, (error: unknown) => finish(undefined, error));
        } catch (error) {
          finish(undefined, error);
        }
      };
      attempt(0);
    });
  }

  /** Whether a failed attempt is tried again: retries are on, the failure is not a permanent refusal, and the bound leaves room. */
  private mayRetry(error: unknown, elapsedAfterWaitMs: number): boolean {
    if (!this.retryAttempts || !this.retrying || elapsedAfterWaitMs >= this.timeoutMs) return false;
    const status = (error as { code?: unknown } | undefined)?.code;
    // An HTTP 4xx other than 429 is the collector refusing the data: sending it again cannot help.
    return !(typeof status === 'number' && status >= 400 && status < 500 && status !== 429);
  }
}

/** Wait before retry `n` (0-based) of a failed attempt, in ms: 500, 1000, 2000, … */
function retryBackoffMs(n: number): number {
  return RETRY_BASE_MS * 2 ** Math.min(n, 6);
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
