/** Exception type names that mean "this is the cancellation itself" (Python, Node, axios-style). */
const CANCEL_TYPE = /\b(CancelledError|CanceledError|AbortError)\b/;
/** A DOMException is a cancellation when it is the abort one (`AbortSignal.abort()`'s default reason). */
const DOM_EXCEPTION = /\bDOMException\b/;
const ABORT_WORD = /abort/i;

/**
 * Whether an exception (its type, and its message or a status message) is a cancellation rather than
 * a real failure: `asyncio.CancelledError` in any module, `AbortError`, `CanceledError`, or a
 * DOMException for an abort. A task that fails with one of these was in fact cancelled.
 */
export function isCancellation(type: string | undefined, message?: string): boolean {
  if (type !== undefined && CANCEL_TYPE.test(type)) return true;
  if (type !== undefined && DOM_EXCEPTION.test(type) && message !== undefined && ABORT_WORD.test(message)) return true;
  return false;
}
