import { type Selection, select } from 'd3-selection';
import type { ApiShutdownSummary } from '../api/types.js';
import { agoText, honestOutcome, outcomeText } from '../layout/honesty.js';
import { drainMsOf } from '../layout/phases.js';
import { BAD_VERDICTS } from '../layout/verdicts.js';
import { type ListFilters, routeHash } from '../router.js';
import { verdictBadges } from './badges.js';
import { formatDuration, formatTime } from './format.js';

type Div = Selection<HTMLDivElement, unknown, null, undefined>;

/** Columns the list sorts by: time, drain, and the count of each bad verdict (the findings columns). */
const SORT_KEYS = ['time', 'drain', ...BAD_VERDICTS] as const;

function sortValue(d: ApiShutdownSummary, key: string): number {
  if (key === 'time') return Number(BigInt(d.start) / 1_000_000n);
  if (key === 'drain') return drainMsOf(d);
  return d.counts?.[key] ?? 0;
}

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
  private readonly head: Selection<HTMLTableRowElement, unknown, null, undefined>;
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
        sort: this.filters.sort,
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
    this.head = table.append('thead').append('tr');
    for (const h of ['', 'time', 'service', 'instance', 'reason', 'drain', 'outcome', ...BAD_VERDICTS, 'tasks']) {
      const th = this.head.append('th').attr('scope', 'col').attr('data-col', h);
      if (!(SORT_KEYS as readonly string[]).includes(h)) {
        th.text(h);
        continue;
      }
      th.classed('sortable', true)
        .append('button')
        .attr('type', 'button')
        .attr('class', 'sort-btn')
        .text(h)
        .on('click', () => {
          // first click sorts descending (most first), the second ascending
          const next = this.filters.sort === `-${h}` ? h : `-${h}`;
          this.filters = { ...this.filters, sort: next };
          this.onFiltersChange(this.filters);
          this.render();
        });
    }
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
    const now = Date.now();
    fill(this.outcome, 'all outcomes', [...new Set(data.map((d) => honestOutcome(d, now).label))].sort(), this.filters.outcome);
    this.render();
  }

  /** Applies filters that changed in the URL alone (a pasted link, back or forward). */
  setFilters(filters: ListFilters): void {
    this.filters = { ...filters };
    this.search.property('value', this.filters.q ?? '');
    this.update(this.data);
  }

  /** Removes the view. */
  destroy(): void {
    this.root.remove();
  }

  private render(): void {
    const { service, outcome, sort } = this.filters;
    const q = (this.filters.q ?? '').trim().toLowerCase();
    const now = Date.now();
    const rows = this.data.filter(
      (d) =>
        (!service || d.service === service) &&
        (!outcome || honestOutcome(d, now).label === outcome) &&
        (!q ||
          [d.service, d.instance, d.reason, d.id, d.outcome].some((s) =>
            String(s ?? '')
              .toLowerCase()
              .includes(q),
          )),
    );
    const sortKey = sort?.replace(/^-/, '');
    if (sortKey && (SORT_KEYS as readonly string[]).includes(sortKey)) {
      const sign = sort!.startsWith('-') ? -1 : 1;
      // a stable sort: equal rows keep the API's newest-first order
      rows.sort((a, b) => sign * (sortValue(a, sortKey) - sortValue(b, sortKey)));
    }
    this.head.selectAll<HTMLTableCellElement, unknown>('th.sortable').attr('aria-sort', function () {
      const col = this.getAttribute('data-col');
      return col === sortKey ? (sort!.startsWith('-') ? 'descending' : 'ascending') : 'none';
    });
    this.empty
      .classed('hidden', rows.length > 0)
      .text(this.data.length ? 'No shutdown matches the filters.' : 'No shutdown recorded yet. Send OTLP to the collector; this list refreshes by itself.');
    this.tbody
      .selectAll<HTMLTableRowElement, ApiShutdownSummary>('tr')
      .data(rows, (d) => d.id)
      .join('tr')
      .order()
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
        const o = honestOutcome(d, now);
        const cell = tr.append('td').attr('class', 'outcome-cell');
        cell
          .append('span')
          .attr('class', `badge outcome outcome-${o.label}${o.open && !o.live ? ' stale' : ''}`)
          .attr('title', o.label !== o.reported ? `reported ${o.reported}, but it has ${o.worst} tasks` : null)
          .text(outcomeText(o));
        if (o.open)
          cell
            .append('span')
            .attr('class', 'liveness muted')
            .text(` last data ${agoText(o.lastSentAgoMs ?? Number.POSITIVE_INFINITY)}`);
        for (const v of BAD_VERDICTS) {
          const n = d.counts?.[v] ?? 0;
          tr.append('td')
            .attr('class', `num finding-count count-${v}${n > 0 ? ' nonzero' : ''}`)
            .attr('data-verdict', v)
            .text(String(n));
        }
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
