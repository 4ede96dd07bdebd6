/**
 * canceltrace/node: task-lifecycle instrumentation for Node services.
 * Add a {@link TaskLifecycleProcessor} to the NodeTracerProvider, run cancellable work with
 * {@link runTask} / {@link TaskScope}, and wrap the drain in {@link beginShutdown}.
 */
export {
  TaskLifecycleProcessor,
  currentProcessor,
  tracesUrl,
  DEFAULT_COLLECTOR_URL,
  DEFAULT_MAX_QUEUE_SIZE,
  DEFAULT_MAX_EXPORT_BATCH_SIZE,
  DEFAULT_SCHEDULED_DELAY_MS,
  DEFAULT_EXPORT_TIMEOUT_MS,
  DEFAULT_FLUSH_TIMEOUT_MS,
  DEFAULT_MAX_OPEN_SPANS,
  type TaskLifecycleProcessorOptions,
  type TaskLifecycleProcessorStats,
} from './TaskLifecycleProcessor.js';
export { runTask, classify, isAbortError, NODE_TASK_KIND, type RunTaskOptions } from './runTask.js';
export { currentTask, type RunningTask } from './taskContext.js';
export { cleanup, type CleanupOptions } from './cleanup.js';
export { TaskScope, DEFAULT_CANCEL_TIMEOUT_MS, type TaskScopeOptions, type CancelResult } from './TaskScope.js';
export {
  beginShutdown,
  currentShutdown,
  activeResourceCounts,
  DEFAULT_SAMPLE_INTERVAL_MS,
  DEFAULT_SNAPSHOT_INTERVAL_MS,
  DEFAULT_EVENT_BUDGET,
  type ShutdownHandle,
  type ShutdownOptions,
} from './beginShutdown.js';
export { installShutdownHooks, DEFAULT_SIGNAL_FLUSH_MS, type ShutdownHooksOptions } from './installShutdownHooks.js';
export { nodeResource, processIdentity } from './processIdentity.js';
