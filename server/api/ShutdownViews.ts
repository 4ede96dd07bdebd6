import type { Consumer, ShutdownRecord, ShutdownReport, SpanRecord } from '../../collector/records.js';
import { judgeShutdown, type JudgeOptions } from '../judge/index.js';
import type { Store } from '../store/Store.js';

/** Judged shutdowns kept in memory, most recently used last. */
export const DEFAULT_REPORT_CACHE_SIZE = 64;
/** Shutdown summaries (outcome and counts, a few hundred bytes each) kept for the list. */
export const DEFAULT_SUMMARY_CACHE_SIZE = 10_000;

/** What the shutdown list shows of a judged shutdown. */
export interface ShutdownSummary {
  outcome: string;
  counts: ShutdownReport['counts'];
}

/**
 * Judges shutdowns on read and remembers the reports until a span of the same instance arrives.
 * It also sits in the ingest path as the consumer in front of the store, which is how it learns
 * what to forget.
 */
export class ShutdownViews implements Consumer<SpanRecord> {
  private readonly cache = new Map<string, { generation: number; report: ShutdownReport }>();
  private readonly summaries = new Map<string, { generation: number; summary: ShutdownSummary }>();
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly options: Partial<JudgeOptions> = {},
    private readonly cacheSize = DEFAULT_REPORT_CACHE_SIZE,
  ) {}

  /** Stores a batch, then forgets the reports of the instances it touches. */
  async consume(batch: SpanRecord[]): Promise<void> {
    await this.store.consume(batch);
    for (const instance of new Set(batch.map((s) => s.instance))) {
      this.generations.set(instance, (this.generations.get(instance) ?? 0) + 1);
    }
  }

  /**
   * Outcome and counts of one shutdown, for the list. Kept far longer than whole reports, so a
   * dashboard polling a list of many shutdowns does not judge them all again on every poll.
   */
  async summary(shutdown: ShutdownRecord): Promise<ShutdownSummary> {
    const generation = this.generations.get(shutdown.instance) ?? 0;
    const key = `${shutdown.id}:${shutdown.end}`;
    const hit = touch(this.summaries, key);
    if (hit && hit.generation === generation) return hit.summary;
    const { outcome, counts } = await this.report(shutdown);
    remember(this.summaries, key, { generation, summary: { outcome, counts } }, DEFAULT_SUMMARY_CACHE_SIZE);
    return { outcome, counts };
  }

  /** The judged view of one shutdown. */
  async report(shutdown: ShutdownRecord): Promise<ShutdownReport> {
    const generation = this.generations.get(shutdown.instance) ?? 0;
    const key = `${shutdown.id}:${shutdown.end}`;
    const hit = touch(this.cache, key);
    if (hit && hit.generation === generation) return hit.report;
    const end = shutdown.open ? undefined : shutdown.end;
    const tasks = await this.store.tasksInWindow(shutdown.instance, shutdown.start, end);
    const report = judgeShutdown(shutdown, tasks, this.options);
    remember(this.cache, key, { generation, report }, this.cacheSize);
    return report;
  }
}

/** Reads an entry and marks it most recently used. */
function touch<V>(cache: Map<string, V>, key: string): V | undefined {
  const hit = cache.get(key);
  if (hit !== undefined) {
    cache.delete(key);
    cache.set(key, hit);
  }
  return hit;
}

/** Stores an entry, dropping the least recently used ones beyond `size`. */
function remember<V>(cache: Map<string, V>, key: string, value: V, size: number): void {
  cache.set(key, value);
  while (cache.size > size) cache.delete(cache.keys().next().value as string);
}
