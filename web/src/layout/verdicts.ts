import { BAD_VERDICTS as CONTRACT_BAD, VERDICTS as CONTRACT_VERDICTS } from '../../../contract/records.js';

/** Verdicts shown in red: contract/records.ts `BAD_VERDICTS`. */
export const BAD_VERDICTS: readonly string[] = CONTRACT_BAD;

/** Verdicts highlighted on the timeline with a label as well as a colour. */
export const HIGHLIGHT_VERDICTS: readonly string[] = ['swallowed', 'survivor'];

/** Every known verdict in severity order, most severe first: the order of sorted rows, badges and the legend. */
export const VERDICTS: readonly string[] = CONTRACT_VERDICTS;

const VERDICT_RANK: Readonly<Record<string, number>> = Object.fromEntries(VERDICTS.map((v, i) => [v, i]));

/** The rank of a verdict in {@link VERDICTS} (lower sorts first); unknown verdicts rank after every known one. */
export function verdictRank(verdict: string): number {
  return Object.hasOwn(VERDICT_RANK, verdict) ? VERDICT_RANK[verdict] : 99;
}

/** True for a verdict the dashboard shows as a red badge. */
export function isBad(verdict: string): boolean {
  return BAD_VERDICTS.includes(verdict);
}
