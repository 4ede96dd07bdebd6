/** Beyond this distance from the origin (ns) a time is kept as a bigint beside the column. */
const EXACT_NS = Number.MAX_SAFE_INTEGER;
/** Whole seconds from the origin within which seconds × 1e9 + the rest stays exact in a double. */
const EXACT_SEC = 9_000_000;
/** Rows a column starts with; it doubles as it fills. */
const INITIAL_ROWS = 1_024;
const NS_PER_SEC = 1_000_000_000;
const NS_PER_SEC_BIG = 1_000_000_000n;

/** A time (unix ns) as whole seconds and the nanoseconds left, both exact numbers (the sign of each is the time's). */
export function splitNs(t: bigint): [sec: number, rem: number] {
  return [Number(t / NS_PER_SEC_BIG), Number(t % NS_PER_SEC_BIG)];
}

/** The time {@link splitNs} split. */
export function joinNs(sec: number, rem: number): bigint {
  return BigInt(sec) * NS_PER_SEC_BIG + BigInt(rem);
}

/** The distance of a time from an origin, in ns, or undefined when it is not exact as a number. */
export type Offset = number | undefined;

/**
 * A growable column of times (unix ns, or none), kept as float64 nanoseconds after an origin: exact
 * while a time is within 2^53 ns (104 days) of it, which every time of a shutdown's tasks is in
 * practice; a time further away is kept exactly in a side map. A million times cost 8 MB and no
 * object each, and are read back as text or milliseconds without a bigint.
 */
export class TimeColumn {
  private data = new Float64Array(INITIAL_ROWS);
  private readonly far = new Map<number, bigint>();
  /** the origin as whole seconds and the ns left (non-negative origins only take the fast paths) */
  private readonly originSec: number;
  private readonly originRem: number;
  length = 0;

  constructor(readonly origin: bigint) {
    [this.originSec, this.originRem] = splitNs(origin);
  }

  /** The offset of a time given as whole seconds and the ns left (splitNs), when exact. */
  offsetOf(sec: number, rem: number): Offset {
    const secs = sec - this.originSec;
    if (Math.abs(secs) >= EXACT_SEC || !Number.isSafeInteger(sec)) return undefined;
    return secs * NS_PER_SEC + (rem - this.originRem);
  }

  /**
   * Appends `base + delta` ns, where `base` is at offset `baseOffset` (undefined: not exact) and is
   * `baseSec` seconds and `baseRem` ns (splitNs), `delta` a number of ns or its decimal text; or none
   * when `delta` is null.
   */
  pushAfter(baseOffset: Offset, baseSec: number, baseRem: number, delta: number | string | null): void {
    if (delta === null) {
      this.pushRaw(Number.NaN);
      return;
    }
    if (baseOffset !== undefined && typeof delta === 'number') {
      const d = baseOffset + delta;
      if (Number.isSafeInteger(delta) && Math.abs(d) <= EXACT_NS) {
        this.pushRaw(d);
        return;
      }
    }
    this.push(joinNs(baseSec, baseRem) + BigInt(delta));
  }

  /** Appends a time at an exact offset. */
  pushOffset(d: number): void {
    this.pushRaw(d);
  }

  /** Appends a time, or none. */
  push(t: bigint | null | undefined): void {
    if (t === null || t === undefined) {
      this.pushRaw(Number.NaN);
      return;
    }
    const d = Number(t - this.origin);
    if (Math.abs(d) <= EXACT_NS) {
      this.pushRaw(d);
      return;
    }
    this.far.set(this.length, t);
    this.pushRaw(Number.POSITIVE_INFINITY);
  }

  private pushRaw(d: number): void {
    if (this.length === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = d;
  }

  /** The time at row `i`, or undefined when none. */
  at(i: number): bigint | undefined {
    const d = this.data[i];
    if (Number.isNaN(d)) return undefined;
    if (d === Number.POSITIVE_INFINITY) return this.far.get(i);
    return this.origin + BigInt(d);
  }

  /** Its decimal text (unix ns), or null when none. */
  text(i: number): string | null {
    const d = this.data[i];
    if (Number.isNaN(d)) return null;
    const rest = this.originRem + d;
    if (d !== Number.POSITIVE_INFINITY && this.originSec >= 0 && Math.abs(rest) <= EXACT_NS) {
      // origin + d as seconds and the rest, in doubles (all exact): no bigint for the common case
      const rem = ((rest % NS_PER_SEC) + NS_PER_SEC) % NS_PER_SEC;
      const sec = this.originSec + (rest - rem) / NS_PER_SEC;
      if (sec > 0) return `${sec}${String(rem).padStart(9, '0')}`;
    }
    return (this.at(i) as bigint).toString();
  }

  /** Milliseconds from the origin, rounded to the microsecond, or null when none. */
  ms(i: number): number | null {
    const d = this.data[i];
    if (Number.isNaN(d)) return null;
    if (d === Number.POSITIVE_INFINITY) return Math.round(Number((this.far.get(i) as bigint) - this.origin) / 1_000) / 1_000;
    return Math.round(d / 1_000) / 1_000;
  }

  /** The offset of row `i` (NaN: none; Infinity: far, see {@link compare}). */
  offset(i: number): number {
    return this.data[i];
  }

  /** Orders rows `a` and `b` by time (none last). */
  compare(a: number, b: number): number {
    const x = this.data[a];
    const y = this.data[b];
    if (Number.isFinite(x) && Number.isFinite(y)) return x < y ? -1 : x > y ? 1 : 0;
    const s = this.at(a);
    const t = this.at(b);
    if (s === t) return 0;
    if (s === undefined) return 1;
    if (t === undefined) return -1;
    return s < t ? -1 : s > t ? 1 : 0;
  }
}
