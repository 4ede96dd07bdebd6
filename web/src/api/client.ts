import type { ApiShutdownReport, ApiShutdownSummary, ApiTaskPage } from './types.js';

/** An API error with the server's message. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { signal, headers: { accept: 'application/json' } });
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
  return (await res.json()) as T;
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
  /** GET /api/shutdowns/:id: the judged shutdown with its tasks and series. */
  shutdown(id: string, signal?: AbortSignal): Promise<ApiShutdownReport> {
    return getJson(`api/shutdowns/${encodeURIComponent(id)}`, signal);
  },
  /** GET /api/tasks: tasks across time, newest first. */
  tasks(params: { verdict?: string; service?: string; since?: string; limit?: number; cursor?: string } = {}, signal?: AbortSignal): Promise<ApiTaskPage> {
    return getJson(`api/tasks${query(params)}`, signal);
  },
};
