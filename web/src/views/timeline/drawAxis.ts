import { axisTop } from 'd3-axis';
import { type ScaleLinear, scaleLinear } from 'd3-scale';
import type { Selection } from 'd3-selection';
import { type PhaseLabel, phaseLabels } from '../../layout/phaseLabels.js';
import type { Phases } from '../../layout/phases.js';

/** Height of the time axis above the rows, in CSS px. */
export const AXIS_HEIGHT_PX = 40;

type Svg = Selection<SVGSVGElement, unknown, null, undefined>;

/**
 * Draws the time axis (ms or s, with the decimals the zoom needs), the phase labels above it
 * (placed so that none overlaps: layout/phaseLabels.ts) and the phase lines over the rows.
 */
export function drawAxis(axisSvg: Svg, overlay: Svg, x: ScaleLinear<number, number>, phases: Phases, w: number, h: number): void {
  axisSvg.attr('width', w);
  const g = axisSvg
    .selectAll<SVGGElement, null>('g.axis')
    .data([null])
    .join('g')
    .attr('class', 'axis')
    .attr('transform', `translate(0,${AXIS_HEIGHT_PX - 1})`);
  const count = Math.max(2, Math.floor(w / 90));
  const [a, b] = x.domain();
  // precision follows the zoom: d3's tickFormat picks the decimals the tick step needs
  const inSeconds = b - a > 5_000;
  const fmt = inSeconds
    ? scaleLinear()
        .domain([a / 1000, b / 1000])
        .tickFormat(count)
    : x.tickFormat(count);
  g.call(
    axisTop(x)
      .ticks(count)
      .tickFormat((d) => (inSeconds ? `${fmt(Number(d) / 1000)} s` : `${fmt(Number(d))} ms`)),
  );
  const visibleMarks = phases.marks.filter((m) => x(m.t) >= 0 && x(m.t) <= w);
  const labels = phaseLabels(
    visibleMarks.map((m) => ({ key: m.kind, label: m.label, x: x(m.t) })),
    w,
  );
  axisSvg
    .selectAll<SVGTextElement, PhaseLabel>('text.phase-label')
    .data(labels, (d) => d.keys[0])
    .join('text')
    .attr('class', (d) => `phase-label phase-${d.keys[0]}${d.keys.includes('deadline') ? ' phase-deadline' : ''}`)
    .attr('x', (d) => d.x)
    .attr('y', (d) => 9 + 10 * d.line)
    .attr('text-anchor', (d) => d.anchor)
    .text((d) => d.text);
  overlay.attr('width', w).attr('height', h);
  overlay
    .selectAll<SVGLineElement, (typeof visibleMarks)[number]>('line.phase')
    .data(visibleMarks, (d) => d.kind)
    .join('line')
    .attr('class', (d) => `phase phase-${d.kind}`)
    .attr('x1', (d) => x(d.t))
    .attr('x2', (d) => x(d.t))
    .attr('y1', 0)
    .attr('y2', h);
}
