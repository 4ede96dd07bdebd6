/**
 * The bounded ingest budget every receiver shares (OTLP/HTTP, OTLP/gRPC): how many decompressed
 * bytes may be in flight (read, decoded or waiting for the store), how many batches may wait for
 * the next stage, and how much memory the process may hold. Past any of them a request is shed
 * with a retryable error ({@link IngestOverloadedError}: 429 or 503 with Retry-After), never a
 * permanent one, so that a retrying exporter delivers everything once the load falls.
 *
 * It knows no transport: a receiver asks {@link IngestBudget.admit} for a ticket when a request
 * arrives, {@link IngestTicket.take}s bytes as it inflates the body, and releases the ticket when
 * the request is answered.
 */

/** Decompressed bytes all requests together may hold at once (64 MiB). */
export const DEFAULT_MAX_BYTES_IN_FLIGHT = 64 * 1024 * 1024;
/**
 * Requests that may be in flight at once (read, decoded or stored). Past it, new ones are shed at
 * once instead of queueing: on a small machine decoding and storing are CPU-bound, so more at once
 * only makes every answer later (32 senders on 2 cores: every answer 3.7 s late, none shed).
 */
export const DEFAULT_MAX_REQUESTS_IN_FLIGHT = 16;
/** Batches that may wait for the next stage (the store) at once. */
export const DEFAULT_MAX_PENDING_BATCHES = 64;
/**
 * Longest the oldest batch may have waited for the next stage before new requests are shed (ms):
 * the store is then slower than what arrives, and queueing more only makes every answer later.
 */
export const DEFAULT_MAX_QUEUE_DELAY_MS = 1_000;
/** What a shed request is told to wait before retrying, in seconds (the OTLP exporters honour Retry-After). */
export const DEFAULT_SHED_RETRY_AFTER_SECONDS = 1;
const BYTES_PER_MIB = 1024 * 1024;

/** Why a request was shed. */
export type ShedReason = 'bytes' | 'requests' | 'batches' | 'delay' | 'memory';

/**
 * The collector is over its ingest budget: retryable. `httpStatus` is 429 when too much is in flight
 * (the client should slow down) and 503 when the process is over its memory limit.
 */
export class IngestOverloadedError extends Error {
  override readonly name = 'IngestOverloadedError';
  /** the data was not refused, only deferred: a retry can succeed */
  readonly retryable = true;
  constructor(
    message: string,
    readonly reason: ShedReason,
    readonly httpStatus: 429 | 503,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** Options of {@link IngestBudget}. */
export interface IngestBudgetOptions {
  /** defaults to {@link DEFAULT_MAX_BYTES_IN_FLIGHT} */
  maxBytesInFlight?: number;
  /** defaults to {@link DEFAULT_MAX_REQUESTS_IN_FLIGHT} */
  maxRequestsInFlight?: number;
  /** defaults to {@link DEFAULT_MAX_PENDING_BATCHES} */
  maxPendingBatches?: number;
  /** defaults to {@link DEFAULT_MAX_QUEUE_DELAY_MS} */
  maxQueueDelayMs?: number;
  /** resident memory above which new requests are refused with 503, in MiB; no limit when undefined */
  maxMemoryMiB?: number;
  /** defaults to {@link DEFAULT_SHED_RETRY_AFTER_SECONDS} */
  retryAfterSeconds?: number;
  /** the process's resident memory in bytes; defaults to `process.memoryUsage.rss()` */
  memoryBytes?: () => number;
  /** batches the next stage holds but has not stored yet (e.g. a store's write queue); added to the batches waiting here */
  queueDepth?: () => number;
}

/** What {@link IngestBudget.stats} reports (for /api/health and /metrics). */
export interface IngestBudgetStats {
  bytesInFlight: number;
  requestsInFlight: number;
  pendingBatches: number;
  /** requests shed since start, by reason */
  shed: Record<ShedReason, number>;
}

/** A shared, bounded budget for ingest; see the module comment. */
export class IngestBudget {
  readonly maxBytesInFlight: number;
  readonly maxRequestsInFlight: number;
  readonly maxPendingBatches: number;
  readonly maxQueueDelayMs: number;
  readonly maxMemoryBytes: number | undefined;
  readonly retryAfterSeconds: number;
  private readonly memoryBytes: () => number;
  private readonly queueDepth: () => number;
  private bytes = 0;
  private batches = 0;
  private requests = 0;
  /** when each batch waiting for the next stage began to wait (Date.now()), in order */
  private readonly waitingSince = new Set<number[]>();
  private readonly shed: Record<ShedReason, number> = { bytes: 0, requests: 0, batches: 0, delay: 0, memory: 0 };

  constructor(options: IngestBudgetOptions = {}) {
    this.maxBytesInFlight = positiveOr(options.maxBytesInFlight, DEFAULT_MAX_BYTES_IN_FLIGHT, 'maxBytesInFlight');
    this.maxRequestsInFlight = positiveOr(options.maxRequestsInFlight, DEFAULT_MAX_REQUESTS_IN_FLIGHT, 'maxRequestsInFlight');
    this.maxPendingBatches = positiveOr(options.maxPendingBatches, DEFAULT_MAX_PENDING_BATCHES, 'maxPendingBatches');
    this.maxQueueDelayMs = positiveOr(options.maxQueueDelayMs, DEFAULT_MAX_QUEUE_DELAY_MS, 'maxQueueDelayMs');
    this.maxMemoryBytes = options.maxMemoryMiB === undefined ? undefined : positiveOr(options.maxMemoryMiB, 1, 'maxMemoryMiB') * BYTES_PER_MIB;
    this.retryAfterSeconds = positiveOr(options.retryAfterSeconds, DEFAULT_SHED_RETRY_AFTER_SECONDS, 'retryAfterSeconds');
    this.memoryBytes = options.memoryBytes ?? (() => process.memoryUsage.rss());
    this.queueDepth = options.queueDepth ?? (() => 0);
  }

  /**
   * A ticket for one request, or an {@link IngestOverloadedError} when the process is over its
   * memory limit or too many batches already wait for the next stage.
   */
  admit(): IngestTicket {
    if (this.maxMemoryBytes !== undefined) {
      const rss = this.memoryBytes();
      if (rss > this.maxMemoryBytes) {
        throw this.refuse('memory', 503, `the collector is over its memory limit (${mib(rss)} of ${mib(this.maxMemoryBytes)} MiB); retry later`);
      }
    }
    if (this.requests >= this.maxRequestsInFlight) {
      throw this.refuse('requests', 429, `${this.maxRequestsInFlight} requests are already being taken in; retry later`);
    }
    if (this.batches + this.queueDepth() >= this.maxPendingBatches) {
      throw this.refuse('batches', 429, `${this.maxPendingBatches} batches are already waiting for the store; retry later`);
    }
    const waited = this.oldestWaitMs();
    if (waited > this.maxQueueDelayMs) {
      throw this.refuse('delay', 429, `the store is behind (a batch has waited ${Math.round(waited)} ms); retry later`);
    }
    this.requests++;
    return new IngestTicket(this);
  }

  /** Current use and what was shed so far. */
  stats(): IngestBudgetStats {
    return { bytesInFlight: this.bytes, requestsInFlight: this.requests, pendingBatches: this.batches, shed: { ...this.shed } };
  }

  /** @internal used by {@link IngestTicket} */
  takeBytes(held: number, n: number): void {
    // A request alone may always go over the budget (its size is bounded by the body limit);
    // otherwise a body larger than the budget could never get through.
    if (this.bytes + n > this.maxBytesInFlight && this.bytes - held > 0) {
      throw this.refuse('bytes', 429, `more than ${mib(this.maxBytesInFlight)} MiB of requests are in flight; retry later`);
    }
    this.bytes += n;
  }

  /** @internal the ticket's bytes, and its place among the requests in flight */
  returnTicket(n: number): void {
    this.bytes -= n;
    this.requests--;
  }

  /** @internal returns the entry {@link leaveBatch} takes back */
  enterBatch(): number[] {
    this.batches++;
    const entry = [Date.now()];
    this.waitingSince.add(entry);
    return entry;
  }

  /** @internal */
  leaveBatch(entry: number[]): void {
    this.batches--;
    this.waitingSince.delete(entry);
  }

  /** How long the batch that has waited longest for the next stage has waited, in ms (0 when none). */
  private oldestWaitMs(): number {
    // A Set iterates in insertion order: the first entry is the oldest.
    for (const [since] of this.waitingSince) return Date.now() - since;
    return 0;
  }

  private refuse(reason: ShedReason, status: 429 | 503, message: string): IngestOverloadedError {
    this.shed[reason]++;
    return new IngestOverloadedError(message, reason, status, this.retryAfterSeconds);
  }
}

/** One request's share of an {@link IngestBudget}; release it once, when the request is answered. */
export class IngestTicket {
  private held = 0;
  private batch: number[] | undefined;
  private released = false;

  constructor(private readonly budget: IngestBudget) {}

  /** Bytes this ticket holds. */
  get bytes(): number {
    return this.held;
  }

  /** Holds `n` more bytes; throws {@link IngestOverloadedError} (holding nothing more) when the budget is spent. */
  take(n: number): void {
    if (this.released) return;
    this.budget.takeBytes(this.held, n);
    this.held += n;
  }

  /** Marks the request as a batch waiting for the next stage, until {@link IngestTicket.release}. */
  enterBatch(): void {
    if (this.released || this.batch) return;
    this.batch = this.budget.enterBatch();
  }

  /** Gives back everything the ticket holds; safe to call twice. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.returnTicket(this.held);
    this.held = 0;
    if (this.batch) this.budget.leaveBatch(this.batch);
  }
}

function mib(bytes: number): string {
  return (bytes / BYTES_PER_MIB).toFixed(0);
}

function positiveOr(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (Number.isFinite(value) && value > 0) return value;
  console.warn(`canceltrace IngestBudget: ${name} must be a positive number, got ${value}; using ${fallback}`);
  return fallback;
}
