import { scaleLinear } from 'd3-scale';
import type { TimelineRow } from '../../layout/groupRows.js';
import type { Phases } from '../../layout/phases.js';
import { verdictColor } from '../colors.js';

/** Height of the overview under the rows, in CSS px. */
export const MINIMAP_HEIGHT_PX = 44;

/** Draws the overview of every row over the whole time domain (the brush on it zooms the timeline). */
export function drawMinimap(node: HTMLCanvasElement, rows: readonly TimelineRow[], domain: [number, number], phases: Phases, w: number, ink: string): void {
  const dpr = window.devicePixelRatio || 1;
  const h = MINIMAP_HEIGHT_PX;
  node.width = Math.round(w * dpr);
  node.height = Math.round(h * dpr);
  node.style.width = `${w}px`;
  node.style.height = `${h}px`;
  const ctx = node.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const x = scaleLinear().domain(domain).range([0, w]);
  const n = Math.max(1, rows.length);
  const rh = Math.max(h / n, 0.5);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    ctx.fillStyle = verdictColor(r.verdict);
    const x0 = x(r.start);
    ctx.fillRect(x0, (i / n) * h, Math.max(1, x(r.end) - x0), rh);
  }
  ctx.fillStyle = ink;
  for (const m of phases.marks) ctx.fillRect(x(m.t), 0, 1, h);
}
