import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { viewBounds } from '../../../web/src/layout/viewBounds.js';

const finite = fc.double({ min: -1e9, max: 1e9, noNaN: true, noDefaultInfinity: true });

describe('viewBounds', () => {
  it('when the span is inside the view, then it maps to its fraction of the view', () => {
    const b = viewBounds(25, 75, 0, 100);
    expect(b).toEqual({ start: 0.25, end: 0.75, visible: true, clippedStart: false, clippedEnd: false });
  });

  it('when the span overhangs both edges, then it is clamped to [0, 1] and marked clipped', () => {
    const b = viewBounds(-50, 150, 0, 100);
    expect(b).toMatchObject({ start: 0, end: 1, visible: true, clippedStart: true, clippedEnd: true });
  });

  it('when the span lies wholly outside the view, then it is not visible', () => {
    expect(viewBounds(200, 300, 0, 100).visible).toBe(false);
    expect(viewBounds(-30, -10, 0, 100).visible).toBe(false);
  });

  it('when the view is empty or a value is NaN, then nothing is visible', () => {
    expect(viewBounds(1, 2, 5, 5).visible).toBe(false);
    expect(viewBounds(Number.NaN, 2, 0, 5).visible).toBe(false);
  });

  test.prop([finite, finite, finite, finite])('bounds(start, end, viewStart, viewEnd) stay in [0, 1] with start ≤ end', (a, b, c, d) => {
    const r = viewBounds(a, b, c, d);
    expect(r.start).toBeGreaterThanOrEqual(0);
    expect(r.end).toBeLessThanOrEqual(1);
    expect(r.start).toBeLessThanOrEqual(r.end);
    if (r.visible) {
      // a visible span overlaps the view
      expect(Math.max(a, b)).toBeGreaterThanOrEqual(c);
      expect(Math.min(a, b)).toBeLessThanOrEqual(d);
    }
  });

  test.prop([finite, finite, fc.double({ min: 1e-3, max: 1e6, noNaN: true })])('a span that covers the view maps to [0, 1]', (lo, span, width) => {
    const r = viewBounds(lo - Math.abs(span), lo + width + Math.abs(span), lo, lo + width);
    expect(r).toMatchObject({ start: 0, end: 1, visible: true });
  });
});
