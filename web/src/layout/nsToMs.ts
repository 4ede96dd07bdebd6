/**
 * Converts a unix-nanosecond decimal string (as the API writes times) to milliseconds relative to
 * `originNs`. Differences are taken in `bigint` first so that nothing is lost to the 53-bit
 * mantissa: unix ns today are ~1.8e18, far beyond exact doubles. Returns NaN for a malformed time.
 */
export function nsToMs(t: string | undefined, originNs: bigint): number {
  if (t === undefined || !/^-?\d+$/.test(t)) return Number.NaN;
  return Number(BigInt(t) - originNs) / 1e6;
}

/** Parses a unix-ns string to `bigint`, or undefined when malformed. */
export function parseNs(t: string | undefined): bigint | undefined {
  return t !== undefined && /^-?\d+$/.test(t) ? BigInt(t) : undefined;
}
