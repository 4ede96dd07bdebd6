import type { FinalState, TaskRecord } from '../../contract/records.js';

/** OTLP status code ERROR. */
export const STATUS_ERROR = 2;

/**
 * The final state the judge uses: `task.final_state` as sent; for a span that did not say, a snapshot
 * is `pending`, an error status is `failed`, anything else `completed`.
 */
export function finalStateOf(task: TaskRecord): FinalState {
  if (task.finalState !== undefined) return task.finalState;
  if (task.snapshot) return 'pending';
  return task.span.status.code === STATUS_ERROR ? 'failed' : 'completed';
}
