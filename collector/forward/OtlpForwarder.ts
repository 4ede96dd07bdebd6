/**
 * Passes accepted OTLP trace requests on to one downstream OTLP/HTTP receiver (a Collector,
 * Jaeger, Tempo, another canceltrace), as protobuf, behind a queue bounded in bytes.
 *
 * Forwarding never slows or fails ingest: {@link OtlpForwarder.offer} only queues (or drops and
 * counts, when the queue is full) and returns at once; one request at a time is sent from the
 * queue, retried with exponential backoff on network errors, 429 and 502/503/504 (honouring
 * Retry-After), and dropped, counted, on any other answer or when it has been retried too long.
 */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { OtlpEncoding } from '../otlp/decode.js';
import { jsonToProtobuf } from './jsonToProtobuf.js';

const gzipAsync = promisify(gzip);

/** The OTLP/HTTP path for traces, appended to a base URL that does not already end with it. */
export const FORWARD_TRACES_PATH = '/v1/traces';
/** Bytes of request bodies waiting to be forwarded, per destination, before new ones are dropped (64 MiB). */
export const DEFAULT_FORWARD_QUEUE_BYTES = 64 * 1024 * 1024;
/** First wait before a retry, in milliseconds; it doubles on each retry of the same request. */
export const DEFAULT_INITIAL_BACKOFF_MILLIS = 1_000;
/** Longest wait between two tries, in milliseconds (a longer Retry-After is cut to this). */
export const DEFAULT_MAX_BACKOFF_MILLIS = 30_000;
/** How long one request is retried before it is dropped, in milliseconds (5 minutes, as the Collector's default). */
export const DEFAULT_MAX_RETRY_MILLIS = 300_000;
/** How long one try may take, in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT_MILLIS = 10_000;
/** How long {@link OtlpForwarder.close} keeps sending what is queued, in milliseconds. */
export const DEFAULT_CLOSE_GRACE_MILLIS = 5_000;

/** Statuses after which the same request is tried again (OTLP/HTTP's retryable set). */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** One request waiting to be forwarded. */
export interface ForwardItem {
  /** the decompressed ExportTraceServiceRequest body */
  body: Uint8Array;
  encoding: OtlpEncoding;
  /** how many spans it carries (what a drop counts) */
  spans: number;
}

/** How a {@link OtlpForwarder} is built. */
export interface OtlpForwarderOptions {
  /** base URL (`http://tempo:4318`) or full traces URL (`…/v1/traces`) */
  url: string;
  maxQueueBytes?: number;
  initialBackoffMillis?: number;
  maxBackoffMillis?: number;
  maxRetryMillis?: number;
  requestTimeoutMillis?: number;
  closeGraceMillis?: number;
  /** Told about a dropped request or a downstream failure. Must not throw. */
  onError?: (err: unknown) => void;
}

/**
 * The traces URL for a `--forward` value: `/v1/traces` is appended unless the path already ends
 * with it, as the Collector's `otlphttp` exporter does with its `endpoint`.
 * @throws when the value is not an http(s) URL
 */
export function forwardUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`--forward must be an http:// or https:// URL, got '${value}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--forward must be an http:// or https:// URL, got '${value}'`);
  const path = url.pathname.replace(/\/+$/, '');
  if (!path.endsWith(FORWARD_TRACES_PATH)) url.pathname = `${path}${FORWARD_TRACES_PATH}`;
  return url.toString();
}

/** Forwards to one destination; see the module comment. */
export class OtlpForwarder {
  /** the traces URL requests go to */
  readonly url: string;
  /** bytes waiting in the queue (the request being sent included) */
  queuedBytes = 0;
  /** spans dropped: queue full, refused by the downstream, retried too long, or still queued at close */
  droppedSpans = 0;
  /** spans the downstream acknowledged */
  sentSpans = 0;
  private readonly queue: ForwardItem[] = [];
  private readonly maxQueueBytes: number;
  private readonly initialBackoffMillis: number;
  private readonly maxBackoffMillis: number;
  private readonly maxRetryMillis: number;
  private readonly requestTimeoutMillis: number;
  private readonly closeGraceMillis: number;
  private readonly reportError: (err: unknown) => void;
  private sending = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private idle: (() => void) | undefined;

  constructor(options: OtlpForwarderOptions) {
    this.url = forwardUrl(options.url);
    this.maxQueueBytes = options.maxQueueBytes ?? DEFAULT_FORWARD_QUEUE_BYTES;
    this.initialBackoffMillis = options.initialBackoffMillis ?? DEFAULT_INITIAL_BACKOFF_MILLIS;
    this.maxBackoffMillis = options.maxBackoffMillis ?? DEFAULT_MAX_BACKOFF_MILLIS;
    this.maxRetryMillis = options.maxRetryMillis ?? DEFAULT_MAX_RETRY_MILLIS;
    this.requestTimeoutMillis = options.requestTimeoutMillis ?? DEFAULT_REQUEST_TIMEOUT_MILLIS;
    this.closeGraceMillis = options.closeGraceMillis ?? DEFAULT_CLOSE_GRACE_MILLIS;
    const onError = options.onError ?? ((err: unknown) => console.error(`canceltrace forward: ${err instanceof Error ? err.message : String(err)}`));
    this.reportError = (err) => {
      try {
        onError(err);
      } catch {
        // the reporter is the last stop
      }
    };
  }

  /** Queues a request; returns false (and counts its spans dropped) when the queue is full or closed. Never throws. */
  offer(item: ForwardItem): boolean {
    if (this.closed || this.queuedBytes + item.body.byteLength > this.maxQueueBytes) {
      this.droppedSpans += item.spans;
      return false;
    }
    this.queue.push(item);
    this.queuedBytes += item.body.byteLength;
    void this.pump();
    return true;
  }

  /** Stops taking requests and keeps sending the queued ones for the grace period; what is left is dropped. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.queue.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          this.idle = resolve;
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.closeGraceMillis);
        }),
      ]);
      clearTimeout(timer);
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const item of this.queue.splice(0)) this.drop(item);
    this.wake?.();
  }

  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        const item = this.queue[0];
        const delivered = await this.deliver(item);
        if (this.queue[0] !== item) return; // close() dropped it meanwhile
        this.queue.shift();
        this.queuedBytes -= item.body.byteLength;
        if (delivered) this.sentSpans += item.spans;
        else this.droppedSpans += item.spans;
      }
      this.idle?.();
    } finally {
      this.sending = false;
    }
  }

  /** Tries one request until it is acknowledged (true), refused or retried too long (false). */
  private async deliver(item: ForwardItem): Promise<boolean> {
    let body: Buffer;
    try {
      const protobuf = item.encoding === 'protobuf' ? item.body : jsonToProtobuf(item.body);
      body = await gzipAsync(protobuf);
    } catch (err) {
      this.reportError(new Error(`cannot re-encode a request of ${item.spans} span(s) for ${this.url}: ${(err as Error).message}`));
      return false;
    }
    const firstTry = Date.now();
    let backoff = this.initialBackoffMillis;
    for (let tries = 1; ; tries++) {
      let retryAfterMillis: number | undefined;
      try {
        const res = await fetch(this.url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' },
          body: new Uint8Array(body),
          signal: AbortSignal.timeout(this.requestTimeoutMillis),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return true;
        if (!RETRYABLE_STATUSES.has(res.status)) {
          this.reportError(new Error(`${this.url} refused ${item.spans} span(s) with HTTP ${res.status}; dropped`));
          return false;
        }
        retryAfterMillis = retryAfterOf(res.headers.get('retry-after'));
      } catch (err) {
        // One report per request, not one per retry of a downstream that is down.
        if (tries === 1) this.reportError(new Error(`cannot reach ${this.url} (${(err as Error).message}); retrying`));
      }
      const wait = Math.min(retryAfterMillis ?? backoff * (0.5 + Math.random() / 2), this.maxBackoffMillis);
      if (Date.now() - firstTry + wait > this.maxRetryMillis || this.closed) {
        this.reportError(new Error(`${this.url} did not take ${item.spans} span(s) in ${Math.round((Date.now() - firstTry) / 1000)} s; dropped`));
        return false;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.retryTimer = setTimeout(resolve, wait);
        this.retryTimer.unref();
      });
      this.wake = undefined;
      if (this.closed && this.queue[0] !== item) return false;
      backoff = Math.min(backoff * 2, this.maxBackoffMillis);
    }
  }

  private drop(item: ForwardItem): void {
    this.queuedBytes -= item.body.byteLength;
    this.droppedSpans += item.spans;
  }
}

/** Retry-After as milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterOf(header: string | null): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
