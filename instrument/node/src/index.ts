/**
 * canceltrace/node: task-lifecycle instrumentation for Node services.
 * Add a {@link SnapshotSpanProcessor} to the NodeTracerProvider, run cancellable work with
 * {@link runTask} / {@link TaskScope}, and wrap the drain in {@link beginShutdown}.
 */

export {
  activeResourceCounts,
  beginShutdown,
  currentShutdown,
  DEFAULT_EVENT_BUDGET,
  DEFAULT_SAMPLE_INTERVAL_MS,
  DEFAULT_SNAPSHOT_INTERVAL_MS,
  type ShutdownHandle,
  type ShutdownOptions,
} from './beginShutdown.js';
export { type CleanupOptions, cleanup } from './cleanup.js';
export { DEFAULT_SIGNAL_FLUSH_MS, installShutdownHooks, type ShutdownHooksOptions } from './installShutdownHooks.js';
export { nodeResource, processIdentity } from './processIdentity.js';
export { classify, isAbortError, NODE_TASK_KIND, type RunTaskOptions, runTask } from './runTask.js';
export {
  currentProcessor,
  DEFAULT_COLLECTOR_URL,
  DEFAULT_EXPORT_TIMEOUT_MS,
  DEFAULT_FLUSH_TIMEOUT_MS,
  DEFAULT_MAX_EXPORT_BATCH_SIZE,
  DEFAULT_MAX_OPEN_SPANS,
  DEFAULT_MAX_QUEUE_SIZE,
  DEFAULT_SCHEDULED_DELAY_MS,
  SnapshotSpanProcessor,
  type SnapshotSpanProcessorOptions,
  type SnapshotSpanProcessorStats,
  tracesUrl,
} from './SnapshotSpanProcessor.js';
export { type CancelResult, DEFAULT_CANCEL_TIMEOUT_MS, TaskScope, type TaskScopeOptions } from './TaskScope.js';
export { currentTask, type RunningTask } from './taskContext.js';
