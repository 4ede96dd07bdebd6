import type { SettledJudgment } from '../collector/forward/settledJudgment.js';
import type { AccessOptions } from './api/access.js';
import type { JudgeOptions } from './judge/index.js';

/** What the UI worker thread is started with. */
export interface UiWorkerData {
  dbPath: string;
  host: string;
  port: number;
  webRoot: string;
  judge?: Partial<JudgeOptions>;
  /** whether the main thread keeps metrics for `GET /metrics` */
  metrics: boolean;
  /** the dashboard's trace link template (AppDeps.traceLink) */
  traceLink?: string;
  /** Host and token checks of the API (AppDeps.access) */
  access?: AccessOptions;
}

/** From the main thread to the UI worker. */
export type UiWorkerRequest =
  /** spans of these instances were stored: forget what was judged of them */
  | { type: 'touched'; instances: string[] }
  | { type: 'stop' }
  /** a write of the main thread found the store busy at this time (ms since the epoch) */
  | { type: 'busy'; at: number }
  /** the answer to a `scrape` */
  | { type: 'scraped'; id: number; contentType?: string; text?: string; error?: string }
  /** a shutdown settled: judge it from the store (sent after the `touched` of its last spans, on the same port) */
  | { type: 'judge'; id: number; shutdownId: string };

/** From the UI worker to the main thread. */
export type UiWorkerReply =
  | { type: 'listening'; url: string }
  | { type: 'failed'; message: string; code?: string }
  | { type: 'stopped' }
  /** GET /metrics arrived: the metrics live in the main thread */
  | { type: 'scrape'; id: number }
  /** the answer to a `judge`: no judgment and no error when the shutdown is not in the store */
  | { type: 'judged'; id: number; judgment?: SettledJudgment; error?: string };
