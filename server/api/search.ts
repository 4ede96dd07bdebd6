import type { AttrValue, JudgedTask } from '../../contract/records.js';

/** Longest search text accepted, in characters. */
export const MAX_SEARCH_CHARS = 200;

function valueMatches(value: AttrValue | undefined, needle: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'object') {
    if (Array.isArray(value)) return value.some((v) => valueMatches(v, needle));
    return Object.values(value).some((v) => valueMatches(v, needle));
  }
  return String(value).toLowerCase().includes(needle);
}

function siteText(site: { filepath?: string; lineno?: number; function?: string } | undefined): string {
  if (!site) return '';
  return `${site.filepath ?? ''}:${site.lineno ?? ''} ${site.function ?? ''}`.toLowerCase();
}

/** True when a task's name, coroutine, span id, task id, swallow site, or any attribute or event attribute value contains `needle` (lower case). */
export function taskMatches(judged: JudgedTask, needle: string): boolean {
  const { task } = judged;
  if (
    task.name.toLowerCase().includes(needle) ||
    (task.coroutine ?? '').toLowerCase().includes(needle) ||
    task.spanId.includes(needle) ||
    (task.taskId ?? '').toLowerCase().includes(needle) ||
    siteText(judged.swallowSite).includes(needle) ||
    siteText(task.code).includes(needle)
  )
    return true;
  for (const key of Object.keys(task.span.attributes)) if (valueMatches(task.span.attributes[key], needle)) return true;
  for (const e of task.span.events) for (const key of Object.keys(e.attributes)) if (valueMatches(e.attributes[key], needle)) return true;
  return false;
}

/**
 * `GET /api/shutdowns/:id/search?q=`: the span ids of the tasks of a shutdown that match a text
 * (see {@link taskMatches}), in the report's order; `tasks` gives the judged tasks in that order, a chunk at a time.
 */
export async function searchTasks(tasks: AsyncIterable<readonly JudgedTask[]>, q: string): Promise<{ q: string; count: number; spanIds: string[] }> {
  const needle = q.trim().toLowerCase();
  const spanIds: string[] = [];
  if (needle !== '') for await (const chunk of tasks) for (const t of chunk) if (taskMatches(t, needle)) spanIds.push(t.task.spanId);
  return { q, count: spanIds.length, spanIds };
}
