import type { ScaleLinear } from 'd3-scale';
import type { TimelineRow } from '../../layout/groupRows.js';
import type { Phases } from '../../layout/phases.js';
import type { TimelineTask } from '../../layout/timelineTask.js';
import { HIGHLIGHT_VERDICTS } from '../../layout/verdicts.js';
import { viewBounds } from '../../layout/viewBounds.js';
import { verdictColor } from '../colors.js';
import type { CanvasPalette } from './palette.js';

/** Height of one timeline row in CSS px. */
export const ROW_HEIGHT_PX = 20;

/** What one frame of the rows canvas shows. */
export interface RowsFrame {
  rows: readonly TimelineRow[];
  /** first and last (exclusive) row index in view */
  first: number;
  last: number;
  /** scroll offset of the rows, in px */
  top: number;
  width: number;
  height: number;
  x: ScaleLinear<number, number>;
  phases: Phases;
  selected?: string;
  /** ids of the rows that hold a task matching the search: they get a marker */
  matchedRows?: ReadonlySet<string>;
  palette: CanvasPalette;
}

/**
 * Draws the visible rows of the timeline on a canvas: phase lanes, then per row its background,
 * its bar (a stacked bar for a group), a dashed tail for a task that never ended, cancel ticks,
 * cleanup/shield sub-bars, the search marker and the selection outline. Only rows in view are drawn.
 */
export function drawRows(ctx: CanvasRenderingContext2D, f: RowsFrame): void {
  const { width: w, height: h, x, palette } = f;
  ctx.clearRect(0, 0, w, h);
  const [d0, d1] = x.domain();
  const px = (b: number) => b * w;
  for (const lane of f.phases.lanes) {
    const b = viewBounds(lane.start, lane.end, d0, d1);
    if (!b.visible) continue;
    ctx.fillStyle = lane.kind === 'overdue' ? 'rgba(214,39,40,0.07)' : lane.kind === 'drain' ? 'rgba(31,119,180,0.06)' : 'rgba(127,127,127,0.06)';
    ctx.fillRect(px(b.start), 0, Math.max(1, px(b.end) - px(b.start)), h);
  }
  for (let i = f.first; i < f.last; i++) {
    const row = f.rows[i];
    const y = i * ROW_HEIGHT_PX - f.top;
    if (HIGHLIGHT_VERDICTS.includes(row.verdict)) {
      ctx.fillStyle = palette.alarm;
      ctx.fillRect(0, y, w, ROW_HEIGHT_PX);
    } else if (i % 2 === 1) {
      ctx.fillStyle = palette.stripe;
      ctx.fillRect(0, y, w, ROW_HEIGHT_PX);
    }
    drawBar(ctx, row, y, f);
    drawCancels(ctx, row, y, f);
    if (f.matchedRows?.has(row.id)) {
      ctx.fillStyle = palette.match;
      ctx.fillRect(0, y + 1, 4, ROW_HEIGHT_PX - 2);
    }
    if (row.kind !== 'group' && row.tasks[0].id === f.selected) {
      ctx.strokeStyle = palette.selected;
      ctx.lineWidth = 2;
      ctx.strokeRect(1, y + 1, w - 2, ROW_HEIGHT_PX - 2);
    }
  }
}

function drawBar(ctx: CanvasRenderingContext2D, row: TimelineRow, y: number, f: RowsFrame): void {
  const { width: w, x } = f;
  const [d0, d1] = x.domain();
  const b = viewBounds(row.start, row.end, d0, d1);
  const color = verdictColor(row.verdict);
  const barY = y + 4;
  const barH = ROW_HEIGHT_PX - 8;
  if (b.visible) {
    const x0 = b.start * w;
    const x1 = Math.max(x0 + 1.5, b.end * w);
    ctx.fillStyle = color;
    if (row.kind === 'group') {
      // a stacked look tells a group row from a single task
      ctx.globalAlpha = 0.45;
      ctx.fillRect(x0 + 2, barY - 2, x1 - x0, barH);
      ctx.globalAlpha = 1;
    }
    ctx.fillRect(x0, barY, x1 - x0, barH);
    if (b.clippedStart || row.tasks[0].clippedStart) {
      ctx.fillStyle = f.palette.notch;
      ctx.beginPath();
      ctx.moveTo(x0, barY);
      ctx.lineTo(x0 + 4, barY + barH / 2);
      ctx.lineTo(x0, barY + barH);
      ctx.fill();
    }
    if (row.kind !== 'group') drawSteps(ctx, row.tasks[0], d0, d1, w, barY, barH);
  }
  if (!row.open) return;
  // never finished: a dashed tail to the right edge and an arrow head
  const xe = x(row.end);
  if (xe >= w) return;
  ctx.strokeStyle = color;
  ctx.setLineDash([4, 3]);
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(Math.max(0, xe), barY + barH / 2);
  ctx.lineTo(w, barY + barH / 2);
  ctx.stroke();
  ctx.setLineDash([]);
  if (xe >= 0) {
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.moveTo(xe, barY - 2);
    ctx.lineTo(xe + 7, barY + barH / 2);
    ctx.lineTo(xe, barY + barH + 2);
    ctx.fill();
  }
}

function drawCancels(ctx: CanvasRenderingContext2D, row: TimelineRow, y: number, f: RowsFrame): void {
  const { width: w, x } = f;
  const [d0, d1] = x.domain();
  ctx.fillStyle = f.palette.ink;
  if (row.kind === 'group') {
    if (!Number.isFinite(row.cancelMin)) return;
    const c = viewBounds(row.cancelMin, row.cancelMax, d0, d1);
    if (!c.visible) return;
    ctx.globalAlpha = 0.35;
    ctx.fillRect(c.start * w, y + 1, Math.max(2, (c.end - c.start) * w), 3);
    ctx.globalAlpha = 1;
    if (!c.clippedStart) ctx.fillRect(c.start * w - 1, y + 1, 2, ROW_HEIGHT_PX - 2);
    return;
  }
  for (const t of row.tasks[0].cancels) {
    const xc = x(t);
    if (xc >= 0 && xc <= w) ctx.fillRect(xc - 1, y + 1, 2, ROW_HEIGHT_PX - 2);
  }
}

function drawSteps(ctx: CanvasRenderingContext2D, task: TimelineTask, d0: number, d1: number, w: number, barY: number, barH: number): void {
  for (const s of task.steps) {
    const b = viewBounds(s.start, s.end, d0, d1);
    if (!b.visible) continue;
    const x0 = b.start * w;
    const x1 = Math.max(x0 + 2, b.end * w);
    const sy = barY + barH / 2;
    const sh = barH / 2;
    ctx.fillStyle = s.kind === 'shield' ? '#5b3fa8' : '#1f4e79';
    ctx.fillRect(x0, sy, x1 - x0, sh);
    if (s.outcome !== 'ok') {
      // interrupted / timeout / error: a bright outline and a cross at the step's end
      ctx.strokeStyle = s.outcome === 'timeout' ? '#ffbf00' : '#ff2a2a';
      ctx.lineWidth = 1.5;
      ctx.strokeRect(x0, sy, x1 - x0, sh);
      ctx.beginPath();
      ctx.moveTo(x1 - 3, sy - 3);
      ctx.lineTo(x1 + 3, sy + sh + 1);
      ctx.moveTo(x1 + 3, sy - 3);
      ctx.lineTo(x1 - 3, sy + sh + 1);
      ctx.stroke();
    }
  }
}
