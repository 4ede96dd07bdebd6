/** Cancel-to-end time above which a cancelled task gets a `slow_cancel` finding: 1 s, in ns. */
export const DEFAULT_SLOW_CANCEL_NS = 1_000_000_000n;

/** Knobs of the judgment engine. */
export interface JudgeOptions {
  /** a task that takes longer than this (ns) from its cancel request to its end gets `slow_cancel` */
  slowCancelNs: bigint;
}

/** The options used when a caller gives none. */
export const DEFAULT_JUDGE_OPTIONS: Readonly<JudgeOptions> = Object.freeze({ slowCancelNs: DEFAULT_SLOW_CANCEL_NS });

/** Fills the options a caller left out with {@link DEFAULT_JUDGE_OPTIONS}; a negative threshold is read as 0. */
export function resolveJudgeOptions(options: Partial<JudgeOptions> | undefined): JudgeOptions {
  const slow = options?.slowCancelNs ?? DEFAULT_JUDGE_OPTIONS.slowCancelNs;
  return { slowCancelNs: slow < 0n ? 0n : slow };
}
