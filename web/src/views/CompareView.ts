import { select } from 'd3-selection';
import type { ApiShutdownReport } from '../api/types.js';
import { compareShutdowns } from '../layout/compareShutdowns.js';
import { routeHash } from '../router.js';
import { verdictBadges } from './badges.js';
import { formatDuration, formatTime } from './format.js';

/**
 * Two shutdowns of one service side by side: tasks matched by coroutine + creation site, what
 * became swallowed or survivor, what got fixed, and the drain time before and after.
 */
export function renderCompare(container: HTMLElement, before: ApiShutdownReport, after: ApiShutdownReport): () => void {
  const c = compareShutdowns(before, after);
  const root = select(container).append('div').attr('class', 'compare-view');
  root.append('a').attr('href', '#/').attr('class', 'back').text('← shutdowns');
  root.append('h1').text(`Compare · ${after.shutdown.service}`);
  if (before.shutdown.service !== after.shutdown.service) root.append('p').attr('class', 'warning').text('These shutdowns are of different services.');
  const head = root.append('div').attr('class', 'compare-head');
  for (const [label, r, ms] of [
    ['before', before, c.drainBeforeMs],
    ['after', after, c.drainAfterMs],
  ] as const) {
    const box = head.append('div').attr('class', `compare-side side-${label}`);
    box
      .append('a')
      .attr('href', routeHash({ view: 'shutdown', id: r.shutdown.id }))
      .text(`${label}: ${formatTime(r.shutdown.start)}`);
    box
      .append('div')
      .attr('class', 'drain')
      .text(`drain ${formatDuration(ms)} · ${r.outcome ?? r.shutdown.outcome} · ${r.tasks.length} ${r.tasks.length === 1 ? 'task' : 'tasks'}`);
  }
  const delta = c.drainAfterMs - c.drainBeforeMs;
  head
    .append('div')
    .attr('class', `compare-delta ${delta > 0 ? 'worse' : delta < 0 ? 'better' : 'same'}`)
    .text(delta === 0 ? 'drain unchanged' : `drain ${formatDuration(Math.abs(delta))} ${delta > 0 ? 'slower' : 'faster'}`);
  const table = root.append('table').attr('class', 'compare');
  const tr = table.append('thead').append('tr');
  for (const h of ['status', 'coroutine', 'creation site', 'before', 'after']) tr.append('th').text(h);
  const fmt = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([v, n]) => `${v} ${n}`)
      .join(', ') || '–';
  const rows = table
    .append('tbody')
    .selectAll('tr')
    .data(c.lines)
    .join('tr')
    .attr('class', (d) => `compare-row status-${d.status}`);
  rows
    .append('td')
    .append('span')
    .attr('class', (d) => `badge ${d.status === 'regressed' ? 'bad' : d.status === 'fixed' ? 'ok' : 'neutral'}`)
    .text((d) => d.status);
  rows.append('td').text((d) => d.coroutine);
  rows.append('td').text((d) => d.site || '–');
  // the same red badges as the list, so a regression stands out
  const counts = (pick: (l: (typeof c.lines)[number]) => Record<string, number>) =>
    function (this: HTMLTableCellElement, d: (typeof c.lines)[number]) {
      const n = pick(d);
      if (Object.values(n).some((v) => v > 0)) verdictBadges(select<HTMLElement, unknown>(this), n);
      else select(this).text(fmt(n));
    };
  rows
    .append('td')
    .attr('class', 'before')
    .each(counts((d) => d.before));
  rows
    .append('td')
    .attr('class', 'after')
    .each(counts((d) => d.after));
  return () => root.remove();
}
