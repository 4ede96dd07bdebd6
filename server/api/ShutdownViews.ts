import type { Consumer, ShutdownRecord, ShutdownReport, SpanRecord } from '../../collector/records.js';
import { judgeShutdown, type JudgeOptions } from '../judge/index.js';
import type { Store } from '../store/Store.js';

/** Judged shutdowns kept in memory, most recently used last. */
export const DEFAULT_REPORT_CACHE_SIZE = 64;

/**
 * Judges shutdowns on read and remembers the reports until a span of the same instance arrives.
 * It also sits in the ingest path as the consumer in front of the store, which is how it learns
 * what to forget.
 */
export class ShutdownViews implements Consumer<SpanRecord> {
  private readonly cache = new Map<string, { generation: number; report: ShutdownReport }>();
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

  /** The judged view of one shutdown. */
  async report(shutdown: ShutdownRecord): Promise<ShutdownReport> {
    const generation = this.generations.get(shutdown.instance) ?? 0;
    const key = `${shutdown.id}:${shutdown.end}`;
    const hit = this.cache.get(key);
    if (hit && hit.generation === generation) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit.report;
    }
    const end = shutdown.open ? undefined : shutdown.end;
    const tasks = await this.store.tasksInWindow(shutdown.instance, shutdown.start, end);
    const report = judgeShutdown(shutdown, tasks, this.options);
    this.cache.set(key, { generation, report });
    while (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
    return report;
  }
}
