import { ATTR, bool, EVENT, str } from '../../contract/contract.js';
import type { EventRecord, FinalState, Finding, JudgedTask, TaskFindingKind, TaskRecord, Verdict } from '../../contract/records.js';
import { cancelAccount } from './cancelAccount.js';
import { eventFindings } from './eventFindings.js';
import { finalStateOf } from './finalStateOf.js';
import { formatDuration } from './formatDuration.js';
import { isCancellation } from './isCancellation.js';
import { type JudgeOptions, resolveJudgeOptions } from './options.js';
import { sortEvents } from './sortEvents.js';
import { swallowSiteOf } from './swallowSiteOf.js';

/** The part of a shutdown window a single task's judgment needs. */
export interface TaskWindow {
  /** the shutdown's end (unix ns); its last snapshot time while it is open */
  end: bigint;
  /** true while only snapshots of the shutdown have arrived */
  open: boolean;
}

/**
 * Judges one task: its verdict, its findings (all but `group_blocked`, which needs its siblings; see
 * judgeShutdown), when its cancel was requested, and where it swallowed the cancel.
 *
 * Without a window the task is judged alone: a pending task is an orphan (never cancelled) or a
 * survivor (cancelled). With a closed window, a task whose record ends after the window's end was
 * still running when the shutdown ended and counts as pending. With an open window (the shutdown is
 * still draining or its process died) the end is only the shutdown's last snapshot, so a task that has
 * ended is judged by how it ended.
 */
export function judgeTask(task: TaskRecord, window?: TaskWindow, options?: Partial<JudgeOptions>): JudgedTask {
  const opts = resolveJudgeOptions(options);
  const events = sortEvents(task.span.events);
  const account = cancelAccount(events);
  const state = finalStateOf(task);
  const wasCancelled = account.outstanding > 0;
  const verdict = verdictOf(task, state, wasCancelled, events, window, opts.clockToleranceNs);

  // A pending snapshot may still close its cleanup later, unless its shutdown is already over.
  const openStartsCount = !(task.snapshot && state === 'pending') || (window !== undefined && !window.open);
  const findings = eventFindings(events, account, openStartsCount);

  const judged: JudgedTask = { task, verdict, findings };
  if (account.cancelRequestedAt !== undefined) {
    judged.cancelRequestedAt = account.cancelRequestedAt;
    if (verdict === 'cancelled' || verdict === 'swallowed' || verdict === 'replaced') {
      const took = task.endTime - account.cancelRequestedAt;
      if (took > opts.slowCancelNs) findings.push(slowCancel(took, opts.slowCancelNs));
    }
  }
  if (verdict === 'swallowed' || verdict === 'survivor') {
    const site = swallowSiteOf(task, events);
    if (site) judged.swallowSite = site;
  }
  return judged;
}

function verdictOf(
  task: TaskRecord,
  state: FinalState,
  wasCancelled: boolean,
  events: readonly EventRecord[],
  window: TaskWindow | undefined,
  clockToleranceNs: bigint,
): Verdict {
  if (state === 'destroyed') return 'destroyed';
  const driver = bool(task.span.attributes, ATTR.shutdownDriver);
  const pendingAtEnd = state === 'pending' || (window !== undefined && !window.open && task.endTime > window.end + clockToleranceNs);
  // A task that drives the shutdown (asyncio.run's main task, a server's serve(), the task cancelling the
  // others) is running it by design while the others drain: it is judged by its own end, never orphan.
  if (!wasCancelled) return pendingAtEnd && !driver ? 'orphan' : 'finished';
  if (pendingAtEnd) return 'survivor';
  if (state === 'cancelled') return 'cancelled';
  if (state === 'completed') return 'swallowed';
  return failedWithCancellation(task, events) ? 'cancelled' : 'replaced';
}

/** A failure that is itself the cancellation (a rethrown AbortError, a CancelledError reported as error). */
function failedWithCancellation(task: TaskRecord, events: readonly EventRecord[]): boolean {
  const status = task.span.status.message;
  if (status !== undefined && status !== '' && isCancellation(status, status)) return true;
  let last: EventRecord | undefined;
  for (const e of events) if (e.name === EVENT.exception) last = e;
  if (!last) return false;
  return isCancellation(str(last.attributes, ATTR.exceptionType), str(last.attributes, ATTR.exceptionMessage));
}

function slowCancel(took: bigint, threshold: bigint): Finding<TaskFindingKind> {
  return {
    kind: 'slow_cancel',
    message:
      `The task took ${formatDuration(took)} from its cancel request to its end (threshold ${formatDuration(threshold)}); ` +
      'look for blocking calls or unbounded awaits on its cancel path and put them under a bounded timeout.',
    detail: { tookNs: took.toString(), thresholdNs: threshold.toString() },
  };
}
