import { type Selection, select } from 'd3-selection';
import type { ApiTask } from '../api/types.js';
import { siteGroups } from '../layout/siteGroups.js';
import { coroutineOf, siteLabel } from '../layout/timelineTask.js';
import { BAD_VERDICTS } from '../layout/verdicts.js';
import { formatTime } from './format.js';
import { copySite, renderTaskPanel } from './TaskPanel.js';

type Div = Selection<HTMLDivElement, unknown, null, undefined>;

/** Most tasks kept in memory for the site view; older ones fall off first. */
export const MAX_SITE_TASKS = 50_000;
/** Tasks listed under an opened site row, newest first. */
const MAX_TASKS_LISTED = 200;

/**
 * Cancellations across time, inside and outside shutdowns (GET /api/tasks), grouped by code site
 * (coroutine + swallow site): how often each site swallowed, first and last seen, which services.
 * A slowly leaking pool shows here as one site whose count keeps growing.
 */
export class SitesView {
  private tasks = new Map<string, ApiTask>();
  private readonly root: Div;
  private readonly verdict: Selection<HTMLSelectElement, unknown, null, undefined>;
  private readonly tbody: Selection<HTMLTableSectionElement, unknown, null, undefined>;
  private readonly summary: Div;
  private readonly panel: Div;
  /** the site row whose tasks are listed */
  private openKey: string | undefined;

  constructor(
    container: HTMLElement,
    private readonly onFilterChange: (verdict: string) => void,
  ) {
    this.root = select(container).append('div').attr('class', 'sites-view');
    const bar = this.root.append('div').attr('class', 'filters');
    bar.append('h1').text('Cancellations by code site');
    this.verdict = bar.append('select').attr('class', 'filter-verdict').attr('aria-label', 'verdict');
    this.verdict
      .selectAll('option')
      .data(['', ...BAD_VERDICTS, 'cancelled'])
      .join('option')
      .attr('value', (d) => d)
      .text((d) => d || 'all verdicts');
    this.verdict.property('value', 'swallowed');
    this.verdict.on('change', () => {
      this.tasks.clear();
      this.add([]);
      this.onFilterChange(this.filter());
    });
    this.summary = this.root.append('div').attr('class', 'muted summary');
    const table = this.root.append('table').attr('class', 'sites');
    const head = table.append('thead').append('tr');
    for (const h of ['coroutine', 'site', 'swallowed', 'tasks', 'verdicts', 'first seen', 'last seen', 'services']) head.append('th').text(h);
    this.tbody = table.append('tbody');
    this.panel = this.root.append('aside').attr('class', 'panel hidden').attr('aria-label', 'task') as unknown as Div;
  }

  /** The tasks behind one site row, newest first. */
  private tasksOf(key: string): ApiTask[] {
    const out: ApiTask[] = [];
    for (const t of this.tasks.values()) if (`${coroutineOf(t)}\u0000${siteLabel(t.swallowSite) || siteLabel(t.code)}` === key) out.push(t);
    // unix-ns strings: a longer one is later; of equal length, the string order is the time order
    return out.sort((a, b) => b.endedAt.length - a.endedAt.length || (a.endedAt < b.endedAt ? 1 : a.endedAt > b.endedAt ? -1 : 0));
  }

  private openPanel(task: ApiTask): void {
    this.panel.classed('hidden', false);
    this.root.classed('panel-open', true);
    const origin = /^\d+$/.test(task.cancelRequestedAt ?? '') ? BigInt(task.cancelRequestedAt!) : BigInt(task.createdAt);
    renderTaskPanel(this.panel.node()!, task, origin, () => {
      this.panel.classed('hidden', true);
      this.root.classed('panel-open', false);
      this.panel.node()!.replaceChildren();
    });
    this.panel.select<HTMLElement>('h2.task-name').node()?.focus();
  }

  /** The verdict filter currently chosen ('' for all). */
  filter(): string {
    return this.verdict.property('value') as string;
  }

  /** Merges a page of tasks (by trace + span id, newer record wins) and re-renders. */
  add(tasks: ApiTask[]): void {
    for (const t of tasks) this.tasks.set(`${t.traceId}/${t.spanId}`, t);
    if (this.tasks.size > MAX_SITE_TASKS) {
      const extra = this.tasks.size - MAX_SITE_TASKS;
      let i = 0;
      for (const k of this.tasks.keys()) {
        if (i++ >= extra) break;
        this.tasks.delete(k);
      }
    }
    const groups = siteGroups([...this.tasks.values()]);
    const verdict = this.filter();
    this.summary.text(
      groups.length
        ? `${this.tasks.size.toLocaleString()} ${this.tasks.size === 1 ? 'task' : 'tasks'} in ${groups.length} ${groups.length === 1 ? 'site' : 'sites'}`
        : `No ${verdict ? `${verdict} ` : ''}task recorded yet. Tasks judged inside and outside shutdowns appear here as they arrive.`,
    );
    this.tbody.selectAll('tr.site-tasks').remove();
    const rows = this.tbody
      .selectAll<HTMLTableRowElement, (typeof groups)[number]>('tr.site-row')
      .data(groups, (d) => d.key)
      .join('tr')
      .attr('class', 'site-row')
      .attr('aria-expanded', (d) => String(d.key === this.openKey));
    rows.each((d, i, nodes) => {
      const tr = select(nodes[i]);
      tr.selectAll('*').remove();
      // the row opens the tasks behind it (a button, so the keyboard reaches it too)
      tr.append('td')
        .attr('class', 'coroutine')
        .append('button')
        .attr('type', 'button')
        .attr('class', 'open-site')
        .attr('title', 'list the tasks of this site')
        .text(d.coroutine)
        .on('click', () => {
          this.openKey = this.openKey === d.key ? undefined : d.key;
          this.add([]);
        });
      // the site copies itself as file:line, like the task panel's links
      const where = siteLabel(d.example.swallowSite) ? d.example.swallowSite : d.example.code;
      if (where?.filepath)
        copySite(
          tr.append('td').attr('class', 'site') as unknown as Parameters<typeof copySite>[0],
          { filepath: where?.filepath, lineno: where?.lineno },
          'site-link',
        );
      else tr.append('td').attr('class', 'site').text('–');
      tr.append('td')
        .attr('class', 'num')
        .append('span')
        .attr('class', d.swallowed ? 'badge bad' : 'muted')
        .text(String(d.swallowed));
      tr.append('td').attr('class', 'num').text(String(d.count));
      tr.append('td').text(
        Object.entries(d.verdicts)
          .map(([v, n]) => `${v} ${n}`)
          .join(', '),
      );
      tr.append('td').text(formatTime(String(d.firstSeen)));
      tr.append('td').text(formatTime(String(d.lastSeen)));
      tr.append('td').text(d.services.join(', '));
    });
    const open = groups.find((g) => g.key === this.openKey);
    const openRow = rows.filter((d) => d.key === this.openKey).node();
    if (open && openRow) {
      const detail = document.createElement('tr');
      openRow.after(detail);
      const cell = select(detail).attr('class', 'site-tasks').append('td').attr('colspan', 8);
      const tasks = this.tasksOf(open.key);
      cell
        .append('div')
        .attr('class', 'muted')
        .text(
          `${tasks.length.toLocaleString('en-US')} ${tasks.length === 1 ? 'task' : 'tasks'}, newest first${tasks.length > MAX_TASKS_LISTED ? ` (the first ${MAX_TASKS_LISTED} listed)` : ''}`,
        );
      const list = cell.append('ul').attr('class', 'site-task-list');
      for (const t of tasks.slice(0, MAX_TASKS_LISTED)) {
        list
          .append('li')
          .append('button')
          .attr('type', 'button')
          .attr('class', `site-task verdict-${t.verdict}`)
          .attr('data-span-id', t.spanId)
          .text(`${t.name} · ${t.verdict} · ${formatTime(t.endedAt)} · ${t.service}`)
          .on('click', () => this.openPanel(t));
      }
    }
  }

  /** Removes the view. */
  destroy(): void {
    this.root.remove();
  }
}
