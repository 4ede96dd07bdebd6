import type { Consumer } from '../../contract/records.js';

/**
 * A {@link Consumer} that records every batch it is given, or rejects every batch while
 * {@link RecordingConsumer.failWith} is set (nothing of a rejected batch is recorded).
 */
export class RecordingConsumer<T> implements Consumer<T> {
  /** Batches taken, in arrival order. */
  readonly batches: T[][] = [];
  /** How many times consume was called, taken or not. */
  calls = 0;
  /** When set, consume rejects with this error. */
  failWith: Error | undefined;

  /** Every item of every taken batch, in order. */
  get items(): T[] {
    return this.batches.flat();
  }

  async consume(batch: T[]): Promise<void> {
    this.calls++;
    if (this.failWith) throw this.failWith;
    this.batches.push(batch);
  }
}
