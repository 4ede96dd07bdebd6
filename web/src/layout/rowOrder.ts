import type { TimelineRow } from './groupRows.js';
import { verdictRank } from './verdicts.js';

/**
 * How rows are sorted: `severity` puts swallowed and survivor first (the default), `start` is pure
 * time order, `held` puts first the tasks that kept the shutdown open longest (latest end or last
 * snapshot relative to the signal).
 */
export type RowOrderMode = 'severity' | 'start' | 'held';

function compareTop(mode: RowOrderMode, a: TimelineRow, b: TimelineRow): number {
  if (mode === 'held' && a.end !== b.end) return b.end - a.end;
  if (mode === 'severity') {
    const r = verdictRank(a.verdict) - verdictRank(b.verdict);
    if (r !== 0) return r;
  }
  return a.start - b.start || b.count - a.count || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Sorts timeline rows: by severity (swallowed, survivor, replaced, destroyed, orphan, cancelled,
 * finished), then start time, then size and label; or by start time alone. Member rows stay right
 * under their group row, in their given order. Returns a new array; the input is not changed.
 */
export function rowOrder(rows: readonly TimelineRow[], mode: RowOrderMode = 'severity'): TimelineRow[] {
  const blocks: { head: TimelineRow; members: TimelineRow[] }[] = [];
  let current: { head: TimelineRow; members: TimelineRow[] } | undefined;
  for (const row of rows) {
    if (row.kind === 'member' && current && current.head.kind === 'group' && current.head.groupKey === row.groupKey) {
      current.members.push(row);
    } else {
      current = { head: row, members: [] };
      blocks.push(current);
    }
  }
  blocks.sort((a, b) => compareTop(mode, a.head, b.head));
  const out: TimelineRow[] = [];
  for (const b of blocks) out.push(b.head, ...b.members);
  return out;
}
