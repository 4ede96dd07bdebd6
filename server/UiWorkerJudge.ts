/**
 * The main thread's side of judging settled shutdowns in the UI worker (see startService,
 * `uiThread: 'worker'`): judging a shutdown of a million tasks takes seconds of CPU and synchronous
 * store reads, which must not hold up the event loop that takes OTLP. Each request is a `judge`
 * message; the worker answers with a `judged` one carrying the small {@link SettledJudgment}.
 */
import type { SettledJudgment } from '../collector/forward/settledJudgment.js';
import type { UiWorkerReply, UiWorkerRequest } from './uiWorkerMessages.js';

/** What {@link UiWorkerJudge} needs of a worker thread (a `Worker` fits). */
export interface JudgeWorkerPort {
  postMessage(message: UiWorkerRequest): void;
  on(event: 'message', listener: (message: UiWorkerReply) => void): unknown;
  on(event: 'exit', listener: (code: number) => void): unknown;
}

interface Waiting {
  shutdownId: string;
  resolve: (judgment: SettledJudgment | undefined) => void;
  reject: (error: Error) => void;
}

/** Asks the UI worker to judge shutdowns; a request pending when the worker stops is rejected, never left hanging. */
export class UiWorkerJudge {
  private readonly waiting = new Map<number, Waiting>();
  private lastId = 0;
  private worker: JudgeWorkerPort | undefined;
  private stoppedWith: Error | undefined;
  /** Settles when a worker is attached (or the judge stops first). */
  private readonly attached: Promise<void>;
  private onAttached!: { resolve: () => void; reject: (error: Error) => void };

  constructor() {
    this.attached = new Promise<void>((resolve, reject) => {
      this.onAttached = { resolve, reject };
    });
    // Nobody may be waiting for it when the worker fails to start.
    this.attached.catch(() => {});
  }

  /** Starts asking `worker`, which must answer `judge` messages; its exit rejects what is still pending. */
  attach(worker: JudgeWorkerPort): void {
    if (this.worker || this.stoppedWith) return;
    worker.on('message', (message: UiWorkerReply) => {
      if (message.type === 'judged') this.answer(message);
    });
    worker.on('exit', (code: number) => this.stop(new Error(`canceltrace: the dashboard worker exited (code ${code})`)));
    this.worker = worker;
    this.onAttached.resolve();
  }

  /** The settled judgment of one shutdown, judged in the worker; undefined when it is not in the store. */
  async judge(shutdownId: string): Promise<SettledJudgment | undefined> {
    // A failed start rejects it; stoppedWith then says why.
    if (!this.worker && !this.stoppedWith) await this.attached.catch(() => {});
    const worker = this.worker;
    if (this.stoppedWith || !worker) throw this.failure(shutdownId, this.stoppedWith);
    const id = ++this.lastId;
    return new Promise<SettledJudgment | undefined>((resolve, reject) => {
      this.waiting.set(id, { shutdownId, resolve, reject });
      worker.postMessage({ type: 'judge', id, shutdownId });
    });
  }

  /** Number of requests the worker has not answered yet. */
  get pending(): number {
    return this.waiting.size;
  }

  /** Rejects what is pending and every later request (the worker stopped or failed). Safe to call twice. */
  stop(reason: Error): void {
    this.stoppedWith ??= reason;
    this.onAttached.reject(this.stoppedWith);
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) w.reject(this.failure(w.shutdownId, this.stoppedWith));
  }

  private answer(message: Extract<UiWorkerReply, { type: 'judged' }>): void {
    const w = this.waiting.get(message.id);
    if (!w) return;
    this.waiting.delete(message.id);
    if (message.error !== undefined) w.reject(new Error(`canceltrace: judging shutdown ${w.shutdownId} in the dashboard worker failed: ${message.error}`));
    else w.resolve(message.judgment);
  }

  private failure(shutdownId: string, cause: Error | undefined): Error {
    return new Error(`canceltrace: shutdown ${shutdownId} was not judged: ${cause?.message ?? 'no dashboard worker'}`, { cause });
  }
}
