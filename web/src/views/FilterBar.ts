import { type Selection, select } from 'd3-selection';
import type { TaskFilters } from '../layout/taskFilters.js';
import type { TimelineTask } from '../layout/timelineTask.js';
import { VERDICTS } from '../layout/verdicts.js';

type Div = Selection<HTMLDivElement, unknown, null, undefined>;
type Select = Selection<HTMLSelectElement, unknown, null, undefined>;

/** The choices of a select, most frequent first (then by name), from the tasks. */
function choices(tasks: readonly TimelineTask[], pick: (t: TimelineTask) => readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const t of tasks) for (const v of pick(t)) if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([v]) => v);
}

/**
 * Find within a shutdown: a search box (task name, coroutine, span id, swallow site, any
 * attribute value) and filters by verdict, finding, coroutine and creation site, with the count of
 * tasks that match. It only reports changes; the owner keeps the filters (and the URL).
 */
export class FilterBar {
  private readonly root: Div;
  private readonly search: Selection<HTMLInputElement, unknown, null, undefined>;
  private readonly selects: Record<'verdict' | 'finding' | 'coroutine' | 'site', Select>;
  private readonly counter: Selection<HTMLSpanElement, unknown, null, undefined>;

  constructor(
    container: HTMLElement,
    tasks: readonly TimelineTask[],
    initial: TaskFilters,
    private readonly onChange: (change: Partial<TaskFilters>) => void,
  ) {
    this.root = select(container).append('div').attr('class', 'filter-bar').attr('role', 'search');
    this.search = this.root
      .append('input')
      .attr('type', 'search')
      .attr('class', 'task-search')
      .attr('aria-label', 'search tasks')
      .attr('placeholder', 'find: name, coroutine, span id, attribute value, swallow site')
      .on('input', () => this.onChange({ q: (this.search.property('value') as string) || undefined }));
    // the options read every task: made when a select is first reached, not before the first frame
    const make = (key: 'verdict' | 'finding' | 'coroutine' | 'site', all: string, values: () => string[]): Select => {
      const sel = this.root.append('select').attr('class', `task-filter-${key}`).attr('aria-label', `filter by ${key}`);
      sel.append('option').datum('').attr('value', '').text(all);
      let filled = false;
      const fill = () => {
        if (filled) return;
        filled = true;
        const current = sel.property('value') as string;
        sel
          .selectAll<HTMLOptionElement, string>('option')
          .data(['', ...new Set([...values(), ...(current ? [current] : [])])])
          .join('option')
          .attr('value', (d) => d)
          .text((d) => d || all);
        sel.property('value', current);
      };
      sel.on('focus pointerdown keydown', fill);
      sel.on('change', () => this.onChange({ [key]: (sel.property('value') as string) || undefined }));
      return sel;
    };
    this.selects = {
      verdict: make('verdict', 'all verdicts', () => choices(tasks, (t) => [t.verdict]).sort((a, b) => VERDICTS.indexOf(a) - VERDICTS.indexOf(b))),
      finding: make('finding', 'any finding', () => choices(tasks, (t) => t.findingKinds)),
      coroutine: make('coroutine', 'all coroutines', () => choices(tasks, (t) => [t.coroutine])),
      site: make('site', 'all creation sites', () => choices(tasks, (t) => [t.site])),
    };
    this.root
      .append('button')
      .attr('type', 'button')
      .attr('class', 'clear-filters')
      .text('Clear')
      .on('click', () => this.onChange({ q: undefined, verdict: undefined, finding: undefined, coroutine: undefined, site: undefined }));
    this.counter = this.root.append('span').attr('class', 'match-count').attr('aria-live', 'polite');
    this.set(initial);
  }

  /** Shows the given filters in the controls (a value not among the options is added, so a link never loses it). */
  set(f: TaskFilters): void {
    if (this.search.property('value') !== (f.q ?? '')) this.search.property('value', f.q ?? '');
    for (const key of ['verdict', 'finding', 'coroutine', 'site'] as const) {
      const sel = this.selects[key];
      const value = f[key] ?? '';
      if (
        value &&
        sel
          .selectAll<HTMLOptionElement, string>('option')
          .filter((d) => d === value)
          .empty()
      )
        sel.append('option').datum(value).attr('value', value).text(value);
      sel.property('value', value);
    }
  }

  /** Shows how many tasks the filters keep. */
  count(shown: number, total: number, filtering: boolean): void {
    this.counter.text(
      filtering ? `${shown.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} tasks match` : `${total.toLocaleString('en-US')} tasks`,
    );
    this.root.classed('filtering', filtering);
  }
}
