import { type Selection, select } from 'd3-selection';
import { drainStats } from '../layout/drainStats.js';
import type { TimelineTask } from '../layout/timelineTask.js';
import { BAD_VERDICTS, VERDICTS } from '../layout/verdicts.js';
import { formatDuration } from './format.js';

type Div = Selection<HTMLDivElement, unknown, null, undefined>;

/**
 * Statistics of a shutdown's tasks per coroutine or per creation site, like Jaeger's trace
 * statistics: count, count per verdict, cancel-to-end p50 / p95 / max, and until when they held
 * the drain. Clicking a row filters the timeline to its tasks.
 */
export class StatsTable {
  private readonly root: Div;
  private by: 'coroutine' | 'site' = 'coroutine';

  constructor(
    container: HTMLElement,
    private readonly tasks: readonly TimelineTask[],
    private readonly onPick: (by: 'coroutine' | 'site', key: string) => void,
  ) {
    this.root = select(container).append('section').attr('class', 'stats').attr('aria-label', 'statistics') as unknown as Div;
    const head = this.root.append('div').attr('class', 'stats-head');
    head.append('h2').text('Statistics');
    const sel = head.append('select').attr('class', 'stats-by').attr('aria-label', 'group statistics by');
    sel
      .selectAll('option')
      .data([
        ['coroutine', 'per coroutine'],
        ['site', 'per creation site'],
      ])
      .join('option')
      .attr('value', (d) => d[0])
      .text((d) => d[1]);
    sel.on('change', () => {
      this.by = sel.property('value') as 'coroutine' | 'site';
      this.render();
    });
    this.render();
  }

  private render(): void {
    this.root.select('table').remove();
    if (this.tasks.length === 0) {
      this.root.select('p.stats-empty').remove();
      this.root.append('p').attr('class', 'stats-empty muted').text('No task: nothing to count.');
      return;
    }
    const rows = drainStats(this.tasks, this.by);
    const present = VERDICTS.filter((v) => rows.some((r) => r.verdicts[v]));
    const table = this.root.append('table').attr('class', 'stats-table');
    const tr = table.append('thead').append('tr');
    for (const h of [this.by, 'tasks', ...present, 'cancel→end p50', 'p95', 'max', 'held until']) tr.append('th').attr('scope', 'col').text(h);
    const body = table.append('tbody');
    for (const r of rows) {
      const row = body.append('tr').attr('class', 'stats-row').attr('data-key', r.key);
      row
        .append('th')
        .attr('scope', 'row')
        .append('button')
        .attr('type', 'button')
        .attr('class', 'stats-pick')
        .attr('title', 'show these tasks on the timeline')
        .text(r.key)
        .on('click', () => this.onPick(this.by, r.key));
      row.append('td').attr('class', 'num stat-count').text(r.count.toLocaleString('en-US'));
      for (const v of present) {
        const n = r.verdicts[v] ?? 0;
        row
          .append('td')
          .attr('class', `num stat-verdict${n && BAD_VERDICTS.includes(v) ? ' bad-count' : ''}`)
          .attr('data-verdict', v)
          .text(n.toLocaleString('en-US'));
      }
      row.append('td').attr('class', 'num stat-p50').text(formatDuration(r.p50));
      row.append('td').attr('class', 'num stat-p95').text(formatDuration(r.p95));
      row.append('td').attr('class', 'num stat-max').text(formatDuration(r.max));
      row
        .append('td')
        .attr('class', 'num stat-held')
        .text(`+${formatDuration(r.heldUntil)}`);
    }
  }
}
