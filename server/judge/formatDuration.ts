/** A duration in ns as a short human string for finding messages: `850 ms`, `2.5 s`. */
export function formatDuration(ns: bigint): string {
  const ms = Number(ns) / 1e6;
  if (ms < 1000) return `${Math.round(ms * 10) / 10} ms`;
  return `${Math.round(ms / 100) / 10} s`;
}
