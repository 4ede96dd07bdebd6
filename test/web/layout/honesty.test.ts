import { describe, expect, it } from 'vitest';
import { completenessOf, honestOutcome, LIVE_WINDOW_MS, outcomeText } from '../../../web/src/layout/honesty.js';

const NOW_MS = 1_780_000_000_000;
const ns = (ms: number) => String(BigInt(ms) * 1_000_000n);

describe('honestOutcome', () => {
  it('when a shutdown reported clean has a swallowed task, then it reads as swallowed', () => {
    const o = honestOutcome({ outcome: 'clean', open: false, end: ns(NOW_MS), counts: { swallowed: 2, cancelled: 5 } }, NOW_MS);
    expect([o.label, o.reported, o.worst]).toEqual(['swallowed', 'clean', 'swallowed']);
  });

  it('when the reported outcome is already bad, then it is kept', () => {
    expect(honestOutcome({ outcome: 'timeout', open: false, end: ns(NOW_MS), counts: { orphan: 1 } }, NOW_MS).label).toBe('timeout');
  });

  it('when an open shutdown last sent within the live window, then it is live; after it, it has no end', () => {
    const live = honestOutcome({ outcome: 'open', open: true, end: ns(NOW_MS - 1_000) }, NOW_MS);
    expect([live.live, outcomeText(live)]).toEqual([true, 'open (live)']);
    const dead = honestOutcome({ outcome: 'open', open: true, end: ns(NOW_MS - LIVE_WINDOW_MS - 1), counts: { survivor: 1 } }, NOW_MS);
    expect([dead.live, outcomeText(dead), dead.lastSentAgoMs]).toEqual([false, 'survivor (no end)', LIVE_WINDOW_MS + 1]);
  });
});

describe('completenessOf', () => {
  it('when spans were dropped and tasks are snapshot-only, then each gap is named with its number', () => {
    const report = { shutdown: { attributes: { 'canceltrace.spans_dropped': 7 }, open: false } } as never;
    const c = completenessOf(report, 3, honestOutcome({ outcome: 'clean', open: false, end: ns(NOW_MS) }, NOW_MS));
    expect([c.spansDropped, c.snapshotOnly, c.noEnd]).toEqual([7, 3, false]);
    expect(c.notices).toHaveLength(2);
    expect(c.notices[0]).toMatch(/^7 spans were dropped/);
  });

  it('when nothing is missing, then there is no notice', () => {
    const report = { shutdown: { attributes: {}, open: false } } as never;
    expect(completenessOf(report, 0, honestOutcome({ outcome: 'clean', open: false, end: ns(NOW_MS) }, NOW_MS)).notices).toEqual([]);
  });
});
