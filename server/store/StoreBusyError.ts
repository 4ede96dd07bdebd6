/** What a {@link StoreBusyError} asks the sender to wait before retrying, in seconds. */
export const STORE_BUSY_RETRY_AFTER_SECONDS = 1;

/**
 * The store cannot write now because another process holds its write lock (a `canceltrace import`,
 * another serve on the same file). Retryable: nothing of the batch was stored, and the same batch
 * can be stored once the lock is released. The ingest path answers 503 with Retry-After.
 */
export class StoreBusyError extends Error {
  override readonly name = 'StoreBusyError';
  /** another writer holds the lock; not a failure of this process */
  readonly busy = true;
  readonly retryable = true;
  readonly retryAfterSeconds = STORE_BUSY_RETRY_AFTER_SECONDS;

  constructor(message = 'the store is busy: another process holds its write lock', options?: { cause?: unknown }) {
    super(message, options);
  }
}
