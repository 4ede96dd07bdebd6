import type { TimelineTask } from './timelineTask.js';
import { siteLabel } from './timelineTask.js';

/** What narrows a shutdown's timeline; every field is kept in the URL (see router.ts). */
export interface TaskFilters {
  /** search text: task name, coroutine, span id, swallow site, any attribute value (server-side) */
  q?: string;
  verdict?: string;
  finding?: string;
  coroutine?: string;
  /** creation site as `file:line` */
  site?: string;
  /** zoom window in ms relative to the signal */
  from?: number;
  to?: number;
  /** row order: severity (default), start or held */
  order?: string;
}

/** The keys of {@link TaskFilters} that select tasks (the zoom and order do not). */
export const SELECTING_KEYS = ['q', 'verdict', 'finding', 'coroutine', 'site'] as const;

/** True when a filter selects anything (the view shows a subset). */
export function isFiltering(f: TaskFilters): boolean {
  return SELECTING_KEYS.some((k) => f[k] !== undefined && f[k] !== '');
}

/** True when a task's own fields (name, coroutine, span id, creation or swallow site) contain `needle` (lower case). */
export function matchesText(t: TimelineTask, needle: string): boolean {
  return (
    t.name.toLowerCase().includes(needle) ||
    t.coroutine.toLowerCase().includes(needle) ||
    t.id.includes(needle) ||
    t.site.toLowerCase().includes(needle) ||
    siteLabel(t.task.swallowSite).toLowerCase().includes(needle)
  );
}

/**
 * The tasks a filter keeps, in their order. `hits` are the span ids the server's search matched
 * (attribute and event values it alone holds); a task matches the text when its own fields or the
 * server say so. Pure.
 */
export function filterTasks(tasks: readonly TimelineTask[], f: TaskFilters, hits?: ReadonlySet<string>): TimelineTask[] {
  const needle = (f.q ?? '').trim().toLowerCase();
  return tasks.filter(
    (t) =>
      (!f.verdict || t.verdict === f.verdict) &&
      (!f.finding || t.findingKinds.includes(f.finding)) &&
      (!f.coroutine || t.coroutine === f.coroutine) &&
      (!f.site || t.site === f.site) &&
      (!needle || matchesText(t, needle) || (hits?.has(t.id) ?? false)),
  );
}
