import type { ColumnarTimeline } from '../layout/columnarTimeline.js';
import type { CompactTimeline } from '../layout/compactTimeline.js';
import type { ApiShutdownReport, ApiShutdownSummary, ApiTask, ApiTaskPage } from './types.js';

/** An API error with the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function getJson<T>(path: string, signal?: AbortSignal, mark?: string): Promise<T> {
  if (mark) performance.mark(`${mark}:request`);
  const res = await fetch(path, { signal, headers: { accept: 'application/json' } });
  if (mark) performance.mark(`${mark}:headers`);
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { error?: unknown };
      if (typeof body.error === 'string') message = body.error;
    } catch {
      // the body was not JSON: keep the status line
    }
    throw new ApiError(res.status, message);
  }
  const body = (await res.json()) as T;
  if (mark) performance.mark(`${mark}:parsed`);
  return body;
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The dashboard's view of the HTTP API (docs/conventions.md). Relative URLs: the UI and the API share an origin. */
export const api = {
  /** GET /api/shutdowns, newest first. */
  shutdowns(params: { service?: string; limit?: number } = {}, signal?: AbortSignal): Promise<ApiShutdownSummary[]> {
    return getJson(`api/shutdowns${query(params)}`, signal);
  },
  /** GET /api/shutdowns/:id: the judged shutdown with every task in full. */
  shutdown(id: string, signal?: AbortSignal): Promise<ApiShutdownReport> {
    return getJson(`api/shutdowns/${encodeURIComponent(id)}`, signal, 'ct:shutdown');
  },
  /**
   * GET /api/shutdowns/:id?tasks=compact: the report with tasks as compact tuples (see
   * layout/compactTimeline.ts); a server without the option answers the full report instead.
   */
  shutdownCompact(id: string, signal?: AbortSignal): Promise<CompactTimeline | ApiShutdownReport> {
    return getJson(`api/shutdowns/${encodeURIComponent(id)}?tasks=compact`, signal, 'ct:shutdown');
  },
  /** GET /api/shutdowns/:id/timeline: the shutdown with its tasks as columns (contract/columnar.ts). */
  timeline(id: string, signal?: AbortSignal): Promise<ColumnarTimeline> {
    return getJson(`api/shutdowns/${encodeURIComponent(id)}/timeline`, signal, 'ct:shutdown');
  },
  /** GET /api/shutdowns/:id/search?q=: span ids of the tasks whose fields or attribute values hold the text. */
  search(id: string, q: string, signal?: AbortSignal): Promise<{ q: string; count: number; spanIds: string[] }> {
    return getJson(`api/shutdowns/${encodeURIComponent(id)}/search${query({ q })}`, signal);
  },
  /** GET /api/config: what the server was started with that the dashboard shows (the trace link template). */
  config(signal?: AbortSignal): Promise<{ traceLink: string | null }> {
    return getJson('api/config', signal);
  },
  /** The URL of a shutdown's export (a download): judged tasks as CSV or JSON, raw spans as OTLP JSON. */
  exportUrl(id: string, format: 'csv' | 'json' | 'otlp'): string {
    return `api/shutdowns/${encodeURIComponent(id)}/export${query({ format })}`;
  },
  /** GET /api/shutdowns/:id/tasks/:spanId: one task in full (events, attributes, stack) for the task panel. */
  task(shutdownId: string, spanId: string, signal?: AbortSignal): Promise<ApiTask> {
    return getJson(`api/shutdowns/${encodeURIComponent(shutdownId)}/tasks/${encodeURIComponent(spanId)}`, signal);
  },
  /** GET /api/tasks: tasks across time, newest first. */
  tasks(params: { verdict?: string; service?: string; since?: string; limit?: number; cursor?: string } = {}, signal?: AbortSignal): Promise<ApiTaskPage> {
    return getJson(`api/tasks${query(params)}`, signal);
  },
};
