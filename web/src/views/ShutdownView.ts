import { type Selection, select } from 'd3-selection';
import { api } from '../api/client.js';
import type { ApiShutdownReport, ApiShutdownSummary, ApiTask } from '../api/types.js';
import { type CompactTimeline, fromCompact, windowStartOf } from '../layout/compactTimeline.js';
import { nsToMs, parseNs } from '../layout/nsToMs.js';
import { drainMsOf, phasesOf } from '../layout/phases.js';
import type { TimelineTask } from '../layout/timelineTask.js';
import { routeHash } from '../router.js';
import { verdictBadges } from './badges.js';
import { formatDuration, formatTime } from './format.js';
import { PendingChart } from './PendingChart.js';
import { renderTaskPanel } from './TaskPanel.js';
import { Timeline } from './Timeline.js';

type Div = Selection<HTMLDivElement, unknown, null, undefined>;

/** A shutdown as loaded: the report, plus timeline tasks when the compact endpoint supplied them. */
export interface LoadedShutdown {
  report: ApiShutdownReport;
  timeline?: TimelineTask[];
}

/**
 * Loads a shutdown for the timeline, asking for the compact form (`?tasks=compact`); a server
 * without it answers the full report, recognised by its task objects.
 */
export async function loadShutdown(id: string): Promise<LoadedShutdown> {
  const body = await api.shutdownCompact(id);
  if (!isCompact(body)) return { report: body };
  const originNs = parseNs(body.shutdown.start) ?? 0n;
  const lastMark = Math.max(
    0,
    ...phasesOf(body.shutdown)
      .marks.map((m) => m.t)
      .filter(Number.isFinite),
  );
  const { tasks, timeline } = fromCompact(body, originNs, windowStartOf(lastMark));
  const { sites: _sites, tasks: _tasks, ...rest } = body;
  return { report: { ...rest, tasks }, timeline };
}

function isCompact(body: CompactTimeline | ApiShutdownReport): body is CompactTimeline {
  return Array.isArray((body as CompactTimeline).sites) && (body.tasks.length === 0 || Array.isArray(body.tasks[0]));
}

/**
 * One shutdown: header with outcome, counts and shutdown findings, the timeline, the pending and
 * resource charts on the same time axis, and the task panel for the selected task.
 * `update` swaps in a fresher report (live) and keeps zoom, scroll and selection.
 */
export class ShutdownView {
  readonly id: string;
  private report: ApiShutdownReport;
  private timeline: Timeline | undefined;
  private chart: PendingChart | undefined;
  private selected: string | undefined;
  private readonly root: Div;
  private readonly header: Div;
  private readonly main: Div;
  private readonly panel: Div;

  private precomputed: TimelineTask[] | undefined;

  /** @param loaded the report, and the timeline tasks when they came precomputed from the compact endpoint */
  constructor(
    container: HTMLElement,
    loaded: LoadedShutdown,
    private readonly others: ApiShutdownSummary[],
  ) {
    this.id = loaded.report.shutdown.id;
    this.report = loaded.report;
    this.precomputed = loaded.timeline;
    this.root = select(container).append('div').attr('class', 'shutdown-view');
    this.header = this.root.append('div').attr('class', 'shutdown-header');
    this.main = this.root.append('div').attr('class', 'shutdown-main');
    this.panel = this.root.append('aside').attr('class', 'panel hidden') as unknown as Div;
    this.build();
  }

  /** How many tasks the shown report holds. */
  get taskCount(): number {
    return this.report.tasks.length;
  }

  /** The timeline (for tests and the benchmark hooks). */
  get timelineView(): Timeline | undefined {
    return this.timeline;
  }

  /** Shows the task panel for a span id, or hides it. */
  selectTask(spanId: string | undefined): void {
    this.selected = spanId;
    this.timeline?.select(spanId);
    const task = spanId ? this.report.tasks.find((t) => t.spanId === spanId) : undefined;
    // the open panel takes room from the timeline instead of covering its right end
    this.root.classed('panel-open', spanId !== undefined);
    if (!task) {
      this.panel.classed('hidden', true);
      this.panel.node()!.replaceChildren();
      if (spanId) this.panel.classed('hidden', false).append('div').attr('class', 'error').text(`No task ${spanId} in this shutdown.`);
      return;
    }
    this.panel.classed('hidden', false);
    const show = (full: ApiTask) =>
      renderTaskPanel(this.panel.node()!, full, this.timeline?.originNs ?? 0n, () => {
        location.hash = routeHash({ view: 'shutdown', id: this.id });
      });
    show(task);
    if (task.attributes === undefined) {
      // summary form: fetch the whole task (events, attributes, stack) for the panel
      api.task(this.id, task.spanId).then(
        (full) => {
          if (this.selected === task.spanId) show(full);
        },
        () => undefined,
      );
    }
  }

  /** Replaces the report with a fresher one, keeping zoom, scroll and selection. */
  update(loaded: LoadedShutdown): void {
    // keep the user's zoom; an unzoomed view follows the shutdown as it grows
    const domain = this.timeline?.zoomed ? this.timeline.xScale().domain() : undefined;
    const choices = this.timeline?.choices;
    const body = this.main.select<HTMLDivElement>('.tl-body').node();
    const scroll = body?.scrollTop ?? 0;
    this.report = loaded.report;
    this.precomputed = loaded.timeline;
    this.timeline?.destroy();
    this.chart?.destroy();
    this.header.node()!.replaceChildren();
    this.build();
    if (choices) this.timeline?.restore(choices);
    if (domain) this.timeline?.zoomTo(domain[0], domain[1]);
    const nb = this.main.select<HTMLDivElement>('.tl-body').node();
    if (nb) nb.scrollTop = scroll;
    this.selectTask(this.selected);
  }

  /** Removes the view. */
  destroy(): void {
    this.timeline?.destroy();
    this.root.remove();
  }

  private build(): void {
    const r = this.report;
    const s = r.shutdown;
    const h = this.header;
    const title = h.append('div').attr('class', 'title-row');
    title.append('a').attr('href', '#/').attr('class', 'back').text('← shutdowns');
    title.append('h1').text(`${s.service} · ${s.instance}`);
    const outcome = r.outcome ?? s.outcome;
    title
      .append('span')
      .attr('class', `badge outcome outcome-${outcome}`)
      .text(s.open ? `${outcome} (live)` : outcome);
    const facts = h.append('div').attr('class', 'facts-row');
    facts.append('span').text(`reason ${s.reason}`);
    facts.append('span').text(`at ${formatTime(s.start)}`);
    facts
      .append('span')
      .attr('class', 'drain')
      .text(`drain ${formatDuration(drainMsOf(s))}${s.drainTimeoutMs !== undefined ? ` of ${formatDuration(s.drainTimeoutMs)} allowed` : ''}`);
    const counts: Record<string, number> = {};
    for (const t of r.tasks) counts[t.verdict] = (counts[t.verdict] ?? 0) + 1;
    verdictBadges(facts.append('span').attr('class', 'counts') as unknown as Selection<HTMLElement, unknown, null, undefined>, r.counts ?? counts);

    const same = this.others.filter((o) => o.service === s.service && o.id !== s.id);
    if (same.length) {
      const cmp = facts.append('label').attr('class', 'compare-with').text('compare with ');
      const sel = cmp.append('select');
      sel.append('option').attr('value', '').text('another shutdown…');
      sel
        .selectAll('option.other')
        .data(same)
        .join('option')
        .attr('class', 'other')
        .attr('value', (d) => d.id)
        .text((d) => `${formatTime(d.start)} (${d.outcome})`);
      sel.on('change', (ev: Event) => {
        const other = same.find((o) => o.id === (ev.target as HTMLSelectElement).value);
        if (!other) return;
        const otherFirst = BigInt(other.start) < BigInt(s.start);
        location.hash = routeHash({ view: 'compare', before: otherFirst ? other.id : s.id, after: otherFirst ? s.id : other.id });
      });
    }

    if (r.findings?.length || r.warnings?.length) {
      const f = h.append('div').attr('class', 'shutdown-findings');
      for (const finding of r.findings ?? []) {
        const item = f.append('div').attr('class', 'finding');
        item.append('span').attr('class', 'badge bad').text(finding.kind);
        // the server's message already says what happened and the fix
        item.append('span').attr('class', 'message').text(` ${finding.message}`);
      }
      for (const w of r.warnings ?? []) {
        const item = f.append('div').attr('class', 'warning');
        item.append('span').attr('class', 'badge warn').text('loop warning');
        item.append('span').text(` +${formatDuration(nsToMs(w.t, parseNs(s.start) ?? 0n))} ${w.message}`);
      }
    }

    this.main.node()!.replaceChildren();
    this.timeline = new Timeline(
      this.main.node()!,
      r,
      {
        onSelectTask: (spanId) => {
          location.hash = routeHash({ view: 'shutdown', id: this.id, taskId: spanId });
        },
        onViewChange: (x) => this.chart?.update(x),
      },
      this.precomputed,
    );
    this.chart = new PendingChart(this.main.node()!, r, this.timeline.originNs);
    this.chart.update(this.timeline.xScale());
  }
}
