/** The shutdown list's filters, kept in the URL (`#/?service=&outcome=&q=`) so a filtered list can be linked. */
export interface ListFilters {
  service?: string;
  outcome?: string;
  q?: string;
}

const LIST_FILTER_KEYS = ['service', 'outcome', 'q'] as const;

/** A dashboard location, parsed from the URL hash. */
export type Route =
  | ({ view: 'list' } & ListFilters)
  | { view: 'shutdown'; id: string; taskId?: string }
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
    if (parts[2] === 'tasks' && parts[3]) return { view: 'shutdown', id: parts[1], taskId: parts[3] };
    return { view: 'shutdown', id: parts[1] };
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
      return route.taskId ? `#/shutdowns/${e(route.id)}/tasks/${e(route.taskId)}` : `#/shutdowns/${e(route.id)}`;
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
