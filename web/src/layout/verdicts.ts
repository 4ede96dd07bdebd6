/** Verdicts shown in red: the same list as collector/records.ts `BAD_VERDICTS`. */
export const BAD_VERDICTS: readonly string[] = ['swallowed', 'survivor', 'replaced', 'destroyed', 'orphan'];

/** Verdicts highlighted on the timeline with a label as well as a colour. */
export const HIGHLIGHT_VERDICTS: readonly string[] = ['swallowed', 'survivor'];

/** Severity order used to sort rows: lower comes first. Unknown verdicts go last. */
export const VERDICT_RANK: Readonly<Record<string, number>> = {
  swallowed: 0,
  survivor: 1,
  replaced: 2,
  destroyed: 3,
  orphan: 4,
  cancelled: 5,
  finished: 6,
};

/** The rank of a verdict in {@link VERDICT_RANK}; unknown verdicts rank after every known one. */
export function verdictRank(verdict: string): number {
  return Object.prototype.hasOwnProperty.call(VERDICT_RANK, verdict) ? VERDICT_RANK[verdict] : 99;
}

/** True for a verdict the dashboard shows as a red badge. */
export function isBad(verdict: string): boolean {
  return BAD_VERDICTS.includes(verdict);
}
