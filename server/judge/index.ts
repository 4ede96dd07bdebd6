/**
 * The judgment engine: pure functions from task and shutdown records to verdicts and findings
 * (docs/conventions.md, "Verdicts" and "Judgment rules"). No I/O: the store feeds it, the API shows it.
 *
 * Judgment rules, in short:
 * - Events are read in time order (ties: name, then the attributes' canonical key), never array order.
 * - Each `task.cancel_requested` opens a cancel; a `task.uncancel` with `uncancel.handoff = true`
 *   closes the earliest one still open before it. The task was cancelled when one stays open;
 *   `cancelRequestedAt` is the earliest that stays open. An uncancel without handoff closes nothing
 *   and is `uncancel_misuse`.
 * - Final state: `task.final_state`, else snapshot → pending, status ERROR → failed, else completed.
 * - Verdict: destroyed → `destroyed`. "Pending at the end" = state pending, or (closed window only)
 *   the record ends after the window's end. Cancelled: pending at the end → `survivor`; cancelled →
 *   `cancelled`; completed → `swallowed`; failed → `cancelled` if the error is itself a cancellation
 *   (CancelledError, CanceledError, AbortError, DOMException abort), else `replaced`. Not cancelled:
 *   pending at the end → `orphan`, else `finished`.
 * - Findings: `cleanup_interrupted` (a cleanup start with no end of its name, except on a pending
 *   snapshot while the shutdown is open or absent; a cleanup end `cancelled`; a shield end
 *   `cancelled`/`interrupted`), `cleanup_timeout` (cleanup or shield end `timeout`), `slow_cancel`
 *   (ended cancelled/swallowed/replaced more than `slowCancelNs` after `cancelRequestedAt`),
 *   `uncancel_misuse`, and in a shutdown `group_blocked` on the parent of a swallowed/survivor
 *   grouped child.
 */

export { type CancelAccount, cancelAccount } from './cancelAccount.js';
export { type DedupeView, dedupeRecords } from './dedupeRecords.js';
export { finalStateOf } from './finalStateOf.js';
export { isCancellation } from './isCancellation.js';
export { judgeShutdown } from './judgeShutdown.js';
export { judgeTask, type TaskWindow } from './judgeTask.js';
export { judgeTaskAlone } from './judgeTaskAlone.js';
export { DEFAULT_JUDGE_OPTIONS, DEFAULT_SLOW_CANCEL_NS, type JudgeOptions, resolveJudgeOptions } from './options.js';
export { sortEvents } from './sortEvents.js';
export { judgeAtIngest, judgedFromStored, judgeOptionsKey, type StoredJudgment } from './storedJudgment.js';
export { innermostFrame, parseSiteAttr, type SwallowSite, swallowSiteOf } from './swallowSiteOf.js';
