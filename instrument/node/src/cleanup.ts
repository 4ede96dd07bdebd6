import type { Attributes } from '@opentelemetry/api';
import { ATTR, EVENT } from '../../../contract/contract.js';
import { reportError } from './reportError.js';
import { isAbortError } from './runTask.js';
import { currentTask, type RunningTask } from './taskContext.js';

/** Options of {@link cleanup}. */
export interface CleanupOptions {
  /** give up on the step after this long (ms): the event says `timeout` and the promise resolves to undefined */
  timeoutMs?: number;
}

/** Outcomes of a cleanup step, as `cleanup.outcome` carries them. */
type CleanupOutcome = 'ok' | 'cancelled' | 'timeout' | 'error';

const TIMED_OUT = Symbol('timed out');

/**
 * Runs a cleanup step of the current task and records it (`task.cleanup.start`, then
 * `task.cleanup.end` with `ok`, `error`, `cancelled` when it was aborted, or `timeout`).
 * Its result and errors are the step's own; outside a task it only runs the step.
 */
export function cleanup<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
/** With a bound: a step that outlives `timeoutMs` is recorded as `timeout` and resolves to undefined. */
export function cleanup<T>(name: string, fn: () => Promise<T> | T, options: CleanupOptions): Promise<T | undefined>;
export async function cleanup<T>(name: string, fn: () => Promise<T> | T, options: CleanupOptions = {}): Promise<T | undefined> {
  const task = currentTask();
  if (!task) return fn();
  mark(task, EVENT.cleanupStart, name);
  let timer: NodeJS.Timeout | undefined;
  try {
    const step = Promise.resolve().then(fn);
    let value: T | typeof TIMED_OUT;
    if (options.timeoutMs !== undefined) {
      const bound = new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMED_OUT), options.timeoutMs);
      });
      step.catch(() => undefined); // a step that fails after its bound must not become unhandled
      value = await Promise.race([step, bound]);
    } else {
      value = await step;
    }
    if (value === TIMED_OUT) {
      mark(task, EVENT.cleanupEnd, name, 'timeout');
      return undefined;
    }
    mark(task, EVENT.cleanupEnd, name, 'ok');
    return value;
  } catch (error) {
    mark(task, EVENT.cleanupEnd, name, isAbortError(error) || (task.signal.aborted && error === task.signal.reason) ? 'cancelled' : 'error');
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function mark(task: RunningTask, event: string, name: string, outcome?: CleanupOutcome): void {
  try {
    const attributes: Attributes = { [ATTR.cleanupName]: name };
    if (outcome) attributes[ATTR.cleanupOutcome] = outcome;
    task.span.addEvent(event, attributes);
  } catch (error) {
    reportError('cleanup could not record its step', error);
  }
}
