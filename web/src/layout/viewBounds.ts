/** Where a span sits inside the view window, normalised to [0, 1]. */
export interface Bounds {
  /** left edge, 0 = view start, 1 = view end */
  start: number;
  /** right edge, ≥ start */
  end: number;
  /** false when the span lies wholly outside the view (or the input is not a number) */
  visible: boolean;
  /** true when the span goes on past the left edge of the view */
  clippedStart: boolean;
  /** true when the span goes on past the right edge of the view */
  clippedEnd: boolean;
}

const HIDDEN: Bounds = Object.freeze({ start: 0, end: 0, visible: false, clippedStart: false, clippedEnd: false });

function clamp01(x: number): number {
  return x <= 0 ? 0 : Math.min(x, 1);
}

/**
 * Maps a span [start, end] into the view window [viewStart, viewEnd], normalised to [0, 1] and
 * clamped, so a renderer multiplies by its width and never draws outside its box. Pure: the same
 * inputs always give the same bounds. A reversed span is treated as its mirror (start ≤ end).
 */
export function viewBounds(start: number, end: number, viewStart: number, viewEnd: number): Bounds {
  if (![start, end, viewStart, viewEnd].every(Number.isFinite) || !(viewEnd > viewStart)) return HIDDEN;
  const lo = Math.min(start, end);
  const hi = Math.max(start, end);
  if (hi < viewStart || lo > viewEnd) return HIDDEN;
  const span = viewEnd - viewStart;
  return {
    start: clamp01((lo - viewStart) / span),
    end: clamp01((hi - viewStart) / span),
    visible: true,
    clippedStart: lo < viewStart,
    clippedEnd: hi > viewEnd,
  };
}
