import { ATTR, num } from '../../contract/contract.js';
import type { EventRecord, Finding, TaskFindingKind } from '../../contract/records.js';
import { pairSteps } from '../../contract/steps.js';
import type { CancelAccount } from './cancelAccount.js';

/**
 * The findings a task's own events show: interrupted and timed-out cleanups and shields, and uncancel
 * misuse. `sortedEvents` must be in time order. `openStartsCount` says whether a cleanup start with no
 * end counts as interrupted: not on a pending snapshot while its shutdown may still finish the cleanup.
 */
export function eventFindings(sortedEvents: readonly EventRecord[], account: CancelAccount, openStartsCount: boolean): Finding<TaskFindingKind>[] {
  const findings: Finding<TaskFindingKind>[] = [];
  const steps = pairSteps<bigint, EventRecord>(sortedEvents);
  // Ended steps are reported in the order they ended, then the starts that never ended in the order they began.
  const ended = steps.filter((s) => s.endEvent !== undefined).sort((a, b) => byTime(a.endEvent!, b.endEvent!));
  for (const step of ended) {
    const { kind, name, outcome } = step;
    if (outcome === 'timeout') {
      const f = cleanupTimedOut(name, kind);
      const bound = kind === 'shield' ? num(step.endEvent!.attributes, ATTR.shieldTimeoutMs) : undefined;
      if (bound !== undefined) f.detail = { ...f.detail, timeoutMs: bound };
      findings.push(f);
    } else if (outcome === 'cancelled' || (kind === 'shield' && outcome === 'interrupted')) {
      findings.push(cleanupCancelled(name, kind));
    }
  }
  if (openStartsCount) {
    for (const step of steps) {
      if (step.kind !== 'cleanup' || step.endEvent !== undefined || step.startEvent === undefined) continue;
      findings.push({
        kind: 'cleanup_interrupted',
        message:
          `Cleanup ${label(step.name)} started but never finished, so the task was cut off or abandoned in the middle of it; ` +
          'keep it in try/finally and run the must-run part under a shield with a bounded timeout.',
        detail: { cleanup: step.name, startedAt: step.startEvent.time.toString() },
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

function byTime(a: EventRecord, b: EventRecord): number {
  return a.time < b.time ? -1 : a.time > b.time ? 1 : 0;
}
