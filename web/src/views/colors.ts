/** Bar colour per verdict; red family for the bad ones. The label/icon carries the meaning too. */
export const VERDICT_COLOR: Readonly<Record<string, string>> = {
  swallowed: '#d62728',
  survivor: '#9c1c6b',
  replaced: '#ff7f0e',
  destroyed: '#8c564b',
  orphan: '#e377c2',
  cancelled: '#2ca02c',
  finished: '#7f7f7f',
};

/** The bar colour of a verdict (grey-blue for an unknown one). */
export function verdictColor(verdict: string): string {
  return Object.hasOwn(VERDICT_COLOR, verdict) ? VERDICT_COLOR[verdict] : '#4a6fa5';
}

/** Short icon text shown beside highlighted rows so that the verdict does not rest on colour alone. */
export const VERDICT_ICON: Readonly<Record<string, string>> = {
  swallowed: '⚠ swallowed',
  survivor: '∞ survivor',
  replaced: '× replaced',
  destroyed: '× destroyed',
  orphan: '? orphan',
};
