/** Cancel-to-end time above which a cancelled task gets a `slow_cancel` finding: 1 s, in ns. */
export const DEFAULT_SLOW_CANCEL_NS = 1_000_000_000n;

/**
 * How far (ns) a task's end may lie past its shutdown's end and still count as ended within it:
 * spans from one process can disagree by about a millisecond (the Node SDK anchors each span's
 * clock on a whole-millisecond Date.now()), so 5 ms.
 */
export const DEFAULT_CLOCK_TOLERANCE_NS = 5_000_000n;

/** Knobs of the judgment engine. */
export interface JudgeOptions {
  /** a task that takes longer than this (ns) from its cancel request to its end gets `slow_cancel` */
  slowCancelNs: bigint;
  /** a task ending at most this long (ns) after a closed shutdown's end still ended within it */
  clockToleranceNs: bigint;
}

/** The options used when a caller gives none. */
export const DEFAULT_JUDGE_OPTIONS: Readonly<JudgeOptions> = Object.freeze({
  slowCancelNs: DEFAULT_SLOW_CANCEL_NS,
  clockToleranceNs: DEFAULT_CLOCK_TOLERANCE_NS,
});

/** Fills the options a caller left out with {@link DEFAULT_JUDGE_OPTIONS}; negative values are read as 0. */
export function resolveJudgeOptions(options: Partial<JudgeOptions> | undefined): JudgeOptions {
  const slow = options?.slowCancelNs ?? DEFAULT_JUDGE_OPTIONS.slowCancelNs;
  const tolerance = options?.clockToleranceNs ?? DEFAULT_JUDGE_OPTIONS.clockToleranceNs;
  return { slowCancelNs: slow < 0n ? 0n : slow, clockToleranceNs: tolerance < 0n ? 0n : tolerance };
}
