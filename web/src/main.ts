/**
 * Dashboard entry: a hash router over four views (shutdown list, shutdown timeline with its task
 * panel, cancellations by site, compare), kept live by polling. Deep links: `#/shutdowns/<id>` and
 * `#/shutdowns/<id>/tasks/<spanId>`; back and forward re-parse the hash.
 */
import { select } from 'd3-selection';
import { ApiError, api } from './api/client.js';
import type { ApiShutdownSummary } from './api/types.js';
import { parseRoute, type Route, routeHash } from './router.js';
import { renderCompare } from './views/CompareView.js';
import { ShutdownList } from './views/ShutdownList.js';
import { loadShutdown, ShutdownView } from './views/ShutdownView.js';
import { MAX_SITE_TASKS, SitesView } from './views/SitesView.js';

/** How often the list, an open shutdown and the site view are refreshed, in ms. */
export const POLL_INTERVAL_MS = 2_000;
/** How many shutdowns the list (and the compare picker of a shutdown) asks for, newest first. */
const SHUTDOWN_LIST_LIMIT = 500;
/** Page size asked of GET /api/tasks. */
const TASK_PAGE_LIMIT = 1_000;

interface Current {
  key: string;
  poll?: () => Promise<void>;
  destroy(): void;
  shutdown?: ShutdownView;
  list?: ShutdownList;
}

const app = document.getElementById('app') as HTMLElement;
const status = select('#status');
let current: Current | undefined;
let generation = 0;
let shutdownsCache: ApiShutdownSummary[] = [];

function setStatus(text: string, error = false): void {
  status.text(text).classed('error', error);
}

function routeKey(r: Route): string {
  switch (r.view) {
    case 'shutdown':
      return `shutdown:${r.id}`;
    case 'compare':
      return `compare:${r.before}:${r.after}`;
    default:
      return r.view;
  }
}

async function show(route: Route): Promise<void> {
  const key = routeKey(route);
  select('nav')
    .selectAll('a')
    .classed('active', function () {
      const href = (this as HTMLAnchorElement).getAttribute('href');
      return (route.view === 'sites' && href === '#/sites') || (route.view !== 'sites' && href === '#/');
    });
  if (current && current.key === key) {
    // the same view: only the hash changed (a link, back or forward): apply its filters and task
    if (route.view === 'shutdown') {
      const next = route.filters ?? {};
      if (JSON.stringify(next) !== JSON.stringify(current.shutdown?.currentFilters ?? {})) current.shutdown?.setFilters(next);
      current.shutdown?.selectTask(route.taskId);
    } else if (route.view === 'list') {
      const { view: _view, ...filters } = route;
      current.list?.setFilters(filters);
    }
    return;
  }
  const gen = ++generation;
  current?.destroy();
  current = undefined;
  app.replaceChildren();
  try {
    if (route.view === 'list') {
      const { view: _view, ...filters } = route;
      // the URL follows the filters without adding history entries (back still leaves the list)
      const list = new ShutdownList(app, filters, (f) => history.replaceState(null, '', routeHash({ view: 'list', ...f })));
      const poll = async () => {
        shutdownsCache = await api.shutdowns({ limit: SHUTDOWN_LIST_LIMIT });
        if (gen === generation) list.update(shutdownsCache);
      };
      current = { key, poll, list, destroy: () => list.destroy() };
      await poll();
    } else if (route.view === 'shutdown') {
      setStatus('loading shutdown…');
      const [loaded, others] = await Promise.all([loadShutdown(route.id), api.shutdowns({ limit: SHUTDOWN_LIST_LIMIT }).catch(() => shutdownsCache)]);
      if (gen !== generation) return;
      shutdownsCache = others;
      const report = loaded.report;
      // the URL follows the filters and the zoom without adding history entries
      const view = new ShutdownView(app, loaded, others, route.filters, (filters) => {
        const now = parseRoute(location.hash);
        history.replaceState(null, '', routeHash({ view: 'shutdown', id: route.id, taskId: now.view === 'shutdown' ? now.taskId : undefined, filters }));
      });
      performance.mark('ct:shutdown:built');
      let open = report.shutdown.open;
      let lastPoll = performance.now();
      const poll = async () => {
        // a huge open shutdown is refetched less often: one poll per 1,000 tasks × 100 ms at least
        if (!open || performance.now() - lastPoll < Math.max(POLL_INTERVAL_MS, view.taskCount / 10)) return;
        lastPoll = performance.now();
        const fresh = await loadShutdown(route.id);
        if (gen !== generation) return;
        open = fresh.report.shutdown.open;
        view.update(fresh);
      };
      current = { key, poll, shutdown: view, destroy: () => view.destroy() };
      view.selectTask(route.taskId);
      (window as unknown as { __canceltrace?: unknown }).__canceltrace = { view };
    } else if (route.view === 'sites') {
      let since: string | undefined;
      const view = new SitesView(app, () => {
        since = undefined;
        void poll();
      });
      const poll = async () => {
        const verdict = view.filter();
        let newest = since;
        let cursor: string | undefined;
        let fetched = 0;
        // follow the cursor so that a burst of more than one page is counted in full (bounded by what the view keeps)
        do {
          const page = await api.tasks({ verdict: verdict || undefined, since, limit: TASK_PAGE_LIMIT, cursor });
          // a page asked for under another filter (or view) is dropped
          if (gen !== generation || view.filter() !== verdict) return;
          view.add(page.tasks);
          for (const t of page.tasks) if (newest === undefined || BigInt(t.endedAt) > BigInt(newest)) newest = t.endedAt;
          cursor = page.nextCursor;
          fetched += page.tasks.length;
        } while (cursor && fetched < MAX_SITE_TASKS);
        // next polls ask only for what ended since the newest record seen
        since = newest;
      };
      current = { key, poll, destroy: () => view.destroy() };
      await poll();
    } else {
      setStatus('loading shutdowns…');
      // the columnar form: two 19,000-task shutdowns load in a fraction of the full reports' time
      const [before, after] = await Promise.all([loadShutdown(route.before), loadShutdown(route.after)]);
      if (gen !== generation) return;
      const withTasks = (l: typeof before) => ({ ...l.report, tasks: (l.timeline ?? []).map((t) => t.task) });
      const remove = renderCompare(app, withTasks(before), withTasks(after));
      current = { key, destroy: remove };
    }
    setStatus('live');
  } catch (err) {
    if (gen !== generation) return;
    const message = err instanceof Error ? err.message : String(err);
    setStatus(err instanceof ApiError && err.status === 404 ? 'not found' : `error: ${message}`, true);
    app.replaceChildren();
    renderLoadError(app, route, err);
    current = { key: `error:${key}`, destroy: () => undefined };
  }
}

/**
 * What the page says when a view cannot load: for an id the server does not know (404, or 400 for
 * a malformed id) a plain "not found" with the id and a way back; otherwise the server's message.
 */
function renderLoadError(container: HTMLElement, route: Route, err: unknown): void {
  const box = select(container).append('div').attr('class', 'not-found');
  const notFound = err instanceof ApiError && (err.status === 404 || err.status === 400);
  const ids = route.view === 'shutdown' ? [route.id] : route.view === 'compare' ? [route.before, route.after] : [];
  if (notFound && ids.length) {
    box.append('h1').text(ids.length === 1 ? 'Shutdown not found' : 'Cannot compare: a shutdown was not found');
    box
      .append('p')
      .attr('class', 'error-message')
      .text(
        `No shutdown with id “${ids.join('” or “')}” is stored here. The link may be mistyped, or the shutdown was recorded by another canceltrace server or database.`,
      );
  } else {
    box.append('h1').text('Could not load this view');
    box
      .append('p')
      .attr('class', 'error-message error')
      .text(err instanceof Error ? err.message : String(err));
  }
  box.append('p').append('a').attr('href', '#/').text('← all shutdowns');
}

async function tick(): Promise<void> {
  const c = current;
  if (c?.poll && document.visibilityState !== 'hidden') {
    try {
      await c.poll();
      setStatus('live');
    } catch (err) {
      setStatus(`offline: ${err instanceof Error ? err.message : String(err)}`, true);
    }
  }
  setTimeout(() => void tick(), POLL_INTERVAL_MS);
}

window.addEventListener('hashchange', () => void show(parseRoute(location.hash)));
/** Keys that move to the next / previous task of the timeline (Perfetto-like j/k, and the arrows). */
const NEXT_KEYS = new Set(['j', 'ArrowDown']);
const PREVIOUS_KEYS = new Set(['k', 'ArrowUp']);

// Escape closes the task panel (back to the shutdown's own URL, filters kept); j/k and the arrows move between tasks
window.addEventListener('keydown', (ev) => {
  const route = parseRoute(location.hash);
  if (route.view !== 'shutdown') return;
  if (ev.key === 'Escape' && route.taskId) {
    location.hash = routeHash({ view: 'shutdown', id: route.id, filters: route.filters });
    return;
  }
  const target = ev.target as HTMLElement | null;
  if (ev.altKey || ev.ctrlKey || ev.metaKey || target?.closest('input, select, textarea')) return;
  const step = NEXT_KEYS.has(ev.key) ? 1 : PREVIOUS_KEYS.has(ev.key) ? -1 : 0;
  // the arrows scroll the page unless a task is open or the focus is on the timeline
  if (step === 0 || (!route.taskId && ev.key.startsWith('Arrow') && !target?.closest('.timeline'))) return;
  const next = current?.shutdown?.neighbor(step);
  if (!next) return;
  ev.preventDefault();
  location.hash = routeHash({ view: 'shutdown', id: route.id, taskId: next, filters: route.filters });
});
void show(parseRoute(location.hash)).then(() => setTimeout(() => void tick(), POLL_INTERVAL_MS));
