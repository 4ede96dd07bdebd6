import { type Context, type HrTime, TraceFlags } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor, type ReadableSpan, type Span, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR, CANCELTRACE_SCOPE } from '../../../contract/contract.js';
import { copySpan } from './copySpan.js';
import { GuardedExporter } from './GuardedExporter.js';
import { describeError, reportError, reportWarning } from './reportError.js';
import { withBound } from './withBound.js';

/** Collector base URL when neither the option nor `OTEL_EXPORTER_OTLP_ENDPOINT` gives one. */
export const DEFAULT_COLLECTOR_URL = 'http://127.0.0.1:4318';
/** Ended spans (and snapshot copies) waiting for export; beyond it spans are dropped and counted. */
export const DEFAULT_MAX_QUEUE_SIZE = 2048;
/** Spans per export call. */
export const DEFAULT_MAX_EXPORT_BATCH_SIZE = 512;
/** Longest a span waits in the queue before its batch is sent (ms); the issue asks for ≤ 1 s. */
export const DEFAULT_SCHEDULED_DELAY_MS = 500;
/** Longest one export may take before it is given up (ms); a hung exporter costs no more. */
export const DEFAULT_EXPORT_TIMEOUT_MS = 5_000;
/**
 * Longest one attempt of the default exporter may take (ms), and so about the longest a collector
 * that does not answer can hold an exiting process; a failed attempt is retried (on timers that do
 * not hold the process) within the export bound while the app runs, never once it shuts down.
 */
export const DEFAULT_EXIT_TIMEOUT_MS = 1_000;
/** Longest forceFlush/shutdown wait for the queue to empty (ms). */
export const DEFAULT_FLUSH_TIMEOUT_MS = 10_000;
/** Open task spans tracked for snapshots; beyond it new ones are not tracked (and counted). */
export const DEFAULT_MAX_OPEN_SPANS = 10_000;
/**
 * How much later than our own export bound the batch processor's bound is set (ms): ours, which
 * counts and reports the failure, must fire first. The batch processor's timer is not unref'd, so
 * an export that never answers holds an exiting process for about `exportTimeoutMillis`.
 */
const BATCH_TIMER_MARGIN_MS = 100;

/** Options of {@link SnapshotSpanProcessor}. */
export interface SnapshotSpanProcessorOptions {
  /** the canceltrace collector's base URL; spans go to `<url>/v1/traces` */
  url?: string;
  /** replaces the default OTLP/HTTP (protobuf) exporter */
  exporter?: SpanExporter;
  maxQueueSize?: number;
  maxExportBatchSize?: number;
  scheduledDelayMillis?: number;
  exportTimeoutMillis?: number;
  flushTimeoutMillis?: number;
  /** bound of one attempt of the default exporter, and so of a late exit when the collector is down; see {@link DEFAULT_EXIT_TIMEOUT_MS} */
  exitTimeoutMillis?: number;
  maxOpenSpans?: number;
}

/** Counters of a {@link SnapshotSpanProcessor}, for tests and for a health line. */
export interface SnapshotSpanProcessorStats {
  /** spans waiting in the queue */
  queued: number;
  /** spans handed to the exporter that it accepted */
  exported: number;
  /** spans dropped because the queue was full */
  dropped: number;
  /** spans whose export failed, threw or timed out */
  failed: number;
  /** open task and shutdown spans being tracked */
  open: number;
  /** open spans not tracked because the open-span bound was reached */
  untracked: number;
  /** snapshot copies produced */
  snapshots: number;
}

type Role = 'task' | 'shutdown';

/**
 * A span processor for a `NodeTracerProvider` that makes task lifecycles visible to canceltrace.
 * It exports every ended span through the SDK's `BatchSpanProcessor` (so it can be a service's
 * only processor), tracks the task and shutdown spans that are open, and at {@link snapshot},
 * {@link forceFlush} and {@link shutdown} exports copies of those open spans marked
 * `task.snapshot = true` (`task.final_state = pending` on tasks), because an SDK processor never
 * sees a span that never ends. It never throws into the app: exporter failures go to the diag logger.
 */
export class SnapshotSpanProcessor implements SpanProcessor {
  private readonly batch: BatchSpanProcessor;
  private readonly exporter: GuardedExporter;
  private readonly maxQueueSize: number;
  private readonly exportTimeoutMs: number;
  private readonly flushTimeoutMs: number;
  private readonly maxOpen: number;
  private readonly open = new Map<Span, Role>();
  /** spans handed to the batch processor that no export has taken yet: its queue, seen from outside */
  private queued = 0;
  private closing = false;
  private shutdownPromise: Promise<void> | undefined;
  private counts = { dropped: 0, untracked: 0, snapshots: 0 };
  private dropWarned = false;
  private latestTaskEnd: HrTime | undefined;

  /** Creates the processor; the newest one becomes the default of `beginShutdown`. */
  constructor(options: SnapshotSpanProcessorOptions = {}) {
    this.maxQueueSize = positive(options.maxQueueSize, DEFAULT_MAX_QUEUE_SIZE, 'maxQueueSize');
    const batchSize = Math.min(positive(options.maxExportBatchSize, DEFAULT_MAX_EXPORT_BATCH_SIZE, 'maxExportBatchSize'), this.maxQueueSize);
    const delayMs = positive(options.scheduledDelayMillis, DEFAULT_SCHEDULED_DELAY_MS, 'scheduledDelayMillis');
    this.exportTimeoutMs = positive(options.exportTimeoutMillis, DEFAULT_EXPORT_TIMEOUT_MS, 'exportTimeoutMillis');
    this.flushTimeoutMs = positive(options.flushTimeoutMillis, DEFAULT_FLUSH_TIMEOUT_MS, 'flushTimeoutMillis');
    this.maxOpen = positive(options.maxOpenSpans, DEFAULT_MAX_OPEN_SPANS, 'maxOpenSpans');
    const exitMs = Math.min(positive(options.exitTimeoutMillis, DEFAULT_EXIT_TIMEOUT_MS, 'exitTimeoutMillis'), this.exportTimeoutMs);
    // The exporter's own retry timers hold the process, so each of its attempts is bounded by the
    // exit bound, and the retries within the export bound are the guard's (whose timers do not).
    const inner = options.exporter ?? new OTLPTraceExporter({ url: tracesUrl(options.url), timeoutMillis: exitMs });
    this.exporter = new GuardedExporter(
      inner,
      this.exportTimeoutMs,
      (taken) => {
        this.queued -= taken;
      },
      options.exporter === undefined,
    );
    this.batch = new BatchSpanProcessor(this.exporter, {
      maxQueueSize: this.maxQueueSize,
      maxExportBatchSize: batchSize,
      scheduledDelayMillis: delayMs,
      exportTimeoutMillis: this.exportTimeoutMs + BATCH_TIMER_MARGIN_MS,
    });
    defaultProcessor = this;
  }

  /** Tracks a task or shutdown span that starts, so that snapshots can export it while open. */
  onStart(span: Span, _parentContext: Context): void {
    try {
      if (this.closing) return;
      const role = roleAtStart(span);
      if (role === undefined) return;
      if (this.open.size >= this.maxOpen) {
        this.counts.untracked++;
        return;
      }
      this.open.set(span, role);
    } catch (error) {
      reportError('SnapshotSpanProcessor.onStart failed', error);
    }
  }

  /** Queues an ended span for export and stops tracking it. */
  onEnd(span: ReadableSpan): void {
    try {
      if (this.open.delete(span as Span) && span.attributes[ATTR.shutdownReason] === undefined) this.noteTaskEnd(span.endTime);
      if (this.closing) return;
      this.enqueue(span);
    } catch (error) {
      reportError('SnapshotSpanProcessor.onEnd failed', error);
    }
  }

  /**
   * Exports snapshot copies of the open task and shutdown spans, then everything queued.
   * The caller is waiting, so the process stays up until the flush ends or its bound runs out.
   */
  async snapshot(): Promise<void> {
    try {
      this.enqueueSnapshots();
      await this.flush(true);
    } catch (error) {
      reportError('SnapshotSpanProcessor.snapshot failed', error);
    }
  }

  /**
   * {@link snapshot} for a periodic timer that nobody awaits: its wait does not keep the process
   * alive, and it starts an export only when none is in flight (else the batch processor's own
   * timer sends the copies). Each export keeps the process up until it ends or its bound runs out,
   * so back-to-back exports would let a hung collector hold an app whose work is done forever;
   * one at a time, it holds it for at most one export bound.
   */
  async backgroundSnapshot(): Promise<void> {
    try {
      this.enqueueSnapshots();
      if (!this.exporter.busy) await this.flush(false);
    } catch (error) {
      reportError('SnapshotSpanProcessor.snapshot failed', error);
    }
  }

  /**
   * The process is shutting down (a shutdown span ends, or {@link shutdown}): failed exports are
   * no longer retried, so a collector that does not answer holds the exit for about one attempt
   * ({@link DEFAULT_EXIT_TIMEOUT_MS}), not the whole export bound.
   */
  exiting(): void {
    this.exporter.stopRetrying();
  }

  /** Same as {@link snapshot}: a flush also shows what is still open. */
  forceFlush(): Promise<void> {
    return this.snapshot();
  }

  /**
   * Snapshots the open spans, flushes the queue and shuts the exporter down, each bounded.
   * Idempotent: later calls return the first call's promise.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.close();
    return this.shutdownPromise;
  }

  /** Number of task spans that started and have not ended (shutdown spans not counted). */
  openTaskCount(): number {
    let n = 0;
    for (const role of this.open.values()) if (role === 'task') n++;
    return n;
  }

  /** True while an export call is in flight (its socket counts among the process's handles). */
  get busy(): boolean {
    return this.exporter.busy;
  }

  /** Resolves when no export is in flight, or after `timeoutMs` (which the process waits for). Never rejects. */
  async idle(timeoutMs: number): Promise<void> {
    if (!this.exporter.busy) return;
    await withBound(this.exporter.settled(), timeoutMs, true);
  }

  /**
   * The latest end time of the task spans tracked so far, by their own clocks. Each span's clock is
   * anchored to `Date.now()` (whole ms) when it starts, so a task that ended just before the
   * shutdown can carry an end up to a millisecond (more after clock drift) past the shutdown's.
   */
  lastTaskEnd(): HrTime | undefined {
    return this.latestTaskEnd;
  }

  /** The processor's counters. */
  stats(): SnapshotSpanProcessorStats {
    return { ...this.counts, ...this.exporter.counts, queued: this.queued, open: this.open.size };
  }

  private noteTaskEnd(end: HrTime): void {
    const latest = this.latestTaskEnd;
    if (!latest || end[0] > latest[0] || (end[0] === latest[0] && end[1] > latest[1])) this.latestTaskEnd = end;
  }

  private async close(): Promise<void> {
    this.exiting();
    try {
      this.enqueueSnapshots();
      this.closing = true;
      this.open.clear();
      await this.flush(true);
    } catch (error) {
      reportError('SnapshotSpanProcessor.shutdown failed while flushing', error);
    }
    // The batch processor's shutdown flushes what is left (nothing, or what the flush bound cut
    // off) and then shuts the exporter down.
    const closed = this.batch.shutdown().then(undefined, (error: unknown) => reportError('SnapshotSpanProcessor exporter shutdown failed', error));
    const done = await withBound(closed, this.exportTimeoutMs, true);
    if (!done) reportError(`SnapshotSpanProcessor exporter shutdown did not finish within ${this.exportTimeoutMs} ms`);
    if (defaultProcessor === this) defaultProcessor = undefined;
  }

  private enqueueSnapshots(): void {
    if (this.open.size === 0) return;
    const now = hrTime();
    for (const [span, role] of this.open) {
      if (span.ended) continue;
      const attributes = role === 'task' ? { [ATTR.snapshot]: true, [ATTR.finalState]: 'pending' } : { [ATTR.snapshot]: true };
      this.enqueue(copySpan(span, { endTime: now, attributes }));
      this.counts.snapshots++;
    }
  }

  /** Hands a span to the batch processor, or drops and counts it when the queue is full. */
  private enqueue(span: ReadableSpan): void {
    // The batch processor exports sampled spans only; counting the others would skew `queued`.
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.queued >= this.maxQueueSize) {
      this.counts.dropped++;
      if (!this.dropWarned) {
        this.dropWarned = true;
        reportWarning(`SnapshotSpanProcessor queue limit (${this.maxQueueSize}) reached, dropping spans`);
      }
      return;
    }
    this.queued++;
    this.batch.onEnd(span);
  }

  /**
   * Sends the queue and waits for the exports in flight, bounded by the flush timeout. `hold`:
   * someone awaits the flush, so its bound must keep the process alive; otherwise an app awaiting
   * a flush against a hung exporter would see the loop empty, its await abandoned and its code
   * after it never run.
   */
  private async flush(hold: boolean): Promise<void> {
    const work = (async () => {
      await this.batch.forceFlush();
      await this.exporter.settled();
    })();
    const done = await withBound(
      work.catch((error: unknown) => reportError('SnapshotSpanProcessor flush failed', error)),
      this.flushTimeoutMs,
      hold,
    );
    if (!done) reportError(`SnapshotSpanProcessor flush did not finish within ${this.flushTimeoutMs} ms`);
  }
}

let defaultProcessor: SnapshotSpanProcessor | undefined;

/** The most recently created processor that is not shut down, used when none is passed. */
export function currentProcessor(): SnapshotSpanProcessor | undefined {
  return defaultProcessor;
}

/** `<base>/v1/traces` from the option, then OTEL_EXPORTER_OTLP_ENDPOINT, then the default. */
export function tracesUrl(url?: string): string {
  const base = url ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? DEFAULT_COLLECTOR_URL;
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

function roleAtStart(span: Span): Role | undefined {
  const attrs = span.attributes;
  if (attrs[ATTR.shutdownReason] !== undefined) return 'shutdown';
  if (attrs[ATTR.taskKind] !== undefined) return 'task';
  if (span.instrumentationScope.name === CANCELTRACE_SCOPE) return 'task';
  return undefined;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (Number.isFinite(value) && value > 0) return value;
  reportWarning(`SnapshotSpanProcessor option ${name}=${describeError(value)} is not a positive number, using ${fallback}`);
  return fallback;
}
