import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanRejected } from './SpanRejected.js';

/** At most this many rejection messages are kept; `rejected` still counts them all. */
export const MAX_ERROR_MESSAGES = 20;

/** Longest span name quoted in a rejection message. */
const MAX_NAME_IN_MESSAGE = 80;

/** What one request has yielded so far: the spans taken, and the spans refused with why. */
export class DecodeTally {
  spans: ReadableSpan[] = [];
  rejected = 0;
  errors: string[] = [];

  /** Counts `count` refused spans, keeping the first {@link MAX_ERROR_MESSAGES} messages. */
  reject(count: number, message: string): void {
    this.rejected += count;
    if (this.errors.length < MAX_ERROR_MESSAGES) this.errors.push(message);
  }

  /**
   * Decodes the spans of one resource/scope group; a {@link SpanRejected} refuses only its span.
   *
   * @param where the group's place in the request, for messages (`resourceSpans[0].scopeSpans[1]`)
   * @param nameOf the span's name as sent, for messages
   * @param read one encoded span to a span, or throws SpanRejected
   */
  take<S>(spans: readonly S[], where: string, nameOf: (s: S) => unknown, read: (s: S) => ReadableSpan): void {
    spans.forEach((s, i) => {
      try {
        this.spans.push(read(s));
      } catch (err) {
        if (!(err instanceof SpanRejected)) throw err;
        this.reject(1, `${describeSpan(`${where}.spans[${i}]`, nameOf(s))}: ${err.message}`);
      }
    });
  }
}

function describeSpan(where: string, name: unknown): string {
  if (typeof name !== 'string' || name === '') return where;
  const shown = name.length > MAX_NAME_IN_MESSAGE ? `${name.slice(0, MAX_NAME_IN_MESSAGE)}…` : name;
  return `${where} ${JSON.stringify(shown)}`;
}
