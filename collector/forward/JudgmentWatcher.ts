/**
 * Watches stored records for shutdowns whose judgment has settled, and hands each settled
 * shutdown's judgment on once.
 *
 * A shutdown settles when its final (non-snapshot) span has arrived and its instance has then been
 * quiet for a moment (late task spans and snapshots of the same drain usually follow the shutdown
 * span within one export interval), or, while only snapshots of it arrived, when its instance has
 * sent nothing for long enough that its process is taken to be gone (killed mid-drain).
 */
import { readShutdown } from '../../contract/contract.js';
import type { Consumer, SpanRecord } from '../../contract/records.js';
import type { SettledBy } from './judgmentSpan.js';
import type { SettledJudgment } from './settledJudgment.js';

/** Quiet time after a final shutdown span before its judgment settles, in milliseconds. */
export const DEFAULT_SETTLE_QUIET_MILLIS = 2_000;
/** Longest wait after a final shutdown span, however busy its instance stays, in milliseconds. */
export const DEFAULT_SETTLE_MAX_MILLIS = 30_000;
/** Silence of an instance with an open shutdown after which its process is taken to be gone, in milliseconds. */
export const DEFAULT_PROCESS_GONE_MILLIS = 120_000;
/** Shutdowns watched at once; beyond it the oldest is settled early. */
export const DEFAULT_MAX_WATCHED = 10_000;
/** Ids of settled shutdowns remembered, so that a retried export does not judge one twice. */
const SETTLED_MEMORY = 100_000;

/** How a {@link JudgmentWatcher} is built. */
export interface JudgmentWatcherOptions {
  /** the next stage (the store, through the views); records are watched once it took them */
  next: Consumer<SpanRecord>;
  /**
   * Judges one shutdown from the store by id (in the service, in the UI worker thread when there is
   * one); undefined when it is not there (any more).
   */
  judge: (shutdownId: string) => Promise<SettledJudgment | undefined>;
  /** gets each settled shutdown's judgment once; must not throw */
  onSettled: (judgment: SettledJudgment, settledBy: SettledBy) => void;
  settleQuietMillis?: number;
  settleMaxMillis?: number;
  processGoneMillis?: number;
  maxWatched?: number;
  /**
   * At close, settle the ended shutdowns still waiting (true: their judgments are not lost, at the
   * cost of judging them during the stop) or forget them (false, the default).
   */
  settleOnClose?: boolean;
  /** the clock, in milliseconds */
  now?: () => number;
  onError?: (err: unknown) => void;
}

interface Watched {
  instance: string;
  /** the final span arrived (else only snapshots so far) */
  ended: boolean;
  /** when the final span arrived */
  endedAt: number;
  timer?: NodeJS.Timeout;
}

/** A pass-through {@link Consumer} stage that settles shutdown judgments; see the module comment. */
export class JudgmentWatcher implements Consumer<SpanRecord> {
  private readonly watched = new Map<string, Watched>();
  private readonly settled = new Set<string>();
  /** When a span of an instance with a watched shutdown last arrived; only such instances are kept. */
  private readonly lastSeen = new Map<string, number>();
  /** How many watched shutdowns each instance has. */
  private readonly watchedOf = new Map<string, number>();
  private readonly quiet: number;
  private readonly maxWait: number;
  private readonly gone: number;
  private readonly maxWatched: number;
  private readonly now: () => number;
  private readonly reportError: (err: unknown) => void;
  private readonly pending = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly options: JudgmentWatcherOptions) {
    this.quiet = options.settleQuietMillis ?? DEFAULT_SETTLE_QUIET_MILLIS;
    this.maxWait = options.settleMaxMillis ?? DEFAULT_SETTLE_MAX_MILLIS;
    this.gone = options.processGoneMillis ?? DEFAULT_PROCESS_GONE_MILLIS;
    this.maxWatched = options.maxWatched ?? DEFAULT_MAX_WATCHED;
    this.now = options.now ?? (() => performance.now());
    const onError = options.onError ?? ((err: unknown) => console.error('canceltrace judgment:', err));
    this.reportError = (err) => {
      try {
        onError(err);
      } catch {
        // the reporter is the last stop
      }
    };
  }

  /** Passes the batch on; once it is taken, notes its instances' activity and its shutdown spans. */
  async consume(batch: SpanRecord[]): Promise<void> {
    await this.options.next.consume(batch);
    if (this.closed) return;
    const now = this.now();
    let last = '';
    for (const record of batch) {
      if (record.role === 'shutdown') this.note(record, now);
      if (record.instance !== last) {
        last = record.instance;
        if (this.watchedOf.has(last)) this.lastSeen.set(last, now);
      }
    }
  }

  /** Number of shutdowns waiting to settle. */
  get watching(): number {
    return this.watched.size;
  }

  /** Number of instances whose activity is tracked (only those with a shutdown waiting). */
  get trackedInstances(): number {
    return this.lastSeen.size;
  }

  /** Settles the ended shutdowns still waiting when `settleOnClose` is set, forgets the rest; waits for judgments under way. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    for (const [id, w] of this.watched) {
      clearTimeout(w.timer);
      if (w.ended && this.options.settleOnClose) this.settle(id, 'ended');
    }
    this.watched.clear();
    this.watchedOf.clear();
    this.lastSeen.clear();
    await Promise.all(this.pending);
  }

  private note(record: SpanRecord, now: number): void {
    const id = readShutdown(record).id;
    if (this.settled.has(id)) return;
    const known = this.watched.get(id);
    if (known?.ended) return;
    if (known) clearTimeout(known.timer);
    const w: Watched = { instance: record.instance, ended: !record.snapshot, endedAt: now };
    this.watched.set(id, w);
    if (!known) this.watchedOf.set(w.instance, (this.watchedOf.get(w.instance) ?? 0) + 1);
    this.lastSeen.set(w.instance, now);
    if (this.watched.size > this.maxWatched) {
      const [oldest, ow] = this.watched.entries().next().value as [string, Watched];
      clearTimeout(ow.timer);
      this.settleWatched(oldest, ow.ended ? 'ended' : 'process_gone');
    }
    this.schedule(id, w, w.ended ? this.quiet : this.gone);
  }

  private schedule(id: string, w: Watched, afterMillis: number): void {
    w.timer = setTimeout(() => this.check(id), Math.max(1, afterMillis));
    w.timer.unref();
  }

  private check(id: string): void {
    const w = this.watched.get(id);
    if (!w || this.closed) return;
    const now = this.now();
    const quietFor = now - (this.lastSeen.get(w.instance) ?? 0);
    if (w.ended) {
      const waited = now - w.endedAt;
      if (quietFor >= this.quiet || waited >= this.maxWait) this.settleWatched(id, 'ended');
      else this.schedule(id, w, Math.min(this.quiet - quietFor, this.maxWait - waited));
    } else if (quietFor >= this.gone) {
      this.settleWatched(id, 'process_gone');
    } else {
      this.schedule(id, w, this.gone - quietFor);
    }
  }

  private settleWatched(id: string, by: SettledBy): void {
    const w = this.watched.get(id);
    this.watched.delete(id);
    if (w) {
      const left = (this.watchedOf.get(w.instance) ?? 1) - 1;
      if (left > 0) this.watchedOf.set(w.instance, left);
      else {
        this.watchedOf.delete(w.instance);
        this.lastSeen.delete(w.instance);
      }
    }
    this.settle(id, by);
  }

  private settle(id: string, by: SettledBy): void {
    this.settled.add(id);
    if (this.settled.size > SETTLED_MEMORY) this.settled.delete(this.settled.values().next().value as string);
    const work = (async () => {
      try {
        const judgment = await this.options.judge(id);
        if (judgment) this.options.onSettled(judgment, by);
      } catch (err) {
        this.reportError(err);
      }
    })();
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }
}
