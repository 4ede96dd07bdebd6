import { select } from 'd3-selection';
import type { ApiShutdownReport } from '../api/types.js';
import { findingCounts } from '../layout/drainStats.js';
import type { TimelineTask } from '../layout/timelineTask.js';
import { formatDuration } from './format.js';

/** Messages listed under one finding kind when expanded; the rest are counted. */
const MAX_MESSAGES_SHOWN = 20;

interface KindLine {
  kind: string;
  /** findings of this kind on the shutdown itself */
  messages: string[];
  /** tasks that carry it */
  tasks: number;
  warning: boolean;
}

/**
 * The shutdown's findings summarized by kind with their counts, each line expandable to its
 * messages and, when tasks carry it, a button that filters the timeline to them. A shutdown with
 * hundreds of `group_blocked` groups reads as one line, not hundreds of paragraphs.
 */
export class FindingsSummary {
  constructor(
    container: HTMLElement,
    report: ApiShutdownReport,
    tasks: readonly TimelineTask[],
    onFilter: (finding: string) => void,
    msOf: (t: string) => number,
  ) {
    const lines = new Map<string, KindLine>();
    const line = (kind: string, warning = false) => {
      let l = lines.get(kind);
      if (!l) {
        l = { kind, messages: [], tasks: 0, warning };
        lines.set(kind, l);
      }
      return l;
    };
    for (const f of report.findings ?? []) line(f.kind).messages.push(f.message);
    for (const c of findingCounts(tasks)) line(c.kind).tasks = c.tasks;
    for (const w of report.warnings ?? []) line('loop warning', true).messages.push(`+${formatDuration(msOf(w.t))} ${w.message}`);
    if (lines.size === 0) return;
    const root = select(container).append('section').attr('class', 'findings-summary').attr('aria-label', 'findings');
    root.append('h2').attr('class', 'findings-title').text('Findings');
    for (const l of [...lines.values()].sort((a, b) => Number(a.warning) - Number(b.warning) || b.messages.length + b.tasks - (a.messages.length + a.tasks))) {
      const details = root.append('details').attr('class', 'finding-kind').attr('data-kind', l.kind);
      const summary = details.append('summary');
      summary
        .append('span')
        .attr('class', `badge ${l.warning ? 'warn' : 'bad'}`)
        .text(l.kind);
      const parts: string[] = [];
      if (l.messages.length) parts.push(`×${l.messages.length.toLocaleString('en-US')}`);
      if (l.tasks) parts.push(`${l.tasks.toLocaleString('en-US')} ${l.tasks === 1 ? 'task' : 'tasks'}`);
      summary
        .append('span')
        .attr('class', 'finding-count')
        .text(` ${parts.join(' · ')}`);
      if (l.tasks)
        details
          .append('button')
          .attr('type', 'button')
          .attr('class', 'filter-link')
          .text(`Show the ${l.tasks.toLocaleString('en-US')} ${l.tasks === 1 ? 'task' : 'tasks'} on the timeline`)
          .on('click', () => onFilter(l.kind));
      const list = details.append('ul').attr('class', 'finding-messages');
      for (const m of l.messages.slice(0, MAX_MESSAGES_SHOWN)) list.append('li').text(m);
      if (l.messages.length > MAX_MESSAGES_SHOWN)
        list
          .append('li')
          .attr('class', 'muted')
          .text(`… and ${(l.messages.length - MAX_MESSAGES_SHOWN).toLocaleString('en-US')} more`);
    }
  }
}
