import type { ApiShutdownReport, ApiTask } from '../api/types.js';
import { drainMsOf } from './phases.js';
import { coroutineOf, siteLabel } from './timelineTask.js';

/** What happened to one kind of task (coroutine + creation site) between two shutdowns. */
export type CompareStatus = 'regressed' | 'fixed' | 'improved' | 'new' | 'gone' | 'changed' | 'same';

/** One matched line of a comparison. */
export interface CompareLine {
  key: string;
  coroutine: string;
  site: string;
  before: Record<string, number>;
  after: Record<string, number>;
  status: CompareStatus;
}

/** Two shutdowns side by side. */
export interface Comparison {
  /** drain time (end − start) in ms */
  drainBeforeMs: number;
  drainAfterMs: number;
  lines: CompareLine[];
}

const WATCHED = ['swallowed', 'survivor'];
const STATUS_ORDER: Record<CompareStatus, number> = { regressed: 0, fixed: 1, improved: 2, new: 3, gone: 4, changed: 5, same: 6 };

function tally(tasks: readonly ApiTask[]): Map<string, { coroutine: string; site: string; counts: Record<string, number> }> {
  const out = new Map<string, { coroutine: string; site: string; counts: Record<string, number> }>();
  for (const t of tasks) {
    const coroutine = coroutineOf(t);
    const site = siteLabel(t.code);
    const key = `${coroutine}\u0000${site}`;
    let e = out.get(key);
    if (!e) {
      e = { coroutine, site, counts: {} };
      out.set(key, e);
    }
    e.counts[t.verdict] = (e.counts[t.verdict] ?? 0) + 1;
  }
  return out;
}

function bad(counts: Record<string, number>): number {
  return WATCHED.reduce((n, v) => n + (counts[v] ?? 0), 0);
}

/**
 * Compares two shutdowns of one service: tasks are matched by coroutine + creation site; a line is
 * `regressed` when it has more swallowed/survivor tasks after than before, `fixed` when it had
 * some before and none after, `improved` when it has fewer (but some) after, `new`/`gone` when it
 * exists on one side only, `changed` when other
 * verdict counts moved. Regressions come first. Pure.
 */
export function compareShutdowns(before: ApiShutdownReport, after: ApiShutdownReport): Comparison {
  const a = tally(before.tasks);
  const b = tally(after.tasks);
  const lines: CompareLine[] = [];
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(key);
    const y = b.get(key);
    const beforeCounts = x?.counts ?? {};
    const afterCounts = y?.counts ?? {};
    let status: CompareStatus;
    if (!x) status = bad(afterCounts) > 0 ? 'regressed' : 'new';
    else if (!y) status = bad(beforeCounts) > 0 ? 'fixed' : 'gone';
    else if (bad(afterCounts) > bad(beforeCounts)) status = 'regressed';
    else if (bad(beforeCounts) > 0 && bad(afterCounts) === 0) status = 'fixed';
    else if (bad(afterCounts) < bad(beforeCounts)) status = 'improved';
    else {
      const verdicts = new Set([...Object.keys(beforeCounts), ...Object.keys(afterCounts)]);
      status = [...verdicts].every((v) => (beforeCounts[v] ?? 0) === (afterCounts[v] ?? 0)) ? 'same' : 'changed';
    }
    const src = (x ?? y)!;
    lines.push({ key, coroutine: src.coroutine, site: src.site, before: beforeCounts, after: afterCounts, status });
  }
  lines.sort((l, m) => STATUS_ORDER[l.status] - STATUS_ORDER[m.status] || (l.key < m.key ? -1 : l.key > m.key ? 1 : 0));
  return { drainBeforeMs: drainMsOf(before.shutdown), drainAfterMs: drainMsOf(after.shutdown), lines };
}
