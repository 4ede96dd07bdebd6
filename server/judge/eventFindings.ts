import type { EventRecord, Finding, TaskFindingKind } from '../../collector/records.js';
import { ATTR, EVENT, num, str } from '../../collector/contract.js';
import type { CancelAccount } from './cancelAccount.js';


/**
 * The findings a task's own events show: interrupted and timed-out cleanups and shields, and uncancel
 * misuse. `sortedEvents` must be in time order. `openStartsCount` says whether a cleanup start with no
 * end counts as interrupted: not on a pending snapshot while its shutdown may still finish the cleanup.
 */
export function eventFindings(
  sortedEvents: readonly EventRecord[],
  account: CancelAccount,
  openStartsCount: boolean,
): Finding<TaskFindingKind>[] {
  const findings: Finding<TaskFindingKind>[] = [];
  // Open cleanup starts per cleanup name; an end closes the most recent start of its name.
  const open = new Map<string, EventRecord[]>();
  for (const e of sortedEvents) {
    if (e.name === EVENT.cleanupStart) {
      const name = str(e.attributes, ATTR.cleanupName) ?? '';
      const list = open.get(name);
      if (list) list.push(e);
      else open.set(name, [e]);
    } else if (e.name === EVENT.cleanupEnd) {
      const name = str(e.attributes, ATTR.cleanupName) ?? '';
      open.get(name)?.pop();
      const outcome = str(e.attributes, ATTR.cleanupOutcome);
      if (outcome === 'cancelled') findings.push(cleanupCancelled(name, 'cleanup'));
      else if (outcome === 'timeout') findings.push(cleanupTimedOut(name, 'cleanup'));
    } else if (e.name === EVENT.shieldEnd) {
      const name = str(e.attributes, ATTR.cleanupName) ?? '';
      const outcome = str(e.attributes, ATTR.shieldOutcome);
      if (outcome === 'timeout') {
        const f = cleanupTimedOut(name, 'shield');
        const bound = num(e.attributes, ATTR.shieldTimeoutMs);
        if (bound !== undefined) f.detail = { ...f.detail, timeoutMs: bound };
        findings.push(f);
      } else if (outcome === 'cancelled' || outcome === 'interrupted') findings.push(cleanupCancelled(name, 'shield'));
    }
  }
  if (openStartsCount) {
    const unmatched: EventRecord[] = [];
    for (const list of open.values()) unmatched.push(...list);
    // Report in time order, independent of the map's insertion order.
    unmatched.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    for (const e of unmatched) {
      const name = str(e.attributes, ATTR.cleanupName) ?? '';
      findings.push({
        kind: 'cleanup_interrupted',
        message:
          `Cleanup ${label(name)} started but never finished, so the task was cut off or abandoned in the middle of it; ` +
          'keep it in try/finally and run the must-run part under a shield with a bounded timeout.',
        detail: { cleanup: name, startedAt: e.time.toString() },
      });
    }
  }
  if (account.misuse.length > 0) {
    const n = account.misuse.length;
    findings.push({
      kind: 'uncancel_misuse',
      message:
        `uncancel() was called ${n === 1 ? 'once' : `${n} times`} outside an asyncio timeout or TaskGroup handoff, which erased a real cancellation; ` +
        'remove the uncancel() call and re-raise CancelledError instead.',
      detail: { count: n },
    });
  }
  return findings;
}

function label(name: string): string {
  return name === '' ? '(unnamed)' : `"${name}"`;
}

function cleanupCancelled(name: string, step: 'cleanup' | 'shield'): Finding<TaskFindingKind> {
  return {
    kind: 'cleanup_interrupted',
    message:
      `${step === 'shield' ? 'Shielded step' : 'Cleanup'} ${label(name)} was cancelled again before it finished; ` +
      'run the must-run work under a shield (asyncio.shield / a step that ignores the abort) bounded by a timeout so a second cancel cannot cut it short.',
    detail: { cleanup: name, step, outcome: 'cancelled' },
  };
}

function cleanupTimedOut(name: string, step: 'cleanup' | 'shield'): Finding<TaskFindingKind> {
  return {
    kind: 'cleanup_timeout',
    message:
      `${step === 'shield' ? 'Shielded step' : 'Cleanup'} ${label(name)} hit its time bound and did not finish its work; ` +
      'find out why it hangs (a dead peer, a lock), and keep the bound so the drain still ends.',
    detail: { cleanup: name, step, outcome: 'timeout' },
  };
}
