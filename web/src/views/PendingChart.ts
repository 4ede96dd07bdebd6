import { axisLeft } from 'd3-axis';
import { type ScaleLinear, scaleLinear } from 'd3-scale';
import { type Selection, select } from 'd3-selection';
import { curveStepAfter, line } from 'd3-shape';
import { EVENT } from '../../../contract/contract.js';
import type { ApiShutdownReport } from '../api/types.js';
import { nsToMs } from '../layout/nsToMs.js';

const PENDING_HEIGHT_PX = 120;
const GAUGE_HEIGHT_PX = 70;
const MARGIN = { top: 8, bottom: 6 };
/** Gives each chart's clip path a page-unique id. */
let clipSerial = 0;

interface Series {
  /** `tasks.pending` or the gauge's name */
  name: string;
  kind: 'pending' | 'gauge';
  baseline: number;
  points: { t: number; v: number }[];
  /** true when the last sample is above the baseline: the series did not return */
  notAtBaseline: boolean;
  /** true when every sample had the same value (a recorder that samples on change sent one) */
  unchanged: boolean;
  height: number;
  /** value → px; fixed, since only the time axis zooms */
  y: ScaleLinear<number, number>;
}

/**
 * The pending-task and resource-gauge charts under the timeline, on the same time axis: each
 * series with its pre-shutdown baseline as a dashed line, and a marked finding where a line ends
 * above its baseline. SVG (a few hundred samples at most); it redraws when the timeline's x changes.
 */
export class PendingChart {
  private readonly series: Series[];
  private readonly root: Selection<HTMLDivElement, unknown, null, undefined>;

  constructor(container: HTMLElement, report: ApiShutdownReport, originNs: bigint) {
    const toPoints = (s: { t: string; v: number }[]) =>
      s
        .map((p) => ({ t: nsToMs(p.t, originNs), v: p.v }))
        .filter((p) => Number.isFinite(p.t))
        .sort((a, b) => a.t - b.t);
    // a recorder samples on change: the last value holds until the shutdown's end (or last snapshot)
    const endMs = nsToMs(report.shutdown.end, originNs);
    const held = (points: { t: number; v: number }[]) => {
      const last = points[points.length - 1];
      return last && Number.isFinite(endMs) && endMs > last.t ? [...points, { t: endMs, v: last.v }] : points;
    };
    const mk = (name: string, kind: Series['kind'], baseline: number, sampled: { t: number; v: number }[], height: number): Series => {
      const points = held(sampled);
      return {
        name,
        kind,
        baseline,
        points,
        height,
        notAtBaseline: points.length > 0 && points[points.length - 1].v > baseline,
        // gauges are sampled on change; the pending count is sampled on a clock and keeps its 'last' wording
        unchanged: kind === 'gauge' && sampled.length > 0 && sampled.every((p) => p.v === sampled[0].v),
        y: scaleLinear()
          .domain([0, Math.max(baseline, ...points.map((p) => p.v), 1) * 1.1])
          .range([height - MARGIN.bottom, MARGIN.top]),
      };
    };
    this.series = [
      mk(EVENT.pending, 'pending', report.pendingBaseline ?? 0, toPoints((report.pending ?? []).map((p) => ({ t: p.t, v: p.count }))), PENDING_HEIGHT_PX),
      ...(report.gauges ?? []).map((g) => mk(g.name, 'gauge', g.baseline, toPoints(g.samples.map((s) => ({ t: s.t, v: s.value }))), GAUGE_HEIGHT_PX)),
    ];
    this.root = select(container).append('div').attr('class', 'charts');
    const blocks = this.root
      .selectAll<HTMLDivElement, Series>('div.chart')
      .data(this.series)
      .join('div')
      .attr('class', (d) => `chart chart-${d.kind}`);
    const label = blocks.append('div').attr('class', 'chart-label');
    label
      .append('div')
      .attr('class', 'chart-name')
      .text((d) => (d.kind === 'pending' ? 'pending tasks' : d.name));
    label
      .append('div')
      .attr('class', 'chart-last')
      .text((d) =>
        !d.points.length
          ? 'no samples'
          : d.unchanged
            ? `unchanged at ${d.points[0].v} · baseline ${d.baseline}`
            : `last ${d.points[d.points.length - 1].v} · baseline ${d.baseline}`,
      );
    label
      .filter((d) => d.notAtBaseline)
      .append('div')
      .attr('class', 'chart-finding badge bad')
      .text((d) => (d.kind === 'pending' ? '⚠ pending_not_at_baseline' : '⚠ resource_not_released'));
    const svgs = blocks
      .append('svg')
      .attr('class', 'chart-svg')
      .attr('height', (d) => d.height);
    // lines are clipped to the plot so that a zoomed-in series never runs over the labels on the left
    svgs
      .append('clipPath')
      .attr('id', () => `ct-chart-clip-${++clipSerial}`)
      .append('rect')
      .attr('class', 'clip-rect')
      .attr('x', 0)
      .attr('y', 0)
      .attr('height', (d) => d.height);
    svgs
      .append('g')
      .attr('class', 'plot-area')
      .attr('clip-path', function () {
        return `url(#${(this.parentNode as SVGSVGElement).querySelector('clipPath')!.id})`;
      });
    // the value axis and the baseline's height do not change with zoom: drawn once
    svgs.each(function (d) {
      const svg = select(this);
      // counts are whole numbers: no 0.2-task ticks
      const ticks = d.y.ticks(d.kind === 'pending' ? 4 : 2).filter((v) => Number.isInteger(v));
      svg
        .append('g')
        .attr('class', 'y-axis')
        .attr('transform', 'translate(0,0)')
        .call(
          axisLeft(d.y)
            .tickValues(ticks)
            .tickFormat((v) => Number(v).toLocaleString()),
        );
      svg.append('line').attr('class', 'baseline').attr('x1', 0).attr('y1', d.y(d.baseline)).attr('y2', d.y(d.baseline));
      svg
        .append('text')
        .attr('class', 'baseline-label')
        .attr('x', 4)
        .attr('y', d.y(d.baseline) - 3)
        .text(`baseline ${d.baseline}`);
    });
  }

  /** Redraws every series with the timeline's current x scale (its range is the plot width). */
  update(x: ScaleLinear<number, number>): void {
    const w = x.range()[1];
    this.root.selectAll<SVGSVGElement, Series>('svg.chart-svg').each(function (d) {
      const svg = select(this).attr('width', w);
      const y = d.y;
      svg.select('rect.clip-rect').attr('width', w);
      svg.select('line.baseline').attr('x2', w);
      const plot = svg.select<SVGGElement>('g.plot-area');
      const path = line<{ t: number; v: number }>()
        .x((p) => x(p.t))
        .y((p) => y(p.v))
        .curve(curveStepAfter);
      plot
        .selectAll<SVGPathElement, null>('path.series')
        .data([null])
        .join('path')
        .attr('class', `series series-${d.kind}`)
        .attr('d', path(d.points) ?? '');
      const last = d.points[d.points.length - 1];
      const marker = d.notAtBaseline && last && x(last.t) >= 0 && x(last.t) <= w ? [last] : [];
      plot
        .selectAll<SVGCircleElement, { t: number; v: number }>('circle.not-at-baseline')
        .data(marker)
        .join('circle')
        .attr('class', 'not-at-baseline')
        .attr('r', 5)
        .attr('cx', (p) => x(p.t))
        .attr('cy', (p) => y(p.v));
      svg
        .selectAll<SVGTextElement, { t: number; v: number }>('text.not-at-baseline-label')
        .data(marker)
        .join('text')
        .attr('class', 'not-at-baseline-label')
        .attr('x', (p) => Math.min(w - 4, x(p.t) - 8))
        .attr('y', (p) => y(p.v) - 7)
        .attr('text-anchor', 'end')
        .text((p) => `${p.v} > baseline ${d.baseline}`);
    });
  }

  /** Removes the charts. */
  destroy(): void {
    this.root.remove();
  }
}
