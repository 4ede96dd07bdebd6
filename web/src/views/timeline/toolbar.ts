import type { Selection } from 'd3-selection';
import type { RowOrderMode } from '../../layout/rowOrder.js';
import { VERDICTS } from '../../layout/verdicts.js';

/** What the timeline's toolbar asks of the timeline. */
export interface ToolbarActions {
  onOrder(mode: RowOrderMode): void;
  onResetZoom(): void;
  onCollapseAll(): void;
}

/** The row orders offered, with their labels. */
const ORDERS: [RowOrderMode, string][] = [
  ['severity', 'swallowed & survivors first'],
  ['held', 'held the drain longest first'],
  ['start', 'by start time'],
];

/** Appends the timeline's toolbar: row order, reset zoom, collapse all, a hint and the verdict legend. */
export function timelineToolbar(root: Selection<HTMLDivElement, unknown, null, undefined>, actions: ToolbarActions): void {
  const toolbar = root.append('div').attr('class', 'tl-toolbar');
  toolbar
    .append('label')
    .text('Sort ')
    .append('select')
    .attr('class', 'tl-sort')
    .attr('aria-label', 'sort rows')
    .on('change', (ev: Event) => actions.onOrder((ev.target as HTMLSelectElement).value as RowOrderMode))
    .selectAll('option')
    .data(ORDERS)
    .join('option')
    .attr('value', (d) => d[0])
    .text((d) => d[1]);
  toolbar.append('button').attr('type', 'button').attr('class', 'tl-reset').text('Reset zoom').on('click', actions.onResetZoom);
  toolbar.append('button').attr('type', 'button').attr('class', 'tl-collapse').text('Collapse all').on('click', actions.onCollapseAll);
  toolbar.append('span').attr('class', 'tl-hint').text('Ctrl + wheel or the mini-map brush to zoom, drag to pan, click a group to expand it.');
  const legend = toolbar.append('span').attr('class', 'tl-legend');
  for (const v of VERDICTS) {
    const item = legend.append('span').attr('class', 'legend-item');
    item.append('span').attr('class', `swatch verdict-bg-${v}`);
    item.append('span').text(v);
  }
}
