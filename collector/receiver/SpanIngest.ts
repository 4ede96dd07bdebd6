/**
 * The transport-neutral ingest path every receiver shares (OTLP/HTTP here, OTLP/gRPC beside it):
 * decode → validate each span → budget → consume. A receiver only reads its transport's body and
 * maps the outcome or the typed errors below to its own statuses:
 *
 * | outcome / error                   | HTTP                      | gRPC                 |
 * | --------------------------------- | ------------------------- | -------------------- |
 * | {@link IngestResult}             | 200 (+ partialSuccess)    | OK (+ partialSuccess)|
 * | {@link OtlpDecodeError}           | 400                       | INVALID_ARGUMENT     |
 * | {@link IngestOverloadedError}     | 429 / 503 + Retry-After   | RESOURCE_EXHAUSTED / UNAVAILABLE |
 * | {@link ConsumerUnavailableError}  | 503 + Retry-After         | UNAVAILABLE          |
 *
 * One bad span never costs the others: a span the store cannot keep is refused on its own and
 * counted in the partial success, and the valid spans are stored exactly once.
 */

import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Consumer } from '../../contract/records.js';
import { recordOf } from '../otlp/DecodedSpan.js';
import type { OtlpEncoding } from '../otlp/decode.js';
import { decodeTraceRequest, MAX_ERROR_MESSAGES, OtlpDecodeError } from '../otlp/decode.js';
import { IngestBudget, type IngestTicket } from './IngestBudget.js';

export { OtlpDecodeError } from '../otlp/decode.js';
export { IngestOverloadedError } from './IngestBudget.js';

/** Largest time (unix ns) a store keeps: the int64 range of its columns. */
export const MAX_STORABLE_TIME_NS = 2n ** 63n - 1n;
/** Longest `errorMessage` of a partial success, in characters. */
export const MAX_PARTIAL_MESSAGE_CHARS = 2000;

/** The next stage could not take the spans now (a failure, the store busy): retryable, 503. */
export class ConsumerUnavailableError extends Error {
  override readonly name = 'ConsumerUnavailableError';
  readonly retryable = true;
  constructor(
    message: string,
    /** seconds the sender should wait; the receiver's default when undefined */
    readonly retryAfterSeconds?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What one accepted request came to. */
export interface IngestResult {
  /** spans handed to the next stage and accepted by it */
  accepted: number;
  /** spans refused (decode, validation or the store refusing them as bad data) */
  rejected: number;
  /** the first problems, one per refused span, joined ('' when nothing was refused) */
  errorMessage: string;
}

/** Options of {@link SpanIngest}. */
export interface SpanIngestOptions {
  /** the next stage (the processor, then the store) */
  next: Consumer<ReadableSpan>;
  /** shared by every receiver of the process; a default budget when absent */
  budget?: IngestBudget;
  /** told about failures the sender cannot see; must not throw (if it does, that is ignored) */
  onError?: (err: unknown) => void;
}

/** Decodes, validates, budgets and consumes one OTLP trace request; see the module comment. */
export class SpanIngest {
  readonly budget: IngestBudget;
  private readonly next: Consumer<ReadableSpan>;
  private readonly reportError: (err: unknown) => void;

  constructor(options: SpanIngestOptions) {
    this.next = options.next;
    this.budget = options.budget ?? new IngestBudget();
    const onError = options.onError ?? ((err: unknown) => console.error('canceltrace ingest:', err));
    this.reportError = (err) => {
      try {
        onError(err);
      } catch {
        // The reporter is the last resort; nothing is left to tell.
      }
    };
  }

  /** A ticket for one request (see {@link IngestBudget.admit}); throws IngestOverloadedError when shedding. */
  admit(): IngestTicket {
    return this.budget.admit();
  }

  /**
   * Ingests one decompressed request body under `ticket` (which should already hold the body's
   * bytes; what it does not hold is taken here). The caller releases the ticket.
   *
   * @throws {@link OtlpDecodeError}, {@link IngestOverloadedError}, {@link ConsumerUnavailableError}
   */
  async ingest(body: Uint8Array, encoding: OtlpEncoding, ticket: IngestTicket): Promise<IngestResult> {
    if (ticket.bytes < body.byteLength) ticket.take(body.byteLength - ticket.bytes);
    const decoded = decodeTraceRequest(body, encoding);
    const errors = [...decoded.errors];
    let rejected = decoded.rejected;
    const refuse = (message: string): void => {
      rejected++;
      if (errors.length < MAX_ERROR_MESSAGES) errors.push(message);
    };
    const valid: ReadableSpan[] = [];
    for (const span of decoded.spans) {
      const problem = storableProblem(span);
      if (problem === undefined) valid.push(span);
      else refuse(`${describe(span)}: ${problem}`);
    }
    let accepted = 0;
    if (valid.length > 0) {
      ticket.enterBatch();
      accepted = await this.consume(valid, refuse);
    }
    return { accepted, rejected, errorMessage: partialMessage(rejected, errors) };
  }

  /** Hands `spans` on; when the next stage refuses the batch as bad data, each span goes alone so the good ones are kept. */
  private async consume(spans: ReadableSpan[], refuse: (message: string) => void): Promise<number> {
    try {
      await this.next.consume(spans);
      return spans.length;
    } catch (err) {
      if (!isPermanent(err)) throw this.unavailable(err);
      if (spans.length === 1) {
        refuse(`${describe(spans[0])}: refused by the store: ${(err as Error).message}`);
        return 0;
      }
    }
    // Batches are atomic in the store, so nothing of the refused one was kept: one by one now.
    let accepted = 0;
    for (const span of spans) {
      try {
        await this.next.consume([span]);
        accepted++;
      } catch (err) {
        if (!isPermanent(err)) throw this.unavailable(err);
        refuse(`${describe(span)}: refused by the store: ${(err as Error).message}`);
      }
    }
    return accepted;
  }

  private unavailable(err: unknown): Error {
    const retryAfter = (err as { retryAfterSeconds?: unknown })?.retryAfterSeconds;
    if ((err as { busy?: unknown })?.busy !== true) this.reportError(err);
    const why = (err as { busy?: unknown })?.busy === true ? 'the store is busy' : 'the collector cannot take spans right now';
    return new ConsumerUnavailableError(`${why}; retry later`, typeof retryAfter === 'number' ? retryAfter : undefined, { cause: err });
  }
}

/**
 * Why the store could not keep `span` exactly (a time outside int64), or undefined when it can.
 * Decode already refuses what is not valid OTLP; this is what is valid OTLP but not storable.
 */
export function storableProblem(span: ReadableSpan): string | undefined {
  const parts = recordOf(span);
  if (!parts) return undefined;
  if (parts.startTime > MAX_STORABLE_TIME_NS) return `startTimeUnixNano ${parts.startTime} is above the largest time kept (${MAX_STORABLE_TIME_NS})`;
  if (parts.endTime > MAX_STORABLE_TIME_NS) return `endTimeUnixNano ${parts.endTime} is above the largest time kept (${MAX_STORABLE_TIME_NS})`;
  for (let i = 0; i < parts.events.length; i++) {
    const t = parts.events[i].time;
    if (t > MAX_STORABLE_TIME_NS) return `events[${i}].timeUnixNano ${t} is above the largest time kept (${MAX_STORABLE_TIME_NS})`;
  }
  return undefined;
}

/** The partial-success message: the first problems, then how many more; '' when none. */
export function partialMessage(rejected: number, errors: readonly string[]): string {
  if (rejected === 0) return '';
  const unlisted = rejected - errors.length;
  const text = errors.join('; ') + (unlisted > 0 ? `; and ${unlisted} more` : '');
  return text.length > MAX_PARTIAL_MESSAGE_CHARS ? `${text.slice(0, MAX_PARTIAL_MESSAGE_CHARS)}…` : text;
}

function isPermanent(err: unknown): boolean {
  return (err as { permanent?: unknown })?.permanent === true;
}

function describe(span: ReadableSpan): string {
  const { traceId, spanId } = span.spanContext();
  return `span ${JSON.stringify(span.name.length > 80 ? `${span.name.slice(0, 80)}…` : span.name)} (${traceId}/${spanId})`;
}

/** Re-exported so a receiver needs one import for the whole path. */
export { IngestBudget };
