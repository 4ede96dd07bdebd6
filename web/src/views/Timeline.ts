import { type BrushBehavior, brushX, type D3BrushEvent } from 'd3-brush';
import { type ScaleLinear, scaleLinear } from 'd3-scale';
import { type Selection, select } from 'd3-selection';
import { type D3ZoomEvent, type ZoomBehavior, type ZoomTransform, zoom, zoomIdentity } from 'd3-zoom';
import type { ApiShutdownReport } from '../api/types.js';
import { windowStartOf } from '../layout/compactTimeline.js';
import { groupRows, type TimelineRow } from '../layout/groupRows.js';
import { parseNs } from '../layout/nsToMs.js';
import { type Phases, phasesOf } from '../layout/phases.js';
import { type RowOrderMode, rowOrder } from '../layout/rowOrder.js';
import { type TimelineTask, toTimelineTask } from '../layout/timelineTask.js';
import { AXIS_HEIGHT_PX, drawAxis } from './timeline/drawAxis.js';
import { drawLabels } from './timeline/drawLabels.js';
import { drawMinimap, MINIMAP_HEIGHT_PX } from './timeline/drawMinimap.js';
import { drawRows, ROW_HEIGHT_PX } from './timeline/drawRows.js';
import { type CanvasPalette, canvasPalette } from './timeline/palette.js';
import { timelineToolbar } from './timeline/toolbar.js';

export { ROW_HEIGHT_PX };

/** Visible height of the rows area at most, in CSS px. */
const MAX_VIEWPORT_PX = 520;
const MAX_ZOOM = 1e6;

/** What the timeline tells its owner. */
export interface TimelineEvents {
  /** a task was picked (click on its bar or label) */
  onSelectTask(spanId: string): void;
  /** the row order was changed by the user */
  onOrderChange?(mode: RowOrderMode): void;
  /** the visible x domain changed (ms relative to the signal): the chart below follows it */
  onViewChange(x: ScaleLinear<number, number>): void;
}

/**
 * The shutdown timeline: one row per task (or per group of identical tasks), x = time relative to
 * the signal. Bars are drawn on a canvas with D3 scales; the axis, phase lanes and lines and the
 * brush stay SVG; row labels are HTML for the visible rows only. Every redraw is coalesced into at
 * most one per animation frame.
 */
export class Timeline {
  readonly tasks: TimelineTask[];
  readonly phases: Phases;
  readonly originNs: bigint;
  readonly windowStartMs: number;
  private readonly domain: [number, number];
  private rows: TimelineRow[] = [];
  private expanded = new Set<string>();
  private order: RowOrderMode = 'severity';
  private selected: string | undefined;
  private transform: ZoomTransform = zoomIdentity;
  private width = 800;
  private viewportHeight = 200;
  private frameRequested = false;
  /** x domain, width and height of the last axis and chart redraw: scrolling or selecting leaves them alone */
  private lastView: [number, number, number, number] | undefined;
  private syncingBrush = false;
  /** the tasks shown (all, or those a filter kept) */
  private shown: readonly TimelineTask[];
  /** span ids matching the search, marked on their rows */
  private matches: ReadonlySet<string> | undefined;
  /** ids of the rows holding a match, found once per rebuild (a group may hold 40,000 tasks) */
  private matchedRows: ReadonlySet<string> | undefined;
  private palette: CanvasPalette | undefined;
  private readonly root: Selection<HTMLDivElement, unknown, null, undefined>;
  private readonly body: Selection<HTMLDivElement, unknown, null, undefined>;
  private readonly sticky: Selection<HTMLDivElement, unknown, null, undefined>;
  private readonly spacer: Selection<HTMLDivElement, unknown, null, undefined>;
  private readonly labels: Selection<HTMLDivElement, unknown, null, undefined>;
  private readonly canvas: Selection<HTMLCanvasElement, unknown, null, undefined>;
  private readonly overlay: Selection<SVGSVGElement, unknown, null, undefined>;
  private readonly axisSvg: Selection<SVGSVGElement, unknown, null, undefined>;
  private readonly miniCanvas: Selection<HTMLCanvasElement, unknown, null, undefined>;
  private readonly brushSvg: Selection<SVGSVGElement, unknown, null, undefined>;
  private readonly zoomBehavior: ZoomBehavior<HTMLDivElement, unknown>;
  private readonly brush: BrushBehavior<unknown>;
  private readonly resizeObserver: ResizeObserver;
  /** Timings of the last frames in ms (draw cost), kept for the benchmark and for debugging. */
  readonly frameTimes: number[] = [];
  /** Set when the first complete frame has been drawn (performance.now()). */
  firstFrameAt: number | undefined;

  /**
   * @param precomputed timeline tasks already derived (from the compact endpoint, with the same
   *   origin and {@link windowStartOf} window); otherwise they are derived from `report.tasks`
   */
  constructor(
    container: HTMLElement,
    report: ApiShutdownReport,
    private readonly events: TimelineEvents,
    precomputed?: TimelineTask[],
  ) {
    this.originNs = parseNs(report.shutdown.start) ?? 0n;
    this.phases = phasesOf(report.shutdown);
    const lastMark = Math.max(0, ...this.phases.marks.map((m) => m.t).filter(Number.isFinite));
    this.windowStartMs = windowStartOf(lastMark);
    this.tasks = precomputed ?? report.tasks.map((t) => toTimelineTask(t, this.originNs, this.windowStartMs));
    this.shown = this.tasks;
    let hi = lastMark;
    for (const t of this.tasks) if (t.end > hi) hi = t.end;
    const pad = (hi - this.windowStartMs) * 0.02;
    this.domain = [this.windowStartMs, hi + pad];

    this.root = select(container).append('div').attr('class', 'timeline');
    timelineToolbar(this.root, {
      onOrder: (mode) => {
        this.setOrder(mode);
        this.events.onOrderChange?.(mode);
      },
      onResetZoom: () => this.resetZoom(),
      onCollapseAll: () => {
        this.expanded.clear();
        this.rebuildRows();
      },
    });

    const head = this.root.append('div').attr('class', 'tl-head');
    head
      .append('div')
      .attr('class', 'tl-label-head')
      .text(`${this.tasks.length.toLocaleString()} ${this.tasks.length === 1 ? 'task' : 'tasks'}`);
    this.axisSvg = head.append('svg').attr('class', 'tl-axis').attr('height', AXIS_HEIGHT_PX);

    this.body = this.root.append('div').attr('class', 'tl-body');
    this.sticky = this.body.append('div').attr('class', 'tl-sticky');
    this.labels = this.sticky.append('div').attr('class', 'tl-labels');
    const plot = this.sticky.append('div').attr('class', 'tl-plot');
    this.canvas = plot.append('canvas').attr('class', 'tl-canvas');
    this.overlay = plot.append('svg').attr('class', 'tl-overlay');
    this.spacer = this.body.append('div').attr('class', 'tl-spacer');
    if (this.tasks.length === 0) this.sticky.append('div').attr('class', 'tl-empty muted').text(emptyMessage(report));

    const mini = this.root.append('div').attr('class', 'tl-minimap');
    mini.append('div').attr('class', 'tl-label-head').text('overview');
    const miniPlot = mini.append('div').attr('class', 'tl-mini-plot');
    this.miniCanvas = miniPlot.append('canvas').attr('class', 'tl-mini-canvas');
    this.brushSvg = miniPlot.append('svg').attr('class', 'tl-brush').attr('height', MINIMAP_HEIGHT_PX);

    this.zoomBehavior = zoom<HTMLDivElement, unknown>()
      .scaleExtent([1, MAX_ZOOM])
      // plain wheel scrolls the rows; Ctrl/⌘ + wheel (and pinch) zooms time
      .filter((ev: Event) => {
        const e = ev as MouseEvent & WheelEvent;
        if (e.type === 'wheel') return e.ctrlKey || e.metaKey;
        return !e.button && !e.ctrlKey;
      })
      // no ×10 boost for Ctrl (d3's default, meant for pinch): Ctrl is how plain wheels zoom here
      .wheelDelta((ev: WheelEvent) => -ev.deltaY * (ev.deltaMode === 1 ? 0.05 : ev.deltaMode ? 1 : 0.002))
      .on('zoom', (ev: D3ZoomEvent<HTMLDivElement, unknown>) => {
        this.transform = ev.transform;
        this.syncBrush();
        this.requestFrame();
      });
    plot.call(this.zoomBehavior as unknown as (s: typeof plot) => void);
    plot.on('dblclick.zoom', null);
    plot.on('click', (ev: MouseEvent) => this.clickAt(ev));

    this.brush = brushX<unknown>().on('brush end', (ev: D3BrushEvent<unknown>) => this.brushed(ev));
    this.body.on('scroll', () => this.requestFrame());
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.root.node()!);
    this.rebuildRows();
    this.resize();
  }

  /** What the user chose (expanded groups, sort order), to carry over to a refreshed timeline. */
  get choices(): { expanded: ReadonlySet<string>; order: RowOrderMode } {
    return { expanded: new Set(this.expanded), order: this.order };
  }

  /** Applies choices taken from an older timeline of the same shutdown (see {@link Timeline.choices}). */
  restore(choices: { expanded: ReadonlySet<string>; order: RowOrderMode }): void {
    this.expanded = new Set(choices.expanded);
    this.order = choices.order;
    this.root.select<HTMLSelectElement>('select.tl-sort').property('value', choices.order);
    this.rebuildRows();
  }

  /** True when the user has zoomed in (a live refresh then keeps the window; otherwise it shows the whole, grown shutdown). */
  get zoomed(): boolean {
    return this.transform.k !== 1;
  }

  /** The current x scale (ms relative to the signal → px in the plot). */
  xScale(): ScaleLinear<number, number> {
    return this.transform.rescaleX(scaleLinear().domain(this.domain).range([0, this.width]));
  }

  /** The rows as currently shown (sorted, with expanded members). */
  currentRows(): readonly TimelineRow[] {
    return this.rows;
  }

  /** Marks a task as selected (outlined) and scrolls its row into view. */
  select(spanId: string | undefined): void {
    this.selected = spanId;
    if (spanId) {
      let index = this.rows.findIndex((r) => r.kind !== 'group' && r.tasks[0].id === spanId);
      if (index < 0) {
        const task = this.tasks.find((t) => t.id === spanId);
        if (task) {
          this.expanded.add(task.groupKey);
          this.rebuildRows();
          index = this.rows.findIndex((r) => r.kind !== 'group' && r.tasks[0].id === spanId);
        }
      }
      const node = this.body.node()!;
      if (index >= 0) {
        const y = index * ROW_HEIGHT_PX;
        if (y < node.scrollTop || y > node.scrollTop + this.viewportHeight - ROW_HEIGHT_PX) node.scrollTop = Math.max(0, y - this.viewportHeight / 3);
      }
    }
    this.requestFrame();
  }

  /** Zooms so that [startMs, endMs] fills the plot. */
  zoomTo(startMs: number, endMs: number): void {
    const base = scaleLinear().domain(this.domain).range([0, this.width]);
    const x0 = base(startMs);
    const x1 = base(endMs);
    const k = Math.min(MAX_ZOOM, Math.max(1, this.width / Math.max(1e-9, x1 - x0)));
    const plot = select(this.canvas.node()!.parentElement as HTMLDivElement);
    plot.call(this.zoomBehavior.transform as unknown as (s: typeof plot, t: ZoomTransform) => void, zoomIdentity.scale(k).translate(-x0, 0));
  }

  /** Removes the view and its listeners. */
  destroy(): void {
    this.resizeObserver.disconnect();
    this.root.remove();
  }

  /** Sorts the rows by severity, by start, or by how long each held the drain. */
  setOrder(mode: RowOrderMode): void {
    this.order = mode;
    this.root.select<HTMLSelectElement>('select.tl-sort').property('value', mode);
    this.rebuildRows();
  }

  /**
   * Shows only `tasks` (a filter's result; the time axis keeps the whole shutdown) and marks the
   * rows of `matches` (the search's hits).
   */
  show(tasks: readonly TimelineTask[], matches?: ReadonlySet<string>): void {
    this.shown = tasks;
    this.matches = matches;
    const total = this.tasks.length;
    const noun = total === 1 ? 'task' : 'tasks';
    this.root
      .select('.tl-head .tl-label-head')
      .text(tasks.length === total ? `${total.toLocaleString()} ${noun}` : `${tasks.length.toLocaleString()} of ${total.toLocaleString()} ${noun}`);
    this.rebuildRows();
  }

  /**
   * The span id of the task `step` rows below (+1) or above (-1) the task `spanId` in the shown
   * order; a collapsed group on the way is expanded and walked into. Undefined at either end.
   */
  neighbor(spanId: string | undefined, step: 1 | -1): string | undefined {
    const index = spanId === undefined ? -1 : this.rows.findIndex((r) => r.kind !== 'group' && r.tasks[0].id === spanId);
    for (let i = index < 0 ? (step > 0 ? 0 : this.rows.length - 1) : index + step; i >= 0 && i < this.rows.length; i += step) {
      const row = this.rows[i];
      // an expanded group's head is skipped: its members follow it
      if (row.kind === 'group' && row.expanded) continue;
      if (row.kind === 'group') {
        // a collapsed group on the way opens, and the walk goes on into its members (its last one when going up)
        this.expanded.add(row.groupKey);
        this.rebuildRows();
        return this.neighbor(spanId, step);
      }
      return row.tasks[0].id;
    }
    return undefined;
  }

  private resetZoom(): void {
    const plot = select(this.canvas.node()!.parentElement as HTMLDivElement);
    plot.call(this.zoomBehavior.transform as unknown as (s: typeof plot, t: ZoomTransform) => void, zoomIdentity);
  }

  private rebuildRows(): void {
    this.rows = rowOrder(groupRows(this.shown, this.expanded), this.order);
    const matches = this.matches;
    this.matchedRows = matches ? new Set(this.rows.filter((r) => r.tasks.some((t) => matches.has(t.id))).map((r) => r.id)) : undefined;
    const total = this.rows.length * ROW_HEIGHT_PX;
    this.viewportHeight = Math.max(ROW_HEIGHT_PX * 3, Math.min(MAX_VIEWPORT_PX, total));
    this.sticky.style('height', `${this.viewportHeight}px`);
    this.spacer.style('height', `${Math.max(0, total - this.viewportHeight)}px`);
    this.body.style('height', `${this.viewportHeight}px`);
    this.drawMinimap();
    this.requestFrame();
  }

  private resize(): void {
    const plotNode = this.canvas.node()!.parentElement as HTMLElement;
    const w = Math.max(100, Math.floor(plotNode.getBoundingClientRect().width));
    if (w === this.width && this.canvas.attr('data-ready')) return;
    // the zoom transform and the brush are in px: keep the visible time window across a width change
    const ready = this.canvas.attr('data-ready') !== null;
    const keep = ready && this.transform.k !== 1 ? this.xScale().domain() : undefined;
    if (ready) {
      // clear the old px selection before the extent changes, so d3-brush never draws it at the new width
      this.syncingBrush = true;
      (this.brush.move as unknown as (g: Selection<SVGSVGElement, unknown, null, undefined>, s: null) => void)(this.brushSvg, null);
      this.syncingBrush = false;
    }
    this.width = w;
    this.canvas.attr('data-ready', '1');
    this.zoomBehavior
      .extent([
        [0, 0],
        [w, this.viewportHeight],
      ])
      .translateExtent([
        [0, -Infinity],
        [w, Infinity],
      ]);
    this.brush.extent([
      [0, 0],
      [w, MINIMAP_HEIGHT_PX],
    ]);
    this.brushSvg.attr('width', w).call(this.brush as unknown as (s: Selection<SVGSVGElement, unknown, null, undefined>) => void);
    this.drawMinimap();
    if (keep) this.zoomTo(keep[0], keep[1]);
    else this.syncBrush();
    this.requestFrame();
  }

  private requestFrame(): void {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      const t0 = performance.now();
      const x = this.xScale();
      this.draw(x);
      if (this.viewChanged(x)) {
        drawAxis(this.axisSvg, this.overlay, x, this.phases, this.width, this.viewportHeight);
        this.events.onViewChange(x);
      }
      const t1 = performance.now();
      this.frameTimes.push(t1 - t0);
      if (this.frameTimes.length > 2000) this.frameTimes.splice(0, 1000);
      if (this.firstFrameAt === undefined) {
        this.firstFrameAt = t1;
        this.root.attr('data-first-frame', '1');
      }
    });
  }

  /** True (and remembered) when the x domain or the plot's size differ from the last redraw of the axis and charts. */
  private viewChanged(x: ScaleLinear<number, number>): boolean {
    const [d0, d1] = x.domain();
    const v = this.lastView;
    if (v && v[0] === d0 && v[1] === d1 && v[2] === this.width && v[3] === this.viewportHeight) return false;
    this.lastView = [d0, d1, this.width, this.viewportHeight];
    return true;
  }

  private visibleRange(): [number, number] {
    const top = this.body.node()!.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT_PX));
    const last = Math.min(this.rows.length, Math.ceil((top + this.viewportHeight) / ROW_HEIGHT_PX) + 1);
    return [first, last];
  }

  private draw(x: ScaleLinear<number, number>): void {
    const dpr = window.devicePixelRatio || 1;
    const w = this.width;
    const h = this.viewportHeight;
    const node = this.canvas.node()!;
    if (node.width !== Math.round(w * dpr) || node.height !== Math.round(h * dpr)) {
      node.width = Math.round(w * dpr);
      node.height = Math.round(h * dpr);
      this.canvas.style('width', `${w}px`).style('height', `${h}px`);
    }
    const ctx = node.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const top = this.body.node()!.scrollTop;
    const [first, last] = this.visibleRange();
    this.palette ??= canvasPalette(this.root.node()!);
    drawRows(ctx, {
      rows: this.rows,
      first,
      last,
      top,
      width: w,
      height: h,
      x,
      phases: this.phases,
      selected: this.selected,
      matchedRows: this.matchedRows,
      palette: this.palette,
    });
    drawLabels(this.labels, this.rows, first, last, top, { selected: this.selected, matchedRows: this.matchedRows, onActivate: (row) => this.activate(row) });
  }

  private activate(row: TimelineRow): void {
    if (row.kind === 'group') {
      if (this.expanded.has(row.groupKey)) this.expanded.delete(row.groupKey);
      else this.expanded.add(row.groupKey);
      this.rebuildRows();
    } else {
      this.events.onSelectTask(row.tasks[0].id);
    }
  }

  private clickAt(ev: MouseEvent): void {
    if (ev.defaultPrevented) return;
    const rect = (ev.currentTarget as HTMLElement).getBoundingClientRect();
    const index = Math.floor((ev.clientY - rect.top + this.body.node()!.scrollTop) / ROW_HEIGHT_PX);
    const row = this.rows[index];
    if (row) this.activate(row);
  }

  private drawMinimap(): void {
    const node = this.miniCanvas.node();
    if (!node) return;
    this.palette ??= canvasPalette(this.root.node()!);
    drawMinimap(node, this.rows, this.domain, this.phases, this.width, this.palette.ink);
  }

  private syncBrush(): void {
    if (this.syncingBrush) return;
    const t = this.transform;
    const w = this.width;
    const sel: [number, number] = [Math.max(0, -t.x / t.k), Math.min(w, (w - t.x) / t.k)];
    this.syncingBrush = true;
    const full = sel[0] <= 0.5 && sel[1] >= w - 0.5;
    (this.brush.move as unknown as (g: Selection<SVGSVGElement, unknown, null, undefined>, s: [number, number] | null) => void)(
      this.brushSvg,
      full ? null : sel,
    );
    this.syncingBrush = false;
  }

  private brushed(ev: D3BrushEvent<unknown>): void {
    if (this.syncingBrush || !ev.sourceEvent) return;
    const sel = ev.selection as [number, number] | null;
    const base = scaleLinear().domain(this.domain).range([0, this.width]);
    this.syncingBrush = true;
    if (!sel || sel[1] - sel[0] < 1) this.resetZoom();
    else this.zoomTo(base.invert(sel[0]), base.invert(sel[1]));
    this.syncingBrush = false;
  }
}

/** Why a shutdown shows no task: still open, tasks lost on the way, or really none in flight. */
function emptyMessage(report: ApiShutdownReport): string {
  if (report.shutdown.open) return 'No task reported yet: this shutdown is still open, and its tasks appear here as the program reports them.';
  const last = report.pending?.[report.pending.length - 1]?.count ?? 0;
  if (last > (report.pendingBaseline ?? 0))
    return 'No task span arrived for this shutdown, though its pending count says tasks were in flight: were they exported?';
  return 'No task was in flight during this shutdown: nothing to cancel, nothing held it up.';
}
