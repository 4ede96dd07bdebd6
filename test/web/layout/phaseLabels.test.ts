import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LABEL_CHAR_PX, phaseLabels } from '../../../web/src/layout/phaseLabels.js';

function span(l: { text: string; x: number; anchor: 'start' | 'end' }): [number, number] {
  const w = l.text.length * LABEL_CHAR_PX;
  return l.anchor === 'start' ? [l.x, l.x + w] : [l.x - w, l.x];
}

describe('phaseLabels', () => {
  it('when marks are far apart, then each gets its own label on the upper line', () => {
    const out = phaseLabels(
      [
        { key: 'signal', label: 'signal', x: 10 },
        { key: 'drained', label: 'drained', x: 400 },
      ],
      1000,
    );
    expect(out).toEqual([
      { keys: ['signal'], text: 'signal', x: 13, anchor: 'start', line: 0 },
      { keys: ['drained'], text: 'drained', x: 403, anchor: 'start', line: 0 },
    ]);
  });

  it('when marks nearly coincide (a 1 ms shutdown), then they share one label', () => {
    const out = phaseLabels(
      [
        { key: 'signal', label: 'signal (SIGTERM)', x: 500 },
        { key: 'cancel_all', label: 'cancel all', x: 502 },
        { key: 'drained', label: 'drained', x: 505 },
      ],
      1000,
    );
    expect(out).toHaveLength(1);
    expect(out[0].keys).toEqual(['signal', 'cancel_all', 'drained']);
    expect(out[0].text).toBe('signal (SIGTERM) · cancel all · drained');
  });

  it('when a label would run past the right edge, then it is anchored at its end inside the plot', () => {
    const [label] = phaseLabels([{ key: 'end', label: 'drained · end', x: 995 }], 1000);
    expect(label.anchor).toBe('end');
    expect(label.x).toBeLessThanOrEqual(998);
    expect(span(label)[0]).toBeGreaterThanOrEqual(0);
  });

  it('when two labels would overlap on one line, then the second goes to the lower line', () => {
    const out = phaseLabels(
      [
        { key: 'a', label: 'signal (SIGTERM)', x: 100 },
        { key: 'b', label: 'cancel all', x: 140 },
      ],
      1000,
    );
    expect(out.map((l) => l.line)).toEqual([0, 1]);
  });

  test.prop([
    fc.array(
      fc.record({
        key: fc.uuid(),
        label: fc.constantFrom('signal (SIGTERM)', 'cancel all', 'drain deadline', 'drained', 'end'),
        x: fc.double({ min: 0, max: 1000, noNaN: true }),
      }),
      { maxLength: 8 },
    ),
  ])('labels on one line never overlap, and every mark is named exactly once', (marks) => {
    const out = phaseLabels(marks, 1000);
    expect(out.flatMap((l) => l.keys).sort()).toEqual(marks.map((m) => m.key).sort());
    for (const line of [0, 1]) {
      const spans = out
        .filter((l) => l.line === line)
        .map(span)
        .sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
    }
  });
});
