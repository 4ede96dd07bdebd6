import { ATTR, bool, EVENT } from '../../contract/contract.js';
import type { EventRecord } from '../../contract/records.js';

/** What the cancel requests and uncancels of one task add up to. */
export interface CancelAccount {
  /** cancel requests that were not handed back */
  outstanding: number;
  /** time of the earliest cancel request not handed back (unix ns) */
  cancelRequestedAt?: bigint;
  /** `task.uncancel` events without `uncancel.handoff = true`, in time order */
  misuse: EventRecord[];
}

/**
 * Adds up a task's cancellations from its events, which must be in time order (see sortEvents).
 * Each `task.cancel_requested` opens one request; a handoff `task.uncancel` closes the earliest
 * request still open before it (asyncio.timeout and TaskGroup consume the cancel they caused and turn
 * it into their own outcome, so it must not count against the task). An uncancel that is not a
 * handoff closes nothing: it is the misuse that turns a real cancel into a normal return.
 */
export function cancelAccount(sortedEvents: readonly EventRecord[]): CancelAccount {
  // A FIFO of open request times: events come in time order, so the head is always the earliest.
  const open: bigint[] = [];
  let head = 0;
  const misuse: EventRecord[] = [];
  for (const e of sortedEvents) {
    if (e.name === EVENT.cancelRequested) {
      open.push(e.time);
    } else if (e.name === EVENT.uncancel) {
      if (!bool(e.attributes, ATTR.uncancelHandoff)) misuse.push(e);
      else if (head < open.length) head++;
    }
  }
  const account: CancelAccount = { outstanding: open.length - head, misuse };
  if (head < open.length) account.cancelRequestedAt = open[head];
  return account;
}
