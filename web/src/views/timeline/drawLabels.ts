import type { Selection } from 'd3-selection';
import type { TimelineRow } from '../../layout/groupRows.js';
import { HIGHLIGHT_VERDICTS } from '../../layout/verdicts.js';
import { VERDICT_ICON } from '../colors.js';
import { ROW_HEIGHT_PX } from './drawRows.js';

/** What the row labels show besides the rows. */
export interface LabelsState {
  selected?: string;
  /** ids of the rows that hold a task matching the search */
  matchedRows?: ReadonlySet<string>;
  /** a row was clicked, or Enter / Space pressed on it */
  onActivate(row: TimelineRow): void;
}

/**
 * Draws the HTML labels of the rows in view (`rows[first..last)`), positioned over the canvas rows;
 * each label is a button (Tab, Enter, Space) that opens its task or expands its group. Text only
 * through `.text()`.
 */
export function drawLabels(
  labels: Selection<HTMLDivElement, unknown, null, undefined>,
  rows: readonly TimelineRow[],
  first: number,
  last: number,
  top: number,
  state: LabelsState,
): void {
  labels
    .selectAll<HTMLDivElement, TimelineRow>('div.tl-label')
    .data(rows.slice(first, last), (d) => d.id)
    .join((enter) => {
      const div = enter.append('div').attr('tabindex', 0).attr('role', 'button');
      div.on('click', (_ev: MouseEvent, d: TimelineRow) => state.onActivate(d));
      div.on('keydown', (ev: KeyboardEvent, d: TimelineRow) => {
        if (ev.key !== 'Enter' && ev.key !== ' ') return;
        ev.preventDefault();
        state.onActivate(d);
      });
      div.append('span').attr('class', 'caret');
      div.append('span').attr('class', 'verdict-flag');
      div.append('span').attr('class', 'name');
      div.append('span').attr('class', 'count');
      return div;
    })
    .attr(
      'class',
      (d) =>
        `tl-label verdict-${d.verdict} kind-${d.kind}${HIGHLIGHT_VERDICTS.includes(d.verdict) ? ' highlight' : ''}${d.kind !== 'group' && d.tasks[0].id === state.selected ? ' selected' : ''}${state.matchedRows?.has(d.id) ? ' match' : ''}`,
    )
    .attr('data-verdict', (d) => d.verdict)
    .attr('data-span-id', (d) => (d.kind === 'group' ? null : d.tasks[0].id))
    .attr('aria-expanded', (d) => (d.kind === 'group' ? String(d.expanded) : null))
    .attr('title', (d) => `${d.label}${d.site ? ` — ${d.site}` : ''} (${d.verdict})`)
    .style('transform', (_d, i) => `translateY(${(first + i) * ROW_HEIGHT_PX - top}px)`)
    .call((s) => {
      s.select('.caret').text((d) => (d.kind === 'group' ? (d.expanded ? '▾' : '▸') : d.kind === 'member' ? '·' : ''));
      s.select('.verdict-flag').text((d) => VERDICT_ICON[d.verdict] ?? '');
      s.select('.name').text((d) => d.label);
      s.select('.count').text((d) => (d.kind === 'group' ? `×${d.count.toLocaleString()}` : ''));
    });
}
