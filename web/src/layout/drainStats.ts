import type { TimelineTask } from './timelineTask.js';
import { verdictRank } from './verdicts.js';

/** One line of the statistics table: the tasks of one coroutine or creation site. */
export interface StatsRow {
  key: string;
  count: number;
  verdicts: Record<string, number>;
  /** tasks that were cancelled (have a cancel request) */
  cancelled: number;
  /** cancel request to end (or last snapshot), in ms, nearest-rank percentiles; NaN when none was cancelled */
  p50: number;
  p95: number;
  max: number;
  /** the latest end among them (ms after the signal): how long they held the shutdown */
  heldUntil: number;
}

/** The nearest-rank percentile `p` (0..1] of ascending `sorted`; NaN for an empty list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/**
 * Statistics per coroutine or per creation site, like Jaeger's trace statistics: count, counts per
 * verdict, cancel-to-end p50 / p95 / max. Sorted by the worst verdict present, then count. Pure.
 */
export function drainStats(tasks: readonly TimelineTask[], by: 'coroutine' | 'site'): StatsRow[] {
  const groups = new Map<string, { row: StatsRow; waits: number[] }>();
  for (const t of tasks) {
    const key = by === 'coroutine' ? t.coroutine : t.site || '(unknown)';
    let g = groups.get(key);
    if (!g) {
      g = {
        row: { key, count: 0, verdicts: {}, cancelled: 0, p50: Number.NaN, p95: Number.NaN, max: Number.NaN, heldUntil: Number.NEGATIVE_INFINITY },
        waits: [],
      };
      groups.set(key, g);
    }
    g.row.count++;
    g.row.verdicts[t.verdict] = (g.row.verdicts[t.verdict] ?? 0) + 1;
    if (Number.isFinite(t.cancelRequested)) {
      g.row.cancelled++;
      g.waits.push(Math.max(0, t.end - t.cancelRequested));
    }
    if (t.end > g.row.heldUntil) g.row.heldUntil = t.end;
  }
  const rows: StatsRow[] = [];
  for (const { row, waits } of groups.values()) {
    waits.sort((a, b) => a - b);
    row.p50 = percentile(waits, 0.5);
    row.p95 = percentile(waits, 0.95);
    row.max = waits.length ? waits[waits.length - 1] : Number.NaN;
    rows.push(row);
  }
  const worst = (r: StatsRow) => Math.min(...Object.keys(r.verdicts).map(verdictRank));
  return rows.sort((a, b) => worst(a) - worst(b) || b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** A finding kind and how many tasks carry it, for the summary above the timeline. */
export interface FindingCount {
  kind: string;
  tasks: number;
}

/** Counts tasks per finding kind, most frequent first. Pure. */
export function findingCounts(tasks: readonly TimelineTask[]): FindingCount[] {
  const counts = new Map<string, number>();
  for (const t of tasks) for (const k of t.findingKinds) counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts.entries()].map(([kind, n]) => ({ kind, tasks: n })).sort((a, b) => b.tasks - a.tasks || (a.kind < b.kind ? -1 : 1));
}
