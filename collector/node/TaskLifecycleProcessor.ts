import { type Context, context, type HrTime } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode, hrTime, suppressTracing } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR, CANCELTRACE_SCOPE } from '../../contract/contract.js';
import { copySpan, SpanWithResource } from './copySpan.js';
import { withProcessIdentity } from './processIdentity.js';
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
/** Longest forceFlush/shutdown wait for the queue to empty (ms). */
export const DEFAULT_FLUSH_TIMEOUT_MS = 10_000;
/** Open task spans tracked for snapshots; beyond it new ones are not tracked (and counted). */
export const DEFAULT_MAX_OPEN_SPANS = 10_000;

/** Options of {@link TaskLifecycleProcessor}. */
export interface TaskLifecycleProcessorOptions {
  /** the canceltrace collector's base URL; spans go to `<url>/v1/traces` */
  url?: string;
  /** replaces the default OTLP/HTTP (protobuf) exporter */
  exporter?: SpanExporter;
  maxQueueSize?: number;
  maxExportBatchSize?: number;
  scheduledDelayMillis?: number;
  exportTimeoutMillis?: number;
  flushTimeoutMillis?: number;
  maxOpenSpans?: number;
}

/** Counters of a {@link TaskLifecycleProcessor}, for tests and for a health line. */
export interface TaskLifecycleProcessorStats {
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
 * It exports every ended span in batches (so it can be a service's only processor), tracks the
 * task and shutdown spans that are open, and at {@link snapshot}, {@link forceFlush} and
 * {@link shutdown} exports copies of those open spans marked `task.snapshot = true`
 * (`task.final_state = pending` on tasks), because an SDK processor never sees a span that never
 * ends. It never throws into the app: exporter failures go to the diag logger.
 */
export class TaskLifecycleProcessor implements SpanProcessor {
  private readonly exporter: SpanExporter;
  private readonly maxQueueSize: number;
  private readonly batchSize: number;
  private readonly delayMs: number;
  private readonly exportTimeoutMs: number;
  private readonly flushTimeoutMs: number;
  private readonly maxOpen: number;
  private readonly open = new Map<Span, Role>();
  private queue: ReadableSpan[] = [];
  private timer: NodeJS.Timeout | undefined;
  private exporting: Promise<void> | undefined;
  private closing = false;
  private shutdownPromise: Promise<void> | undefined;
  private counts = { exported: 0, dropped: 0, failed: 0, untracked: 0, snapshots: 0 };
  private dropWarned = false;
  private latestTaskEnd: HrTime | undefined;

  /** Creates the processor; the newest one becomes the default of `beginShutdown`. */
  constructor(options: TaskLifecycleProcessorOptions = {}) {
    this.maxQueueSize = positive(options.maxQueueSize, DEFAULT_MAX_QUEUE_SIZE, 'maxQueueSize');
    this.batchSize = Math.min(positive(options.maxExportBatchSize, DEFAULT_MAX_EXPORT_BATCH_SIZE, 'maxExportBatchSize'), this.maxQueueSize);
    this.delayMs = positive(options.scheduledDelayMillis, DEFAULT_SCHEDULED_DELAY_MS, 'scheduledDelayMillis');
    this.exportTimeoutMs = positive(options.exportTimeoutMillis, DEFAULT_EXPORT_TIMEOUT_MS, 'exportTimeoutMillis');
    this.flushTimeoutMs = positive(options.flushTimeoutMillis, DEFAULT_FLUSH_TIMEOUT_MS, 'flushTimeoutMillis');
    this.maxOpen = positive(options.maxOpenSpans, DEFAULT_MAX_OPEN_SPANS, 'maxOpenSpans');
    this.exporter = options.exporter ?? new OTLPTraceExporter({ url: tracesUrl(options.url), timeoutMillis: this.exportTimeoutMs });
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
      reportError('TaskLifecycleProcessor.onStart failed', error);
    }
  }

  /** Queues an ended span for export and stops tracking it. */
  onEnd(span: ReadableSpan): void {
    try {
      if (this.open.delete(span as Span) && span.attributes[ATTR.shutdownReason] === undefined) this.noteTaskEnd(span.endTime);
      if (this.closing) return;
      this.enqueue(span);
    } catch (error) {
      reportError('TaskLifecycleProcessor.onEnd failed', error);
    }
  }

  /**
   * Exports snapshot copies of the open task and shutdown spans, then everything queued.
   * The caller is waiting, so the process stays up until the flush ends or its bound runs out.
   */
  async snapshot(): Promise<void> {
    await this.snapshotAndFlush(true);
  }

  /**
   * {@link snapshot} for a periodic timer that nobody awaits: its wait does not keep the process
   * alive, so a hung collector cannot hold an app whose work is done.
   */
  async backgroundSnapshot(): Promise<void> {
    await this.snapshotAndFlush(false);
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
    return this.exporting !== undefined;
  }

  /** Resolves when no export is in flight, or after `timeoutMs` (which the process waits for). Never rejects. */
  async idle(timeoutMs: number): Promise<void> {
    if (!this.exporting) return;
    await withBound(this.exporting, timeoutMs, true);
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
  stats(): TaskLifecycleProcessorStats {
    return { ...this.counts, queued: this.queue.length, open: this.open.size };
  }

  private noteTaskEnd(end: HrTime): void {
    const latest = this.latestTaskEnd;
    if (!latest || end[0] > latest[0] || (end[0] === latest[0] && end[1] > latest[1])) this.latestTaskEnd = end;
  }

  private async snapshotAndFlush(hold: boolean): Promise<void> {
    try {
      this.enqueueSnapshots();
      await this.flush(hold);
    } catch (error) {
      reportError('TaskLifecycleProcessor.snapshot failed', error);
    }
  }

  private async close(): Promise<void> {
    try {
      this.enqueueSnapshots();
      this.closing = true;
      this.open.clear();
      await this.flush(true);
    } catch (error) {
      reportError('TaskLifecycleProcessor.shutdown failed while flushing', error);
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      const done = await withBound(Promise.resolve(this.exporter.shutdown()), this.exportTimeoutMs, true);
      if (!done) reportError(`TaskLifecycleProcessor exporter shutdown did not finish within ${this.exportTimeoutMs} ms`);
    } catch (error) {
      reportError('TaskLifecycleProcessor exporter shutdown failed', error);
    }
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

  private enqueue(span: ReadableSpan): void {
    if (this.queue.length >= this.maxQueueSize) {
      this.counts.dropped++;
      if (!this.dropWarned) {
        this.dropWarned = true;
        reportWarning(`TaskLifecycleProcessor queue limit (${this.maxQueueSize}) reached, dropping spans`);
      }
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.batchSize) this.kick();
    else this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.exporting) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, this.delayMs);
    this.timer.unref();
  }

  private kick(): void {
    if (this.exporting) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.exporting = this.drain().finally(() => {
      this.exporting = undefined;
      if (this.queue.length > 0 && !this.closing) this.schedule();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchSize);
      await this.exportBatch(batch);
    }
  }

  /**
   * Sends the queue until empty, bounded by the flush timeout. `hold`: someone awaits the flush,
   * so its bound must keep the process alive; otherwise an app awaiting a flush against a hung
   * exporter would see the loop empty, its await abandoned and its code after it never run.
   */
  private async flush(hold: boolean): Promise<void> {
    const work = (async () => {
      while (this.queue.length > 0 || this.exporting) {
        if (!this.exporting) this.kick();
        await this.exporting;
      }
    })();
    const done = await withBound(work, this.flushTimeoutMs, hold);
    if (!done) reportError(`TaskLifecycleProcessor flush did not finish within ${this.flushTimeoutMs} ms`);
  }

  private exportBatch(batch: ReadableSpan[]): Promise<void> {
    const spans = withIdentity(batch);
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
          reportError(`TaskLifecycleProcessor export of ${spans.length} spans failed`, error ?? result?.error);
        }
        resolve();
      };
      const timeout = setTimeout(() => finish(undefined, new Error(`export timed out after ${this.exportTimeoutMs} ms`)), this.exportTimeoutMs);
      timeout.unref();
      try {
        // The export's own HTTP calls must not be traced, or each export would make spans to export.
        const returned: unknown = context.with(suppressTracing(context.active()), () => this.exporter.export(spans, (result) => finish(result, result.error)));
        // An `async export()` that throws rejects instead: left alone, that rejection would be
        // unhandled and crash the app.
        if (isThenable(returned)) returned.then(undefined, (error: unknown) => finish(undefined, error));
      } catch (error) {
        finish(undefined, error);
      }
    });
  }
}

let defaultProcessor: TaskLifecycleProcessor | undefined;

/** The most recently created processor that is not shut down, used when none is passed. */
export function currentProcessor(): TaskLifecycleProcessor | undefined {
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

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (Number.isFinite(value) && value > 0) return value;
  reportWarning(`TaskLifecycleProcessor option ${name}=${describeError(value)} is not a positive number, using ${fallback}`);
  return fallback;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
