/**
 * Deletes what is older than the retention period (`--retention 14d`), in small batches with a
 * pause between them, so that ingest and reads never wait long for the store; then gives freed
 * space back (SQLite incremental vacuum). One sweep runs soon after start, then one per interval.
 */
import type { Store } from '../store/Store.js';
import { type ExpiryCursor, FIRST_EXPIRY_CURSOR } from './ExpiryCursor.js';

/** Rows one batch looks at (and at most deletes). */
export const DEFAULT_RETENTION_BATCH_ROWS = 64;
/** Pause between two batches, in milliseconds: ingest gets the store (and the event loop) in between; a batch of 64 realistic task rows takes about 6 ms (median; a WAL checkpoint makes some 10 times longer), so a sweep uses about 40 % of the loop. */
export const DEFAULT_RETENTION_PAUSE_MILLIS = 8;
/** Time between two sweeps, in milliseconds (10 minutes). */
export const DEFAULT_SWEEP_INTERVAL_MILLIS = 10 * 60_000;
/** Delay before the first sweep after start, in milliseconds. */
export const DEFAULT_FIRST_SWEEP_DELAY_MILLIS = 5_000;
/** Free pages given back per step of the incremental vacuum (4 KiB pages: 2 MiB). */
export const RECLAIM_PAGES_PER_STEP = 512;

const NS_PER_MILLI = 1_000_000n;
const UNIT_MILLIS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A retention period (`14d`, `36h`, `90m`, `2w`, `30s`) in milliseconds.
 * @throws an Error saying what is expected
 */
export function parseRetention(text: string): number {
  const m = /^\s*(\d+)\s*([smhdw])\s*$/.exec(text);
  const millis = m ? Number(m[1]) * UNIT_MILLIS[m[2]] : Number.NaN;
  if (!Number.isSafeInteger(millis) || millis <= 0) {
    throw new Error(`retention must be a whole number with a unit s, m, h, d or w (e.g. 14d), got '${text}'`);
  }
  return millis;
}

/** What one sweep did. */
export interface SweepResult {
  /** records deleted, by role */
  deleted: { shutdown: number; task: number; other: number };
  /** pages given back to the file system */
  reclaimedPages: number;
  /** batches run */
  batches: number;
}

/** How a {@link RetentionSweeper} is built. */
export interface RetentionSweeperOptions {
  store: Pick<Store, 'expireBatch' | 'reclaimSpace'>;
  /** how long records are kept, in milliseconds */
  retentionMillis: number;
  batchRows?: number;
  pauseMillis?: number;
  intervalMillis?: number;
  firstSweepDelayMillis?: number;
  /** the wall clock, in unix milliseconds */
  now?: () => number;
  /** told about each finished sweep; must not throw */
  onSwept?: (result: SweepResult) => void;
  onError?: (err: unknown) => void;
}

/** Runs retention sweeps; see the module comment. */
export class RetentionSweeper {
  /** records deleted since start, by role (for metrics) */
  readonly deletedTotal = { shutdown: 0, task: 0, other: 0 };
  private readonly options: Required<Omit<RetentionSweeperOptions, 'onSwept' | 'onError'>> & Pick<RetentionSweeperOptions, 'onSwept' | 'onError'>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SweepResult> | undefined;
  private stopped = false;

  constructor(options: RetentionSweeperOptions) {
    this.options = {
      batchRows: DEFAULT_RETENTION_BATCH_ROWS,
      pauseMillis: DEFAULT_RETENTION_PAUSE_MILLIS,
      intervalMillis: DEFAULT_SWEEP_INTERVAL_MILLIS,
      firstSweepDelayMillis: DEFAULT_FIRST_SWEEP_DELAY_MILLIS,
      now: Date.now,
      ...options,
    };
  }

  /** Schedules the first sweep and the ones after it (unref'd timers: they never keep the process alive). */
  start(): void {
    if (this.stopped || this.timer) return;
    this.schedule(this.options.firstSweepDelayMillis);
  }

  /** Deletes everything older than the retention period now, batch by batch; one sweep at a time. */
  sweepOnce(): Promise<SweepResult> {
    this.running ??= this.sweep().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stops scheduling; a sweep in progress ends after its current batch. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  private schedule(afterMillis: number): void {
    this.timer = setTimeout(() => {
      void this.sweepOnce()
        .then((result) => this.options.onSwept?.(result))
        .catch((err) => this.options.onError?.(err))
        .finally(() => {
          if (!this.stopped) this.schedule(this.options.intervalMillis);
        });
    }, afterMillis);
    this.timer.unref();
  }

  private async sweep(): Promise<SweepResult> {
    const { store, batchRows, pauseMillis } = this.options;
    const cutoff = BigInt(Math.trunc(this.options.now() - this.options.retentionMillis)) * NS_PER_MILLI;
    const result: SweepResult = { deleted: { shutdown: 0, task: 0, other: 0 }, reclaimedPages: 0, batches: 0 };
    let cursor: ExpiryCursor | undefined = FIRST_EXPIRY_CURSOR;
    while (cursor && !this.stopped) {
      const batch = await store.expireBatch(cutoff, batchRows, cursor);
      result.batches++;
      for (const role of ['shutdown', 'task', 'other'] as const) {
        result.deleted[role] += batch.deleted[role];
        this.deletedTotal[role] += batch.deleted[role];
      }
      cursor = batch.next;
      await pause(pauseMillis);
    }
    for (;;) {
      if (this.stopped) break;
      const pages = await store.reclaimSpace(RECLAIM_PAGES_PER_STEP);
      result.reclaimedPages += pages;
      if (pages < RECLAIM_PAGES_PER_STEP) break;
      await pause(pauseMillis);
    }
    return result;
  }
}

function pause(millis: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, millis));
}
