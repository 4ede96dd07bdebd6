import type { Selection } from 'd3-selection';
import { BAD_VERDICTS, VERDICTS } from '../layout/verdicts.js';

/** Appends one badge per verdict count, the bad verdicts in red; verdicts with no task are left out. */
export function verdictBadges(parent: Selection<HTMLElement, unknown, null, undefined>, counts: Partial<Record<string, number>>): void {
  const keys = [...VERDICTS.filter((v) => counts[v]), ...Object.keys(counts).filter((v) => !VERDICTS.includes(v) && counts[v])];
  for (const v of keys) {
    parent
      .append('span')
      .attr('class', `badge ${BAD_VERDICTS.includes(v) ? 'bad' : 'ok'} verdict-${v}`)
      .attr('data-verdict', v)
      .text(`${v} ${counts[v]}`);
  }
}
