import { randomUUID } from 'node:crypto';
import type { Tracer } from '@opentelemetry/api';
import { type RunTaskOptions, startTask } from './runTask.js';
import { withBound } from './withBound.js';

/** How long {@link TaskScope.cancel} waits for the children to settle by default (ms). */
export const DEFAULT_CANCEL_TIMEOUT_MS = 5_000;

/** Options of a {@link TaskScope}. */
export interface TaskScopeOptions {
  /** a parent signal: when it aborts, the scope cancels its children */
  signal?: AbortSignal;
  /** tracer of the children's spans */
  tracer?: Tracer;
  /** bound of {@link TaskScope.cancel}'s wait (ms) */
  cancelTimeoutMs?: number;
}

/** What {@link TaskScope.cancel} saw when it stopped waiting. */
export interface CancelResult {
  /** children that settled (in any way) */
  settled: number;
  /** children still running when the bound ran out: they hold the scope's teardown */
  pending: number;
}

/**
 * A structured group of tasks (`task.group_id`): every child gets the scope's signal, and
 * {@link cancel} aborts them all and waits for them, with a bound, so one child that ignores
 * its signal delays the teardown by at most the bound and is reported as still pending.
 */
export class TaskScope {
  /** `task.group_id` of the children */
  readonly id: string;
  private readonly controller = new AbortController();
  private readonly children = new Set<Promise<void>>();
  private readonly tracer: Tracer | undefined;
  private readonly cancelTimeoutMs: number;

  /** Creates an empty scope; `name` is only a prefix of its id, to make ids readable. */
  constructor(name = 'scope', options: TaskScopeOptions = {}) {
    this.id = `${name}-${randomUUID().slice(0, 8)}`;
    this.tracer = options.tracer;
    this.cancelTimeoutMs = options.cancelTimeoutMs ?? DEFAULT_CANCEL_TIMEOUT_MS;
    const parent = options.signal;
    if (parent) {
      if (parent.aborted) this.controller.abort(parent.reason);
      else parent.addEventListener('abort', () => this.controller.abort(parent.reason), { once: true });
    }
  }

  /** The signal every child's own signal follows. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Number of children that have not settled. */
  get size(): number {
    return this.children.size;
  }

  /** Runs a child task in the scope (see {@link runTask}); its promise settles as the child does. */
  run<T>(name: string, fn: (signal: AbortSignal) => Promise<T> | T, options: Omit<RunTaskOptions, 'signal'> = {}): Promise<T> {
    const child = startTask(
      name,
      fn,
      { ...options, tracer: options.tracer ?? this.tracer, signal: this.controller.signal },
      { groupId: this.id, boundary: TaskScope.prototype.run },
    );
    const tracked: Promise<void> = child.then(
      () => undefined,
      () => undefined,
    );
    this.children.add(tracked);
    void tracked.then(() => this.children.delete(tracked));
    return child;
  }

  /** Aborts every child with `reason` and waits for them, at most the scope's cancel bound. */
  async cancel(reason?: unknown): Promise<CancelResult> {
    const waiting = [...this.children];
    this.controller.abort(reason);
    let settled = 0;
    const counted = waiting.map((p) => p.then(() => void settled++));
    await withBound(Promise.all(counted), this.cancelTimeoutMs, true);
    return { settled, pending: waiting.length - settled };
  }

  /** Resolves when every child started so far has settled. */
  async settled(): Promise<void> {
    await Promise.all([...this.children]);
  }
}
