import { context, createContextKey, type Span } from '@opentelemetry/api';

/** A running task as its children and cleanups see it. */
export interface RunningTask {
  /** `task.id` */
  readonly id: string;
  readonly span: Span;
  readonly signal: AbortSignal;
}

/** Context key under which a task's function runs, so children and cleanups find their task. */
export const TASK_KEY = createContextKey('canceltrace.task');

/** The task whose function is running now (through awaits, thanks to the context manager). */
export function currentTask(): RunningTask | undefined {
  return context.active().getValue(TASK_KEY) as RunningTask | undefined;
}

// Only the number is ever read, so a counter (runTask settles each task exactly once) is enough.
let live = 0;

/** Counts a task as running (used for `tasks.pending` when no processor counts open spans). */
export function addLiveTask(): void {
  live++;
}

/** Counts a task as settled. */
export function removeLiveTask(): void {
  live--;
}

/** Number of tasks started by runTask that have not settled. */
export function liveTaskCount(): number {
  return live;
}
