import { ATTR, bool, EVENT, str } from '../../contract/contract.js';
import type { EventRecord } from '../../contract/records.js';

/** What the cancel requests and uncancels of one task add up to. */
export interface CancelAccount {
  /** cancel requests that were not handed back */
  outstanding: number;
  /** time of the earliest cancel request not handed back (unix ns) */
  cancelRequestedAt?: bigint;
  /** `task.uncancel` events that handed back no request of their own scope, in time order */
  misuse: EventRecord[];
}

/** One cancel request while it is open. */
interface OpenRequest {
  time: bigint;
  /** `cancel.scope` of the request: the scope that asked for it and later handed it back */
  scope?: string;
  closed: boolean;
}

/**
 * Adds up a task's cancellations from its events, which must be in time order (see sortEvents).
 * Each `task.cancel_requested` opens one request. A `task.uncancel` that names a `cancel.scope` closes
 * the earliest open request of that same scope: a scope (asyncio.timeout, a TaskGroup, an anyio
 * CancelScope, any library's) that cancelled the task and absorbed its own cancel turned it into its
 * own outcome, so it must not count against the task, whatever library the scope belongs to. An
 * uncancel without a scope but with `uncancel.handoff = true` (senders that know no scopes) closes the
 * earliest open request. Any other uncancel closes nothing: it is the misuse that turns a real cancel
 * (the shutdown's, another task's, a group's abort) into a normal return.
 */
export function cancelAccount(sortedEvents: readonly EventRecord[]): CancelAccount {
  const open: OpenRequest[] = [];
  const misuse: EventRecord[] = [];
  for (const e of sortedEvents) {
    if (e.name === EVENT.cancelRequested) {
      const scope = str(e.attributes, ATTR.cancelScope);
      open.push(scope === undefined ? { time: e.time, closed: false } : { time: e.time, scope, closed: false });
    } else if (e.name === EVENT.uncancel) {
      const scope = str(e.attributes, ATTR.cancelScope);
      const own = scope === undefined ? undefined : open.find((r) => !r.closed && r.scope === scope);
      if (own) own.closed = true;
      else if (!bool(e.attributes, ATTR.uncancelHandoff)) misuse.push(e);
      else {
        const earliest = open.find((r) => !r.closed);
        if (earliest) earliest.closed = true;
      }
    }
  }
  const still = open.filter((r) => !r.closed);
  const account: CancelAccount = { outstanding: still.length, misuse };
  if (still.length > 0) account.cancelRequestedAt = still[0]!.time;
  return account;
}
