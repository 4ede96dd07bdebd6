import { type Selection, select } from 'd3-selection';
import type { ApiShutdownSummary } from '../api/types.js';
import { drainMsOf } from '../layout/phases.js';
import { type ListFilters, routeHash } from '../router.js';
import { verdictBadges } from './badges.js';
import { formatDuration, formatTime } from './format.js';

type Div = Selection<HTMLDivElement, unknown, null, undefined>;

/**
 * The shutdown list, newest first: service, instance, time, drain duration, outcome and counts
 * per verdict; filters by service and outcome and a search box; pick two of one service to compare.
 * `update` re-renders with fresh data (live polling) and keeps the filters and the picks.
 */
export class ShutdownList {
  private data: ApiShutdownSummary[] = [];
  private readonly picked: string[] = [];
  private readonly root: Div;
  private readonly service: Selection<HTMLSelectElement, unknown, null, undefined>;
  private readonly outcome: Selection<HTMLSelectElement, unknown, null, undefined>;
  private readonly search: Selection<HTMLInputElement, unknown, null, undefined>;
  private readonly compare: Selection<HTMLButtonElement, unknown, null, undefined>;
  private readonly tbody: Selection<HTMLTableSectionElement, unknown, null, undefined>;
  private readonly empty: Div;

  private filters: ListFilters;

  /**
   * @param initial filters read from the URL
   * @param onFiltersChange told of every filter change, so that the URL can follow (a filtered list is linkable)
   */
  constructor(
    container: HTMLElement,
    initial: ListFilters = {},
    private readonly onFiltersChange: (filters: ListFilters) => void = () => undefined,
  ) {
    this.filters = { ...initial };
    this.root = select(container).append('div').attr('class', 'shutdown-list');
    const bar = this.root.append('div').attr('class', 'filters');
    bar.append('h1').text('Shutdowns');
    const changed = () => {
      this.filters = {
        service: (this.service.property('value') as string) || undefined,
        outcome: (this.outcome.property('value') as string) || undefined,
        q: (this.search.property('value') as string) || undefined,
      };
      this.onFiltersChange(this.filters);
      this.render();
    };
    this.service = bar.append('select').attr('class', 'filter-service').attr('aria-label', 'service').on('change', changed);
    this.outcome = bar.append('select').attr('class', 'filter-outcome').attr('aria-label', 'outcome').on('change', changed);
    this.search = bar
      .append('input')
      .attr('type', 'search')
      .attr('class', 'filter-search')
      .attr('aria-label', 'search')
      .attr('placeholder', 'search service, instance, reason, id')
      .property('value', this.filters.q ?? '')
      .on('input', changed);
    this.compare = bar
      .append('button')
      .attr('type', 'button')
      .attr('class', 'compare-btn')
      .attr('disabled', '')
      .text('Compare 2 selected')
      .on('click', () => this.goCompare());
    const table = this.root.append('table').attr('class', 'shutdowns');
    const head = table.append('thead').append('tr');
    for (const h of ['', 'time', 'service', 'instance', 'reason', 'drain', 'outcome', 'tasks']) head.append('th').text(h);
    this.tbody = table.append('tbody');
    this.empty = this.root
      .append('div')
      .attr('class', 'empty muted')
      .text('No shutdown recorded yet. Send OTLP to the collector; this list refreshes by itself.');
  }

  /** Replaces the data (newest first, as the API sends it) and re-renders. */
  update(data: ApiShutdownSummary[]): void {
    this.data = data;
    // the chosen value stays an option even with no shutdown of it (yet): a linked filter is not lost
    const fill = (sel: Selection<HTMLSelectElement, unknown, null, undefined>, all: string, values: string[], current: string | undefined) => {
      const options = current && !values.includes(current) ? [...values, current].sort() : values;
      sel
        .selectAll('option')
        .data([all, ...options])
        .join('option')
        .attr('value', (d, i) => (i === 0 ? '' : d))
        .text((d) => d);
      sel.property('value', current ?? '');
    };
    fill(this.service, 'all services', [...new Set(data.map((d) => d.service))].sort(), this.filters.service);
    fill(this.outcome, 'all outcomes', [...new Set(data.map((d) => d.outcome))].sort(), this.filters.outcome);
    this.render();
  }

  /** Removes the view. */
  destroy(): void {
    this.root.remove();
  }

  private render(): void {
    const { service, outcome } = this.filters;
    const q = (this.filters.q ?? '').trim().toLowerCase();
    const rows = this.data.filter(
      (d) =>
        (!service || d.service === service) &&
        (!outcome || d.outcome === outcome) &&
        (!q ||
          [d.service, d.instance, d.reason, d.id, d.outcome].some((s) =>
            String(s ?? '')
              .toLowerCase()
              .includes(q),
          )),
    );
    this.empty
      .classed('hidden', rows.length > 0)
      .text(this.data.length ? 'No shutdown matches the filters.' : 'No shutdown recorded yet. Send OTLP to the collector; this list refreshes by itself.');
    this.tbody
      .selectAll<HTMLTableRowElement, ApiShutdownSummary>('tr')
      .data(rows, (d) => d.id)
      .join('tr')
      .attr('class', (d) => `shutdown-row outcome-${d.outcome}`)
      .attr('data-id', (d) => d.id)
      .each((d, i, nodes) => {
        const tr = select(nodes[i]);
        tr.selectAll('*').remove();
        const pick = tr
          .append('td')
          .append('input')
          .attr('type', 'checkbox')
          .attr('aria-label', 'select for compare')
          .property('checked', this.picked.includes(d.id));
        pick.on('click', (ev: MouseEvent) => {
          ev.stopPropagation();
          this.togglePick(d.id);
        });
        const link = tr
          .append('td')
          .append('a')
          .attr('href', routeHash({ view: 'shutdown', id: d.id }));
        link.text(formatTime(d.start));
        tr.append('td').attr('class', 'service').text(d.service);
        tr.append('td').attr('class', 'instance').text(d.instance);
        tr.append('td').text(d.reason);
        tr.append('td')
          .attr('class', 'num')
          .text(formatDuration(drainMsOf(d)) + (d.drainTimeoutMs !== undefined ? ` / ${formatDuration(d.drainTimeoutMs)}` : ''));
        tr.append('td')
          .append('span')
          .attr('class', `badge outcome outcome-${d.outcome}`)
          .text(d.open ? `${d.outcome} (live)` : d.outcome);
        verdictBadges(tr.append('td').attr('class', 'counts') as unknown as Selection<HTMLElement, unknown, null, undefined>, d.counts ?? {});
      })
      .on('click', (ev: MouseEvent, d) => {
        if ((ev.target as HTMLElement).closest('a,input')) return;
        location.hash = routeHash({ view: 'shutdown', id: d.id });
      });
    this.updateCompare();
  }

  private togglePick(id: string): void {
    const i = this.picked.indexOf(id);
    if (i >= 0) this.picked.splice(i, 1);
    else {
      this.picked.push(id);
      if (this.picked.length > 2) this.picked.shift();
    }
    this.render();
  }

  private updateCompare(): void {
    const picks = this.picked.map((id) => this.data.find((d) => d.id === id)).filter((d): d is ApiShutdownSummary => d !== undefined);
    const ok = picks.length === 2 && picks[0].service === picks[1].service;
    this.compare.attr('disabled', ok ? null : '').attr('title', ok ? null : 'tick two shutdowns of the same service');
  }

  private goCompare(): void {
    const picks = this.picked.map((id) => this.data.find((d) => d.id === id)).filter((d): d is ApiShutdownSummary => d !== undefined);
    if (picks.length !== 2) return;
    const [before, after] = [...picks].sort((a, b) => (BigInt(a.start) < BigInt(b.start) ? -1 : 1));
    location.hash = routeHash({ view: 'compare', before: before.id, after: after.id });
  }
}
