import type { TimelineTask } from './timelineTask.js';

/** One row of the timeline: a single task, a collapsed group of identical tasks, or a member of an expanded group. */
export interface TimelineRow {
  /** stable id: `t:<spanId>` for a task row, `g:<groupKey>` for a group row */
  id: string;
  kind: 'task' | 'group' | 'member';
  groupKey: string;
  verdict: string;
  /** earliest start of its tasks (ms) */
  start: number;
  /** latest end of its tasks (ms) */
  end: number;
  /** true when any of its tasks never finished */
  open: boolean;
  /** number of tasks in the row (1 for a task or member row) */
  count: number;
  /** true for a group row that is expanded (its members follow it) */
  expanded: boolean;
  tasks: TimelineTask[];
  /** earliest and latest cancel request among its tasks, NaN when none */
  cancelMin: number;
  cancelMax: number;
  label: string;
  site: string;
}

function rowOf(kind: TimelineRow['kind'], tasks: TimelineTask[], expanded: boolean): TimelineRow {
  const first = tasks[0];
  let start = Infinity;
  let end = -Infinity;
  let open = false;
  let cancelMin = Infinity;
  let cancelMax = -Infinity;
  for (const t of tasks) {
    if (t.start < start) start = t.start;
    if (t.end > end) end = t.end;
    if (t.open) open = true;
    if (t.firstCancel < cancelMin) cancelMin = t.firstCancel;
    if (t.lastCancel > cancelMax) cancelMax = t.lastCancel;
  }
  return {
    id: kind === 'group' ? `g:${first.groupKey}` : `t:${first.id}`,
    kind,
    groupKey: first.groupKey,
    verdict: first.verdict,
    start,
    end,
    open,
    count: tasks.length,
    expanded,
    tasks,
    cancelMin: cancelMin === Infinity ? Number.NaN : cancelMin,
    cancelMax: cancelMax === -Infinity ? Number.NaN : cancelMax,
    label: kind === 'group' ? first.coroutine : first.name,
    site: first.site,
  };
}

/**
 * Collapses tasks with the same coroutine, creation site and verdict into one group row, so a
 * shutdown of 100,000 identical workers reads as a handful of rows. A key with fewer than
 * `minGroupSize` tasks stays as task rows. A group whose key is in `expanded` is followed by one
 * member row per task, in start order. The rows come out in first-seen order: sort them with
 * {@link rowOrder} (which keeps members under their group). Pure.
 */
export function groupRows(tasks: readonly TimelineTask[], expanded: ReadonlySet<string> = new Set(), minGroupSize = 2): TimelineRow[] {
  const byKey = new Map<string, TimelineTask[]>();
  for (const t of tasks) {
    const list = byKey.get(t.groupKey);
    if (list) list.push(t);
    else byKey.set(t.groupKey, [t]);
  }
  const rows: TimelineRow[] = [];
  for (const [key, list] of byKey) {
    if (list.length < Math.max(2, minGroupSize)) {
      for (const t of list) rows.push(rowOf('task', [t], false));
      continue;
    }
    const isOpen = expanded.has(key);
    rows.push(rowOf('group', list, isOpen));
    if (isOpen) {
      // bars cut at the window start all start there: the real creation time keeps them in spawn order
      const members = [...list].sort((a, b) => a.start - b.start || a.created - b.created || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      for (const t of members) rows.push(rowOf('member', [t], false));
    }
  }
  return rows;
}
