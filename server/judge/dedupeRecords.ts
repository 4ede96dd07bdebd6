import { newerRecord } from '../../contract/contract.js';
import type { SpanRecord } from '../../contract/records.js';
import { stableKey } from './stableKey.js';

/** What deduplication reads of a record. */
export interface DedupeView {
  traceId: string;
  spanId: string;
  snapshot: boolean;
  endTime: bigint;
  events: readonly unknown[];
}

/**
 * One record per (trace id, span id): the one {@link newerRecord} prefers (a final record beats any
 * snapshot, then the later end, then more events), whatever the input order. When two records are
 * equal by that rule, the one with the smaller canonical key wins, so even exact ties do not depend on
 * order. The result is sorted by trace id, then span id. Linear in the number of records (plus the sort).
 *
 * `view` reads the fields from records that keep them elsewhere, e.g. `(t: TaskRecord) => t.span`.
 */
export function dedupeRecords<T extends DedupeView>(records: readonly T[]): T[];
export function dedupeRecords<T>(records: readonly T[], view: (record: T) => DedupeView): T[];
export function dedupeRecords<T>(records: readonly T[], view?: (record: T) => DedupeView): T[] {
  const read = view ?? ((r: T) => r as unknown as DedupeView);
  const best = new Map<string, { record: T; v: DedupeView }>();
  for (const record of records) {
    const v = read(record);
    const key = `${v.traceId}/${v.spanId}`;
    const held = best.get(key);
    if (!held || prefer(held.v, v, held.record, record)) best.set(key, { record, v });
  }
  return [...best.values()].sort((a, b) => compareIds(a.v, b.v)).map((x) => x.record);
}

/** Whether the challenger `b` should replace the held `a`. */
function prefer<T>(a: DedupeView, b: DedupeView, ra: T, rb: T): boolean {
  // newerRecord reads only the events' count, so any event array will do.
  const x = a as unknown as Pick<SpanRecord, 'snapshot' | 'endTime' | 'events'>;
  const y = b as unknown as Pick<SpanRecord, 'snapshot' | 'endTime' | 'events'>;
  const ab = newerRecord(x, y) === y ? b : a;
  const ba = newerRecord(y, x) === y ? b : a;
  if (ab === b && ba === b) return true;
  if (ab === a && ba === a) return false;
  // newerRecord keeps its first argument on an exact tie; break it by content instead.
  return stableKey(rb) < stableKey(ra);
}

function compareIds(a: DedupeView, b: DedupeView): number {
  if (a.traceId !== b.traceId) return a.traceId < b.traceId ? -1 : 1;
  if (a.spanId !== b.spanId) return a.spanId < b.spanId ? -1 : 1;
  return 0;
}
