/** A phase mark placed on the plot: its key, its label and its x in px. */
export interface PlacedMark {
  key: string;
  label: string;
  x: number;
}

/** One label drawn above the axis: one or more marks that sit too close to be told apart. */
export interface PhaseLabel {
  /** keys of the marks it names, in time order */
  keys: string[];
  text: string;
  /** where the text is anchored, in px (start or end of the text, see `anchor`) */
  x: number;
  anchor: 'start' | 'end';
  /** 0 for the upper line, 1 for the lower */
  line: 0 | 1;
}

/** Marks closer than this (px) are named by one label ("signal · cancel all"). */
export const MERGE_MARKS_PX = 14;
/** Estimated width of one character of a 10 px bold label, in px (labels are short, ASCII). */
export const LABEL_CHAR_PX = 6.2;
/** Space kept between two labels on one line, in px. */
const LABEL_SPACING_PX = 6;
/** Lines available above the axis. */
const LINES = 2;

/**
 * Places the phase labels of the visible marks on at most two lines above the axis so that none
 * overlaps another or runs past the plot's right edge: marks within {@link MERGE_MARKS_PX} share
 * one label; a label that does not fit on either line is folded into the one before it; a label
 * that would cross the right edge is anchored at its end instead. Pure.
 */
export function phaseLabels(marks: readonly PlacedMark[], width: number): PhaseLabel[] {
  const sorted = [...marks].filter((m) => Number.isFinite(m.x)).sort((a, b) => a.x - b.x);
  // 1. marks that nearly coincide share one label
  const clusters: { keys: string[]; labels: string[]; x: number; lastX: number }[] = [];
  for (const m of sorted) {
    const last = clusters[clusters.length - 1];
    if (last && m.x - last.lastX < MERGE_MARKS_PX) {
      last.keys.push(m.key);
      last.labels.push(m.label);
      last.lastX = m.x;
    } else {
      clusters.push({ keys: [m.key], labels: [m.label], x: m.x, lastX: m.x });
    }
  }
  // 2. each label takes the first line where it clears the label before it; else it folds into that one
  const out: (PhaseLabel & { left: number; right: number })[] = [];
  const lineEnd: number[] = new Array(LINES).fill(Number.NEGATIVE_INFINITY);
  for (const c of clusters) {
    const text = c.labels.join(' · ');
    const placed = place(text, c.x, width);
    const line = lineEnd.findIndex((end) => placed.left >= end + LABEL_SPACING_PX);
    if (line >= 0) {
      out.push({ keys: c.keys, text, ...placed, line: line as 0 | 1 });
      lineEnd[line] = placed.right;
      continue;
    }
    const prev = out[out.length - 1];
    const merged = `${prev.text} · ${text}`;
    const again = place(merged, prev.anchor === 'start' ? prev.x : prev.left, width);
    Object.assign(prev, { keys: [...prev.keys, ...c.keys], text: merged, ...again });
    lineEnd[prev.line] = again.right;
  }
  return out.map(({ left: _l, right: _r, ...label }) => label);
}

function place(text: string, x: number, width: number): { x: number; anchor: 'start' | 'end'; left: number; right: number } {
  const w = text.length * LABEL_CHAR_PX;
  const startX = x + 3;
  if (startX + w <= width || w > width) return { x: startX, anchor: 'start', left: startX, right: startX + w };
  const endX = Math.min(width - 2, x - 3);
  return { x: endX, anchor: 'end', left: endX - w, right: endX };
}
