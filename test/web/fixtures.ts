import type { ApiTask } from '../../web/src/api/types.js';

/** Origin of fixture times (unix ns), about 2026. */
export const ORIGIN_NS = 1_780_000_000_000_000_000n;

/** A unix-ns string `ms` after {@link ORIGIN_NS}. */
export function at(ms: number): string {
  return String(ORIGIN_NS + BigInt(Math.round(ms * 1e6)));
}

/** An API task built from a few fields; the rest take plain defaults. */
export function apiTask(over: Partial<ApiTask> & { spanId: string }): ApiTask {
  return {
    traceId: '0'.repeat(32),
    name: `task-${over.spanId}`,
    verdict: 'cancelled',
    findings: [],
    finalState: 'cancelled',
    createdAt: at(0),
    endedAt: at(100),
    code: { filepath: 'app/worker.py', lineno: 10, function: 'spawn' },
    coroutine: 'worker',
    snapshot: false,
    events: [],
    attributes: {},
    service: 'svc',
    instance: 'svc-1',
    ...over,
  };
}
