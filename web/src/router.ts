import type { TaskFilters } from './layout/taskFilters.js';

/** The shutdown list's filters and sort, kept in the URL (`#/?service=&outcome=&q=&sort=`) so a filtered list can be linked. */
export interface ListFilters {
  service?: string;
  outcome?: string;
  q?: string;
  /** a column to sort by, `-` in front for descending (e.g. `-swallowed`) */
  sort?: string;
}

const LIST_FILTER_KEYS = ['service', 'outcome', 'q', 'sort'] as const;
const TEXT_FILTER_KEYS = ['q', 'verdict', 'finding', 'coroutine', 'site', 'order'] as const;
const NUMBER_FILTER_KEYS = ['from', 'to'] as const;

/** Reads a shutdown view's {@link TaskFilters} from query parameters; unknown keys and malformed numbers are ignored. */
function readTaskFilters(params: URLSearchParams): TaskFilters | undefined {
  const f: TaskFilters = {};
  for (const key of TEXT_FILTER_KEYS) {
    const value = params.get(key);
    if (value) f[key] = value;
  }
  for (const key of NUMBER_FILTER_KEYS) {
    const value = params.get(key);
    if (value !== null && value.trim() !== '' && Number.isFinite(Number(value))) f[key] = Number(value);
  }
  return Object.keys(f).length ? f : undefined;
}

/** The query string of a shutdown view's filters ('' when none). */
function taskFiltersQuery(f: TaskFilters | undefined): string {
  if (!f) return '';
  const params = new URLSearchParams();
  for (const key of TEXT_FILTER_KEYS) {
    const value = f[key];
    if (value) params.set(key, value);
  }
  for (const key of NUMBER_FILTER_KEYS) {
    const value = f[key];
    if (value !== undefined && Number.isFinite(value)) params.set(key, String(value));
  }
  const q = params.toString();
  return q ? `?${q}` : '';
}

/** A dashboard location, parsed from the URL hash. */
export type Route =
  | ({ view: 'list' } & ListFilters)
  | { view: 'shutdown'; id: string; taskId?: string; filters?: TaskFilters }
  | { view: 'sites' }
  | { view: 'compare'; before: string; after: string };

function dec(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Parses a hash such as `#/shutdowns/<id>/tasks/<spanId>` into a {@link Route}; anything unknown
 * is the shutdown list. Pure, so back/forward simply re-parse `location.hash`.
 */
export function parseRoute(hash: string): Route {
  const rest = hash.replace(/^#\/?/, '');
  const qAt = rest.indexOf('?');
  const path = qAt < 0 ? rest : rest.slice(0, qAt);
  const parts = path
    .split('/')
    .filter((p) => p !== '')
    .map(dec);
  if (parts[0] === 'shutdowns' && parts[1]) {
    const filters = qAt >= 0 ? readTaskFilters(new URLSearchParams(rest.slice(qAt + 1))) : undefined;
    const route: Route = parts[2] === 'tasks' && parts[3] ? { view: 'shutdown', id: parts[1], taskId: parts[3] } : { view: 'shutdown', id: parts[1] };
    if (filters) route.filters = filters;
    return route;
  }
  if (parts[0] === 'sites') return { view: 'sites' };
  if (parts[0] === 'compare' && parts[1] && parts[2]) return { view: 'compare', before: parts[1], after: parts[2] };
  const route: Route = { view: 'list' };
  if (qAt >= 0) {
    const params = new URLSearchParams(rest.slice(qAt + 1));
    for (const key of LIST_FILTER_KEYS) {
      const value = params.get(key);
      if (value) route[key] = value;
    }
  }
  return route;
}

/** The hash of a route: the inverse of {@link parseRoute}. */
export function routeHash(route: Route): string {
  const e = encodeURIComponent;
  switch (route.view) {
    case 'shutdown':
      return `${route.taskId ? `#/shutdowns/${e(route.id)}/tasks/${e(route.taskId)}` : `#/shutdowns/${e(route.id)}`}${taskFiltersQuery(route.filters)}`;
    case 'sites':
      return '#/sites';
    case 'compare':
      return `#/compare/${e(route.before)}/${e(route.after)}`;
    default: {
      const params = new URLSearchParams();
      for (const key of LIST_FILTER_KEYS) {
        const value = route[key];
        if (value) params.set(key, value);
      }
      const q = params.toString();
      return q ? `#/?${q}` : '#/';
    }
  }
}
