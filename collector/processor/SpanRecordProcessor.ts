import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Consumer, SpanRecord } from '../../contract/records.js';
import { toSpanRecord } from './toSpanRecord.js';

/** Spans held between flushes before new ones are dropped (and counted). */
export const DEFAULT_MAX_QUEUE_SIZE = 100_000;
/** How long buffered spans wait before they are passed on, in milliseconds. */
export const DEFAULT_FLUSH_DELAY_MILLIS = 200;

/** Options of {@link SpanRecordProcessor}. */
export interface SpanRecordProcessorOptions {
  /** the next stage: usually the store */
  next: Consumer<SpanRecord>;
  maxQueueSize?: number;
  flushDelayMillis?: number;
  /** where failures of the next stage go; must not throw */
  onError?: (error: unknown) => void;
}

/**
 * The collector's span processor: turns spans into task, shutdown and other records
 * (see docs/conventions.md) and hands them to the next stage.
 *
 * Behind the OTLP receiver it is used through {@link SpanRecordProcessor.consume}, so a failure of
 * the store reaches the receiver (which answers 503, retryable). As an OpenTelemetry `SpanProcessor`
 * (onEnd), spans are buffered in a bounded queue and passed on in batches; `onEnd` never throws.
 */
export class SpanRecordProcessor implements SpanProcessor, Consumer<ReadableSpan> {
  private readonly next: Consumer<SpanRecord>;
  private readonly maxQueueSize: number;
  private readonly flushDelayMillis: number;
  private readonly onError: (error: unknown) => void;
  private queue: SpanRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private closed = false;
  /** spans dropped because the queue was full or the processor was shut down */
  dropped = 0;

  constructor(options: SpanRecordProcessorOptions) {
    this.next = options.next;
    this.maxQueueSize = options.maxQueueSize ?? DEFAULT_MAX_QUEUE_SIZE;
    this.flushDelayMillis = options.flushDelayMillis ?? DEFAULT_FLUSH_DELAY_MILLIS;
    this.onError = options.onError ?? ((error) => console.error('SpanRecordProcessor:', error));
  }

  /** Converts a batch of spans and passes it to the next stage; rejects when the next stage does. */
  async consume(batch: ReadableSpan[]): Promise<void> {
    if (batch.length === 0) return;
    await this.next.consume(batch.map(toSpanRecord));
  }

  /** Nothing to do on start behind the receiver: only ended (or snapshot) spans arrive. */
  onStart(_span: Span, _parentContext: Context): void {}

  /** Buffers an ended span; never throws. */
  onEnd(span: ReadableSpan): void {
    try {
      if (this.closed || this.queue.length >= this.maxQueueSize) {
        this.dropped++;
        return;
      }
      this.queue.push(toSpanRecord(span));
      if (!this.timer) {
        this.timer = setTimeout(() => void this.flush(), this.flushDelayMillis);
        this.timer.unref();
      }
    } catch (error) {
      this.report(error);
    }
  }

  /** Passes every buffered span to the next stage. */
  async forceFlush(): Promise<void> {
    await this.flush();
  }

  /** Flushes and stops taking spans; safe to call twice. */
  async shutdown(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.queue;
    this.queue = [];
    const previous = this.inFlight;
    this.inFlight = previous.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.next.consume(batch);
      } catch (error) {
        this.dropped += batch.length;
        this.report(error);
      }
    });
    return this.inFlight;
  }

  private report(error: unknown): void {
    try {
      this.onError(error);
    } catch {
      // the error reporter itself must never throw into the app
    }
  }
}
