import { setMaxListeners } from 'node:events';
import { type Attributes, context, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { ATTR, CANCELTRACE_SCOPE, EVENT } from '../../../contract/contract.js';
import type { FinalState } from '../../../contract/records.js';
import type { StackBoundary } from './callSite.js';
import { firstForeignSite, SiteCache, siteAttributes } from './callSite.js';
import { describeError, reportError } from './reportError.js';
import { addLiveTask, type RunningTask, removeLiveTask, TASK_KEY } from './taskContext.js';

/** `task.kind` of tasks run by this module. */
export const NODE_TASK_KIND = 'node';

/** Options of {@link runTask}. */
export interface RunTaskOptions {
  /** a parent signal: when it aborts, the task's own signal aborts with the same reason */
  signal?: AbortSignal;
  /** the tracer that makes the task span (default: the global tracer named `canceltrace`) */
  tracer?: Tracer;
  /** extra span attributes */
  attributes?: Attributes;
}

/** What TaskScope adds to a task; not part of the public options. */
export interface TaskPlacement {
  groupId?: string;
  /** the function whose caller is the task's creation site */
  boundary: StackBoundary;
}

let nextTaskId = 0;
const runTaskSites = new SiteCache();
const otherSites = new SiteCache();
/** The signal of tasks that have no parent signal: nothing can abort it. */
const NEVER_ABORTED = new AbortController().signal;
// Many tasks may wait on it at once (timers with `{ signal }` add listeners); none is a leak.
setMaxListeners(0, NEVER_ABORTED);
let defaultTracer: Tracer | undefined;

/**
 * Runs `fn` as a task: a span (scope `canceltrace`, `task.kind = node`) that records when the
 * task's signal aborted, its cleanups, and how it ended: rejected with the signal's reason or an
 * AbortError is `cancelled`; resolved after the abort is `completed` (a swallowed cancel);
 * rejected with another error is `failed`. A task that never settles stays open, and the
 * {@link SnapshotSpanProcessor} exports it as `pending` at each snapshot.
 * The returned promise settles exactly as `fn`'s does.
 */
export function runTask<T>(name: string, fn: (signal: AbortSignal) => Promise<T> | T, options: RunTaskOptions = {}): Promise<T> {
  return startTask(name, fn, options, { boundary: runTask });
}

/** {@link runTask} with a group and a creation-site boundary (used by TaskScope). */
export function startTask<T>(name: string, fn: (signal: AbortSignal) => Promise<T> | T, options: RunTaskOptions, placement: TaskPlacement): Promise<T> {
  const parentSignal = options.signal;
  // Without a parent nothing can abort the task, so it shares one signal that never aborts.
  const controller = parentSignal ? new AbortController() : undefined;
  const signal = controller ? controller.signal : NEVER_ABORTED;
  let task: RunningTask | undefined;
  let unfollow: (() => void) | undefined;
  try {
    const parentContext = context.active();
    const parent = parentContext.getValue(TASK_KEY) as RunningTask | undefined;
    const id = String(++nextTaskId);
    const coroutine = fn.name || 'anonymous';
    const attributes: Attributes = {
      [ATTR.taskKind]: NODE_TASK_KIND,
      [ATTR.taskId]: id,
      [ATTR.taskName]: name,
      [ATTR.coroutine]: coroutine,
    };
    if (parent) attributes[ATTR.parentId] = parent.id;
    if (placement.groupId !== undefined) attributes[ATTR.groupId] = placement.groupId;
    const sites = placement.boundary === runTask ? runTaskSites : otherSites;
    siteAttributes(sites.callerOf(name, coroutine, placement.boundary), attributes);
    if (options.attributes) Object.assign(attributes, options.attributes);
    defaultTracer ??= trace.getTracer(CANCELTRACE_SCOPE);
    const tracer = options.tracer ?? defaultTracer;
    const span = tracer.startSpan(name, { attributes }, parentContext);
    const running: RunningTask = { id, span, signal };
    task = running;
    addLiveTask();
    if (parentSignal && controller) {
      if (parentSignal.aborted) {
        recordCancel(running, parentSignal.reason);
        controller.abort(parentSignal.reason);
      } else {
        unfollow = follow(parentSignal, () => {
          recordCancel(running, parentSignal.reason);
          controller.abort(parentSignal.reason);
        });
      }
    }
    const taskContext = trace.setSpan(parentContext.setValue(TASK_KEY, running), span);
    let result: Promise<T> | T;
    try {
      result = context.with(taskContext, fn, undefined, signal);
    } catch (error) {
      result = Promise.reject(error);
    }
    // a thenable is chained directly; a plain value gets the one promise the caller expects
    return (result instanceof Promise ? result : Promise.resolve(result)).then(
      (value) => {
        finish(running, 'completed', undefined, unfollow);
        return value;
      },
      (error: unknown) => {
        finish(running, classify(error, signal), error, unfollow);
        throw error;
      },
    );
  } catch (error) {
    // The telemetry failed before fn ran: run the app's function untraced rather than fail it.
    reportError('runTask could not start its span', error);
    if (task) finish(task, 'failed', error, unfollow);
    return Promise.resolve().then(() => fn(signal));
  }
}

/** The final state of a task that rejected with `error`. */
export function classify(error: unknown, signal: AbortSignal): FinalState {
  if (signal.aborted && error === signal.reason) return 'cancelled';
  if (isAbortError(error)) return 'cancelled';
  return 'failed';
}

/** True for the errors that mean "cancelled": an `AbortError` (DOMException or a look-alike). */
export function isAbortError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError';
}

const followers = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `onAbort` when `signal` aborts; returns the function that stops following it.
 * One listener per parent signal, however many tasks follow it: a service that hands one
 * shutdown signal to thousands of tasks must not get Node's "possible EventTarget leak" warning
 * because of us, and a Set is cheaper than an event listener per task.
 */
function follow(signal: AbortSignal, onAbort: () => void): () => void {
  let set = followers.get(signal);
  if (!set) {
    const created = new Set<() => void>();
    set = created;
    followers.set(signal, created);
    signal.addEventListener(
      'abort',
      () => {
        followers.delete(signal);
        for (const callback of [...created]) callback();
      },
      { once: true },
    );
  }
  const own = set;
  own.add(onAbort);
  return () => void own.delete(onAbort);
}

function recordCancel(task: RunningTask, reason: unknown): void {
  try {
    const attributes: Attributes = { [ATTR.cancelMessage]: describeError(reason), [ATTR.cancelCount]: 1 };
    siteAttributes(firstForeignSite(), attributes);
    task.span.addEvent(EVENT.cancelRequested, attributes);
  } catch (error) {
    reportError('runTask could not record a cancel request', error);
  }
}

function finish(task: RunningTask, state: FinalState, error: unknown, unfollow: (() => void) | undefined): void {
  try {
    removeLiveTask();
    unfollow?.();
    const span = task.span;
    span.setAttribute(ATTR.finalState, state);
    if (state === 'failed') {
      if (error instanceof Error) span.recordException(error);
      else span.recordException({ name: 'Error', message: describeError(error) });
      span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
    }
    span.end();
  } catch (err) {
    reportError('runTask could not end its span', err);
  }
}
