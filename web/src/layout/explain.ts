/** A one-sentence explanation. */
export interface Explanation {
  what: string;
}

/** A verdict's explanation and the fix that applies. */
export interface VerdictExplanation extends Explanation {
  fix: string;
}

const VERDICTS: Record<string, VerdictExplanation> = {
  swallowed: {
    what: 'Its cancellation was requested, but it finished as if it had completed its work: something caught the cancel and did not let it propagate.',
    fix: 'Re-raise the cancellation after cleanup (`raise` in `except CancelledError`, rethrow `signal.reason`), or move the cleanup into try/finally.',
  },
  survivor: {
    what: 'Its cancellation was requested, but it was still running when the shutdown ended, holding its resources and blocking the drain.',
    fix: 'Stop catching the cancellation in its loop and re-raise it; bound any must-run step with shield + a timeout.',
  },
  replaced: {
    what: 'Its cleanup raised another error after the cancel, so the cancellation was lost and replaced by that error.',
    fix: 'Guard the cleanup (try/finally with its own error handling) so the cancellation is re-raised, not replaced.',
  },
  destroyed: {
    what: 'The event loop closed while it was still pending and dropped it ("Task was destroyed but it is pending").',
    fix: 'Keep a reference to every task and cancel and await it before the loop closes (a TaskGroup does this).',
  },
  orphan: {
    what: 'Nobody requested its cancellation and it was still pending at the end of the shutdown.',
    fix: 'Track the task (TaskGroup, or a registry) so the shutdown cancels and awaits it.',
  },
  cancelled: {
    what: 'Its cancellation was requested and it ended cancelled, as it should.',
    fix: 'Nothing to fix.',
  },
  finished: {
    what: 'It was never cancelled and ended before the shutdown ended.',
    fix: 'Nothing to fix.',
  },
};

// no fix text here: the server's finding message already says what to do, and the panel shows it
const FINDINGS: Record<string, Explanation> = {
  cleanup_interrupted: {
    what: 'A cleanup step was cancelled again before it finished, so it did not complete.',
  },
  cleanup_timeout: {
    what: 'A cleanup or shielded step ran into its timeout.',
  },
  slow_cancel: {
    what: 'It took longer than the threshold to end after its cancel was requested.',
  },
  uncancel_misuse: {
    what: 'uncancel() brought the cancel count below what the cancel requests added, erasing a real cancellation.',
  },
  group_blocked: {
    what: "A task of the same group swallowed or survived its cancel and held the group's teardown.",
  },
  pending_not_at_baseline: {
    what: 'The pending task count did not fall back to what it was before the shutdown began.',
  },
  resource_not_released: {
    what: 'A resource gauge did not return to its value from before the shutdown.',
  },
};

const UNKNOWN: VerdictExplanation = { what: 'No explanation is known for this kind.', fix: 'See docs/conventions.md.' };

/** The one-sentence explanation and fix for a verdict. */
export function explainVerdict(verdict: string): VerdictExplanation {
  return Object.hasOwn(VERDICTS, verdict) ? VERDICTS[verdict] : UNKNOWN;
}

/** The one-sentence explanation of a finding kind. */
export function explainFinding(kind: string): Explanation {
  return Object.hasOwn(FINDINGS, kind) ? FINDINGS[kind] : UNKNOWN;
}
