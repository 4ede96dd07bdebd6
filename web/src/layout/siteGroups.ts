import type { ApiTask } from '../api/types.js';
import { coroutineOf, siteLabel } from './timelineTask.js';

/** Cancellations of one code site (coroutine + swallow site) across time. */
export interface SiteGroup {
  key: string;
  coroutine: string;
  /** where the cancellation was caught (`file:line`), else the creation site */
  site: string;
  /** tasks seen at this site */
  count: number;
  /** of which swallowed */
  swallowed: number;
  /** count per verdict */
  verdicts: Record<string, number>;
  /** unix ns as bigint: first and last end time seen */
  firstSeen: bigint;
  lastSeen: bigint;
  services: string[];
  /** one task of the group, for the link to its details */
  example: ApiTask;
}

/**
 * Groups tasks (from GET /api/tasks, in or outside shutdowns) by coroutine + swallow site, so a
 * handler that swallows a timeout a thousand times a day shows as one line with its count, first
 * and last time seen and the services it ran in. Sorted by swallowed count, then total, then key. Pure.
 */
export function siteGroups(tasks: readonly ApiTask[]): SiteGroup[] {
  const groups = new Map<string, SiteGroup & { serviceSet: Set<string> }>();
  for (const t of tasks) {
    const coroutine = coroutineOf(t);
    const site = siteLabel(t.swallowSite) || siteLabel(t.code);
    const key = `${coroutine}\u0000${site}`;
    const seen = /^\d+$/.test(t.endedAt) ? BigInt(t.endedAt) : 0n;
    let g = groups.get(key);
    if (!g) {
      g = { key, coroutine, site, count: 0, swallowed: 0, verdicts: {}, firstSeen: seen, lastSeen: seen, services: [], serviceSet: new Set(), example: t };
      groups.set(key, g);
    }
    g.count++;
    if (t.verdict === 'swallowed') g.swallowed++;
    g.verdicts[t.verdict] = (g.verdicts[t.verdict] ?? 0) + 1;
    if (seen < g.firstSeen) g.firstSeen = seen;
    if (seen > g.lastSeen) {
      g.lastSeen = seen;
      g.example = t;
    }
    g.serviceSet.add(t.service);
  }
  return [...groups.values()]
    .map(({ serviceSet, ...g }) => ({ ...g, services: [...serviceSet].sort() }))
    .sort((a, b) => b.swallowed - a.swallowed || b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
