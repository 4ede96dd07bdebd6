import { type Selection, select } from 'd3-selection';
import { api } from '../api/client.js';
import type { ApiShutdownReport, ApiShutdownSummary, ApiTask } from '../api/types.js';
import { fromColumnar } from '../layout/columnarTimeline.js';
import { windowStartOf } from '../layout/compactTimeline.js';
import { agoText, completenessOf, honestOutcome, outcomeText } from '../layout/honesty.js';
import { nsToMs, parseNs } from '../layout/nsToMs.js';
import { drainMsOf, phasesOf } from '../layout/phases.js';
import type { RowOrderMode } from '../layout/rowOrder.js';
import { filterTasks, isFiltering, type TaskFilters } from '../layout/taskFilters.js';
import { type TimelineTask, toTimelineTask } from '../layout/timelineTask.js';
import { routeHash } from '../router.js';
import { verdictBadges } from './badges.js';
import { FilterBar } from './FilterBar.js';
import { FindingsSummary } from './FindingsSummary.js';
import { formatDuration, formatTime, zoneLabel } from './format.js';
import { PendingChart } from './PendingChart.js';
import { StatsTable } from './StatsTable.js';
import { copyLink, renderTaskPanel } from './TaskPanel.js';
import { Timeline } from './Timeline.js';

type Div = Selection<HTMLDivElement, unknown, null, undefined>;

/** How long the search box waits after the last key before asking the server, in ms. */
const SEARCH_DEBOUNCE_MS = 150;

/** A shutdown as loaded: the report (tasks in summary form) and its timeline tasks. */
export interface LoadedShutdown {
  report: ApiShutdownReport;
  timeline?: TimelineTask[];
}

/** The timeline tasks of a report whose tasks came in full (not from the columnar form). */
function timelineOf(report: ApiShutdownReport): TimelineTask[] {
  const originNs = parseNs(report.shutdown.start) ?? 0n;
  const lastMark = Math.max(
    0,
    ...phasesOf(report.shutdown)
      .marks.map((m) => m.t)
      .filter(Number.isFinite),
  );
  const windowStart = windowStartOf(lastMark);
  return report.tasks.map((t) => toTimelineTask(t, originNs, windowStart));
}

/** Loads a shutdown for the timeline from its columnar form (`GET /api/shutdowns/:id/timeline`). */
export async function loadShutdown(id: string): Promise<LoadedShutdown> {
  const body = await api.timeline(id);
  const lastMark = Math.max(
    0,
    ...phasesOf(body.shutdown)
      .marks.map((m) => m.t)
      .filter(Number.isFinite),
  );
  const { timeline } = fromColumnar(body, windowStartOf(lastMark));
  const { columnar: _columns, version: _version, originNs: _origin, ...rest } = body;
  // the tasks live in the timeline's light rows; the API form of one is made when its panel opens
  return { report: { ...rest, tasks: [] }, timeline };
}

/**
 * One shutdown: header with its honest outcome, liveness, counts, trace id and exports; what data is
 * missing; its findings summarized by kind; the search and filters; the timeline; the pending and
 * resource charts on the same time axis; the statistics per coroutine or site; and the task panel.
 * Filters, search, row order and zoom follow the URL. `update` swaps in a fresher report (live).
 */
export class ShutdownView {
  readonly id: string;
  private report: ApiShutdownReport;
  private timeline: Timeline | undefined;
  private chart: PendingChart | undefined;
  private selected: string | undefined;
  private filters: TaskFilters;
  private hits: { q: string; ids: ReadonlySet<string> } | undefined;
  private searchTimer: ReturnType<typeof setTimeout> | undefined;
  private zoomTimer: ReturnType<typeof setTimeout> | undefined;
  private traceLink: string | null = null;
  private readonly root: Div;
  private readonly header: Div;
  private readonly main: Div;
  private readonly panel: Div;
  private filterBar: FilterBar | undefined;
  private precomputed: TimelineTask[];

  /**
   * @param filters filters read from the URL
   * @param onFiltersChange told of each change, so that the URL follows without a new history entry
   */
  constructor(
    container: HTMLElement,
    loaded: LoadedShutdown,
    private readonly others: ApiShutdownSummary[],
    filters: TaskFilters = {},
    private readonly onFiltersChange: (filters: TaskFilters) => void = () => undefined,
  ) {
    this.id = loaded.report.shutdown.id;
    this.report = loaded.report;
    this.filters = { ...filters };
    this.precomputed = loaded.timeline ?? timelineOf(loaded.report);
    this.root = select(container).append('div').attr('class', 'shutdown-view');
    this.header = this.root.append('div').attr('class', 'shutdown-header');
    this.main = this.root.append('div').attr('class', 'shutdown-main');
    this.panel = this.root.append('aside').attr('class', 'panel hidden').attr('aria-label', 'task') as unknown as Div;
    this.build();
    api.config().then(
      (c) => {
        this.traceLink = c.traceLink;
        if (this.selected) this.selectTask(this.selected);
      },
      () => undefined,
    );
  }

  /** How many tasks the shutdown holds. */
  get taskCount(): number {
    return this.precomputed.length;
  }

  /** The timeline (for tests and the benchmark hooks). */
  get timelineView(): Timeline | undefined {
    return this.timeline;
  }

  /** The filters in force (as in the URL). */
  get currentFilters(): TaskFilters {
    return { ...this.filters };
  }

  /** Applies filters that changed in the URL alone (a pasted link, back or forward). */
  setFilters(filters: TaskFilters): void {
    const zoomChanged = filters.from !== this.filters.from || filters.to !== this.filters.to;
    this.filters = { ...filters };
    this.filterBar?.set(this.filters);
    if (this.filters.order) this.timeline?.setOrder(this.filters.order as RowOrderMode);
    if (zoomChanged) this.applyZoom();
    this.applyFilters();
  }

  /** Shows the task panel for a span id, or hides it. */
  selectTask(spanId: string | undefined): void {
    const moved = spanId !== this.selected;
    this.selected = spanId;
    this.timeline?.select(spanId);
    const task = spanId ? this.precomputed.find((t) => t.id === spanId)?.task : undefined;
    // the open panel takes room from the timeline instead of covering its right end
    this.root.classed('panel-open', spanId !== undefined);
    const close = () => {
      location.hash = routeHash({ view: 'shutdown', id: this.id, filters: this.filters });
    };
    if (!task) {
      this.panel.classed('hidden', true);
      this.panel.node()!.replaceChildren();
      if (spanId) {
        this.panel.classed('hidden', false);
        const box = this.panel.append('div').attr('class', 'task-panel unknown-task');
        const head = box.append('div').attr('class', 'panel-head');
        head.append('h2').attr('class', 'task-name').attr('tabindex', -1).text('Task not found');
        head.append('button').attr('type', 'button').attr('class', 'close').attr('aria-label', 'close task panel').text('×').on('click', close);
        box.append('p').attr('class', 'error').text(`No task ${spanId} in this shutdown.`);
        if (moved) (head.select('h2').node() as HTMLElement | null)?.focus();
      }
      return;
    }
    this.panel.classed('hidden', false);
    const show = (full: ApiTask, focusIt: boolean) => {
      // a re-render (the full task arrived, the config) keeps the focus where it was
      const focus = focusIt || this.panel.node()!.contains(document.activeElement);
      const parentSpan = full.parentTaskId ? this.precomputed.find((t) => t.taskId === full.parentTaskId)?.id : undefined;
      renderTaskPanel(this.panel.node()!, full, this.timeline?.originNs ?? 0n, close, {
        parentHref: parentSpan ? routeHash({ view: 'shutdown', id: this.id, taskId: parentSpan, filters: this.filters }) : undefined,
        traceLink: this.traceLink,
      });
      if (focus) this.panel.select<HTMLElement>('h2.task-name').node()?.focus({ preventScroll: true });
    };
    show(task, moved);
    if (task.attributes === undefined) {
      // summary form: fetch the whole task (events, attributes, stack) for the panel
      api.task(this.id, task.spanId).then(
        (full) => {
          if (this.selected !== task.spanId) return;
          show({ ...full, swallowSite: full.swallowSite ?? task.swallowSite }, false);
        },
        () => undefined,
      );
    }
  }

  /** The span id of the next (+1) or previous (-1) task in the timeline's order, from the selected one. */
  neighbor(step: 1 | -1): string | undefined {
    return this.timeline?.neighbor(this.selected, step);
  }

  /** Replaces the report with a fresher one, keeping zoom, scroll, filters and selection. */
  update(loaded: LoadedShutdown): void {
    const domain = this.timeline?.zoomed ? this.timeline.xScale().domain() : undefined;
    const choices = this.timeline?.choices;
    const body = this.main.select<HTMLDivElement>('.tl-body').node();
    const scroll = body?.scrollTop ?? 0;
    this.report = loaded.report;
    this.precomputed = loaded.timeline ?? timelineOf(loaded.report);
    this.timeline?.destroy();
    this.chart?.destroy();
    this.header.node()!.replaceChildren();
    this.build();
    if (choices) this.timeline?.restore(choices);
    if (domain) this.timeline?.zoomTo(domain[0], domain[1]);
    const nb = this.main.select<HTMLDivElement>('.tl-body').node();
    if (nb) nb.scrollTop = scroll;
    this.selectTask(this.selected);
  }

  /** Removes the view. */
  destroy(): void {
    clearTimeout(this.searchTimer);
    clearTimeout(this.zoomTimer);
    this.timeline?.destroy();
    this.root.remove();
  }

  private setFilter(change: Partial<TaskFilters>): void {
    this.filters = { ...this.filters, ...change };
    for (const k of Object.keys(this.filters) as (keyof TaskFilters)[]) if (this.filters[k] === undefined || this.filters[k] === '') delete this.filters[k];
    this.filterBar?.set(this.filters);
    this.onFiltersChange(this.filters);
    this.applyFilters();
  }

  /** Filters the timeline; the search text also asks the server (attribute values live there). */
  private applyFilters(): void {
    const q = (this.filters.q ?? '').trim();
    if (q && this.hits?.q !== q) {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => {
        api.search(this.id, q).then(
          (r) => {
            if ((this.filters.q ?? '').trim() !== q) return;
            this.hits = { q, ids: new Set(r.spanIds) };
            this.applyFilters();
          },
          () => undefined,
        );
      }, SEARCH_DEBOUNCE_MS);
    }
    const hits = q && this.hits?.q === q ? this.hits.ids : undefined;
    const shown = isFiltering(this.filters) ? filterTasks(this.precomputed, this.filters, hits) : this.precomputed;
    const matches = q ? new Set(shown.map((t) => t.id)) : undefined;
    this.timeline?.show(shown, matches);
    this.filterBar?.count(shown.length, this.precomputed.length, isFiltering(this.filters));
  }

  private applyZoom(): void {
    const { from, to } = this.filters;
    if (from !== undefined && to !== undefined && to > from) this.timeline?.zoomTo(from, to);
  }

  private build(): void {
    const r = this.report;
    const s = r.shutdown;
    const h = this.header;
    const counts: Record<string, number> = {};
    for (const t of this.precomputed) counts[t.verdict] = (counts[t.verdict] ?? 0) + 1;
    const outcome = honestOutcome({ outcome: r.outcome ?? s.outcome, open: s.open, end: s.end, counts: r.counts ?? counts }, Date.now());

    const title = h.append('div').attr('class', 'title-row');
    title.append('a').attr('href', '#/').attr('class', 'back').text('← shutdowns');
    title.append('h1').text(`${s.service} · ${s.instance}`);
    title
      .append('span')
      .attr('class', `badge outcome outcome-${outcome.label}${outcome.open && !outcome.live ? ' stale' : ''}`)
      .attr('title', outcome.label !== outcome.reported ? `reported ${outcome.reported}, but it has ${outcome.worst} tasks` : null)
      .text(outcomeText(outcome));
    if (outcome.open)
      title
        .append('span')
        .attr('class', 'liveness muted')
        .text(`last data ${agoText(outcome.lastSentAgoMs ?? Number.POSITIVE_INFINITY)}`);

    const facts = h.append('div').attr('class', 'facts-row');
    facts.append('span').text(`reason ${s.reason}`);
    facts
      .append('span')
      .attr('class', 'abs-time')
      .text(`at ${formatTime(s.start)} ${zoneLabel()}`);
    facts
      .append('span')
      .attr('class', 'drain')
      .text(`drain ${formatDuration(drainMsOf(s))}${s.drainTimeoutMs !== undefined ? ` of ${formatDuration(s.drainTimeoutMs)} allowed` : ''}`);
    const trace = facts.append('span').attr('class', 'trace-id').text('trace ');
    copyLink(trace as unknown as Parameters<typeof copyLink>[0], s.traceId, 'copy-trace-id', 'copy the trace id');
    verdictBadges(facts.append('span').attr('class', 'counts') as unknown as Selection<HTMLElement, unknown, null, undefined>, r.counts ?? counts);
    const exports = facts.append('span').attr('class', 'exports').text('export ');
    for (const [format, label] of [
      ['csv', 'CSV'],
      ['json', 'JSON'],
      ['otlp', 'OTLP JSON'],
    ] as const) {
      exports.append('a').attr('class', `export-${format}`).attr('href', api.exportUrl(s.id, format)).attr('download', '').text(label);
      exports.append('span').text(' ');
    }

    const same = this.others.filter((o) => o.service === s.service && o.id !== s.id);
    if (same.length) {
      const cmp = facts.append('label').attr('class', 'compare-with').text('compare with ');
      const sel = cmp.append('select');
      sel.append('option').attr('value', '').text('another shutdown…');
      sel
        .selectAll('option.other')
        .data(same)
        .join('option')
        .attr('class', 'other')
        .attr('value', (d) => d.id)
        .text((d) => `${formatTime(d.start)} (${d.outcome})`);
      sel.on('change', (ev: Event) => {
        const other = same.find((o) => o.id === (ev.target as HTMLSelectElement).value);
        if (!other) return;
        const otherFirst = BigInt(other.start) < BigInt(s.start);
        location.hash = routeHash({ view: 'compare', before: otherFirst ? other.id : s.id, after: otherFirst ? s.id : other.id });
      });
    }

    let snapshotOnly = 0;
    for (const t of this.precomputed) if (t.snapshot) snapshotOnly++;
    const gaps = completenessOf(r, snapshotOnly, outcome);
    if (gaps.notices.length) {
      const banner = h.append('div').attr('class', 'completeness').attr('role', 'status');
      banner.append('strong').text('Incomplete data: ');
      const list = banner.append('ul');
      for (const n of gaps.notices) list.append('li').text(n);
      banner.attr('data-spans-dropped', gaps.spansDropped).attr('data-snapshot-only', gaps.snapshotOnly).attr('data-no-end', String(gaps.noEnd));
    }

    new FindingsSummary(h.node()!, r, this.precomputed, (finding) => this.setFilter({ finding }), nsToMsFrom(s.start));

    this.main.node()!.replaceChildren();
    this.filterBar = new FilterBar(this.main.node()!, this.precomputed, this.filters, (change) => this.setFilter(change));
    this.timeline = new Timeline(
      this.main.node()!,
      r,
      {
        onSelectTask: (spanId) => {
          location.hash = routeHash({ view: 'shutdown', id: this.id, taskId: spanId, filters: this.filters });
        },
        onViewChange: (x) => {
          this.chart?.update(x);
          this.zoomChanged(x.domain() as [number, number]);
        },
        onOrderChange: (order) => this.setFilter({ order: order === 'severity' ? undefined : order }),
      },
      this.precomputed,
    );
    if (this.filters.order) this.timeline.setOrder(this.filters.order as RowOrderMode);
    this.chart = new PendingChart(this.main.node()!, r, this.timeline.originNs);
    this.chart.update(this.timeline.xScale());
    // the statistics sort every task's cancel-to-end time: built after the first frame, not before it
    const statsHost = this.main.append('div').attr('class', 'stats-host').node()!;
    const timeline = this.timeline;
    requestAnimationFrame(() =>
      setTimeout(() => {
        if (this.timeline !== timeline) return;
        new StatsTable(statsHost, this.precomputed, (by, key) =>
          this.setFilter(by === 'coroutine' ? { coroutine: key, site: undefined } : { site: key, coroutine: undefined }),
        );
      }, 0),
    );
    this.applyZoom();
    this.applyFilters();
  }

  /** Keeps the zoom window in the URL (rounded to the µs), once the zooming pauses. */
  private zoomChanged(domain: [number, number]): void {
    clearTimeout(this.zoomTimer);
    this.zoomTimer = setTimeout(() => {
      const zoomed = this.timeline?.zoomed ?? false;
      const round = (v: number) => Math.round(v * 1000) / 1000;
      const from = zoomed ? round(domain[0]) : undefined;
      const to = zoomed ? round(domain[1]) : undefined;
      if (from === this.filters.from && to === this.filters.to) return;
      // the zoom changes no row: only the URL follows it
      this.filters = { ...this.filters, from, to };
      if (from === undefined) delete this.filters.from;
      if (to === undefined) delete this.filters.to;
      this.onFiltersChange(this.filters);
    }, SEARCH_DEBOUNCE_MS);
  }
}

/** Ms from a shutdown's start to a unix-ns time: for the loop warnings' offsets. */
function nsToMsFrom(startNs: string): (t: string) => number {
  const origin = parseNs(startNs) ?? 0n;
  return (t) => nsToMs(t, origin);
}
