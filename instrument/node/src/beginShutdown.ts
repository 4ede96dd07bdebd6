import { type Attributes, type HrTime, type Span, type Tracer, trace } from '@opentelemetry/api';
import { addHrTimes, millisToHrTime } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ATTR, CANCELTRACE_SCOPE, EVENT } from '../../../contract/contract.js';
import { reportError } from './reportError.js';
import { currentProcessor, type SnapshotSpanProcessor } from './SnapshotSpanProcessor.js';
import { liveTaskCount } from './taskContext.js';

/** How often the open task count and the active handles are sampled during a shutdown (ms). */
export const DEFAULT_SAMPLE_INTERVAL_MS = 50;
/** How often open spans are snapshotted during a shutdown (ms). */
export const DEFAULT_SNAPSHOT_INTERVAL_MS = 1_000;
/**
 * Events the shutdown span may carry. The SDK's default span limit is 128 events and it drops
 * the oldest beyond it, which would lose the baseline samples; staying under it keeps them.
 */
export const DEFAULT_EVENT_BUDGET = 120;
/** Longest {@link ShutdownHandle.end} waits for an export in flight before the last sample (ms). */
const IDLE_WAIT_MS = 1_000;
/** Handle kinds sampled from the start, so each gauge has a baseline even when it starts at 0. */
const COMMON_RESOURCES = ['Timeout', 'Immediate', 'TCPSocketWrap', 'TCPServerWrap', 'PipeWrap', 'FSReqCallback'];
const TOTAL_GAUGE = 'active.total';
/** Immediates awaited before the last sample: two, so one close phase of the loop has run. */
const LOOP_TURNS_BEFORE_LAST_SAMPLE = 2;

/** Options of {@link beginShutdown}. */
export interface ShutdownOptions {
  /** the processor whose open task spans are counted and snapshotted (default: the newest one) */
  processor?: SnapshotSpanProcessor;
  /** tracer of the shutdown span (default: the global tracer named `canceltrace`) */
  tracer?: Tracer;
  /** the bound the drain is given, recorded as `shutdown.drain_timeout_ms` */
  drainTimeoutMs?: number;
  /** open task spans that are not part of the shutdown and may stay open (default 0) */
  pendingBaseline?: number;
  sampleIntervalMs?: number;
  snapshotIntervalMs?: number;
  eventBudget?: number;
}

/** An open shutdown. */
export interface ShutdownHandle {
  /** the shutdown span (open until {@link end}) */
  readonly span: Span;
  /** records `shutdown.cancel_all` with the number of tasks the app is cancelling */
  cancelAll(count: number): void;
  /**
   * Takes the last samples, ends the span with its outcome (`clean` when the open task count is
   * back at its baseline, `timeout` when the drain bound was exceeded, else `survivors`) and
   * flushes. Idempotent; never rejects.
   */
  end(options?: { outcome?: string }): Promise<void>;
}

let active: ShutdownHandle | undefined;

/** The shutdown in progress, if any. */
export function currentShutdown(): ShutdownHandle | undefined {
  return active;
}

/**
 * Opens the shutdown span and starts watching the drain: the number of open task spans
 * (`tasks.pending`) and the handles that keep the process alive (`resource.gauge`, from
 * `process.getActiveResourcesInfo()`) are sampled every {@link DEFAULT_SAMPLE_INTERVAL_MS} and
 * recorded when they change, and open spans are snapshotted every second, so a process killed
 * during its drain still leaves its shutdown and its survivors in the collector.
 */
export function beginShutdown(reason: string, options: ShutdownOptions = {}): ShutdownHandle {
  const handle = new ShutdownWatch(reason, options);
  active = handle;
  return handle;
}

class ShutdownWatch implements ShutdownHandle {
  readonly span: Span;
  private readonly processor: SnapshotSpanProcessor | undefined;
  private readonly baseline: number;
  private readonly budget: number;
  private readonly startedAt = Date.now();
  private readonly drainTimeoutMs: number | undefined;
  private readonly gauges = new Map<string, number>();
  private lastPending: number | undefined;
  private eventsUsed = 0;
  private drained = false;
  private sampler: NodeJS.Timeout | undefined;
  private snapshotter: NodeJS.Timeout | undefined;
  private ending: Promise<void> | undefined;
  /** performance.now() when the span started: its clock's zero, as the SDK measures durations */
  private readonly perfStart: number;

  constructor(reason: string, options: ShutdownOptions) {
    this.processor = options.processor ?? currentProcessor();
    this.baseline = options.pendingBaseline ?? 0;
    this.budget = options.eventBudget ?? DEFAULT_EVENT_BUDGET;
    this.drainTimeoutMs = options.drainTimeoutMs;
    const attributes: Attributes = { [ATTR.shutdownReason]: reason, [ATTR.pendingBaseline]: this.baseline };
    if (options.drainTimeoutMs !== undefined) attributes[ATTR.drainTimeoutMs] = options.drainTimeoutMs;
    const tracer = options.tracer ?? trace.getTracer(CANCELTRACE_SCOPE);
    // A root span: the shutdown is its own picture, whatever request happened to trigger it.
    this.span = tracer.startSpan('shutdown', { attributes, root: true });
    this.perfStart = performance.now();
    for (const name of COMMON_RESOURCES) this.gauges.set(`active.${name}`, 0);
    this.sample('first');
    this.sampler = setInterval(() => this.sample('change'), options.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS);
    this.sampler.unref();
    this.snapshotter = setInterval(() => {
      this.sample('beat');
      void this.snapshot(false);
    }, options.snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS);
    this.snapshotter.unref();
  }

  cancelAll(count: number): void {
    this.add(EVENT.cancelAll, { [ATTR.tasksCount]: count }, true);
  }

  end(options: { outcome?: string } = {}): Promise<void> {
    this.ending ??= this.finish(options.outcome);
    return this.ending;
  }

  private async finish(outcome: string | undefined): Promise<void> {
    try {
      clearInterval(this.sampler);
      clearInterval(this.snapshotter);
      this.processor?.exiting();
      // An export in flight holds a socket; waiting for it keeps our own traffic out of the last gauge.
      if (this.processor) await this.processor.idle(IDLE_WAIT_MS);
      // Handles the app closed just before end() (socket.destroy(), server.close()) leave the
      // active list only in the loop's close phase, which comes after the check phase: the first
      // immediate runs before it, the second after it, so they are not counted as leaks.
      for (let turn = 0; turn < LOOP_TURNS_BEFORE_LAST_SAMPLE; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
      this.sample('last');
      const pending = this.pendingCount();
      const timedOut = this.drainTimeoutMs !== undefined && Date.now() - this.startedAt > this.drainTimeoutMs;
      const result = outcome ?? (pending <= this.baseline ? 'clean' : timedOut ? 'timeout' : 'survivors');
      this.span.setAttribute(ATTR.shutdownOutcome, result);
      this.span.end(this.endTime());
    } catch (error) {
      reportError('shutdown could not end its span', error);
    }
    if (active === this) active = undefined;
    await this.snapshot(true);
  }

  /**
   * Now by the shutdown span's own clock, moved past the last task end the processor saw: every
   * span's clock starts from a whole-millisecond `Date.now()`, so a task that really ended before
   * the shutdown could otherwise appear to end after it, and be judged a survivor.
   */
  private endTime(): HrTime | undefined {
    const start = (this.span as Partial<ReadableSpan>).startTime;
    if (!start) return undefined; // not an SDK span (no provider): let the span pick its end
    const now = addHrTimes(start, millisToHrTime(performance.now() - this.perfStart));
    const lastTask = this.processor?.lastTaskEnd();
    if (!lastTask || lastTask[0] < now[0] || (lastTask[0] === now[0] && lastTask[1] < now[1])) return now;
    return addHrTimes(lastTask, [0, 1]);
  }

  /** `awaited`: the app waits for it (end), so it may hold the process up to the flush bound. */
  private async snapshot(awaited: boolean): Promise<void> {
    try {
      if (awaited) await this.processor?.snapshot();
      else await this.processor?.backgroundSnapshot();
    } catch (error) {
      reportError('shutdown snapshot failed', error);
    }
  }

  private pendingCount(): number {
    return this.processor ? this.processor.openTaskCount() : liveTaskCount();
  }

  /**
   * One sample: the first and last record every series; a beat (once per snapshot) records the
   * pending count even when unchanged, so a stuck drain still shows as a line; the others record
   * only what changed.
   */
  private sample(kind: 'first' | 'change' | 'beat' | 'last'): void {
    const force = kind === 'first' || kind === 'last';
    try {
      const pending = this.pendingCount();
      if (force || kind === 'beat' || pending !== this.lastPending) {
        this.add(EVENT.pending, { [ATTR.pendingCount]: pending }, force);
        this.lastPending = pending;
      }
      if (!this.drained && pending <= this.baseline) {
        this.drained = true;
        this.add(EVENT.drained, { [ATTR.pendingCount]: pending }, true);
      }
      // Our exporter's socket would show as a passing TCPSocketWrap; skip gauges while it is busy.
      if (kind === 'beat' || (!force && this.processor?.busy)) return;
      const counts = activeResourceCounts();
      for (const name of this.gauges.keys()) if (!counts.has(name)) counts.set(name, 0);
      for (const [name, value] of counts) {
        const previous = this.gauges.get(name);
        if (!force && previous === value) continue;
        if (previous === undefined && value !== 0 && kind !== 'first') {
          // A kind first seen now had none when the shutdown began: give it its zero baseline.
          this.add(EVENT.gauge, { [ATTR.resourceName]: name, [ATTR.resourceValue]: 0 }, true, this.startedAt);
        }
        this.add(EVENT.gauge, { [ATTR.resourceName]: name, [ATTR.resourceValue]: value }, force);
        this.gauges.set(name, value);
      }
    } catch (error) {
      reportError('shutdown sampling failed', error);
    }
  }

  /** Adds an event unless the budget is spent; the last samples always get their room. */
  private add(name: string, attributes: Attributes, reserved: boolean, time?: number): void {
    const room = this.budget - this.eventsUsed - (this.gauges.size + 2);
    if (!reserved && room <= 0) return;
    this.eventsUsed++;
    if (time === undefined) this.span.addEvent(name, attributes);
    else this.span.addEvent(name, attributes, time);
  }
}

/** Counts of `process.getActiveResourcesInfo()` as `active.<kind>`, plus `active.total`. */
export function activeResourceCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  const kinds = process.getActiveResourcesInfo();
  for (const kind of kinds) {
    const key = `active.${kind}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  counts.set(TOTAL_GAUGE, kinds.length);
  return counts;
}
