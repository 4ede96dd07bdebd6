/**
 * Keeps the heap of a long streamed answer near what it holds. Writing a million tasks' text (the
 * full view is 1.5 GB) makes garbage far faster than V8's heuristics collect it: between two full
 * collections the heap grew by 500 MB over the 550 MB a million-task report holds, and the process
 * passed 1 GB. So a stream calls {@link boundHeap} as it goes, and when the heap has grown more than
 * {@link HEAP_SLACK_BYTES} since the last full collection, one is run at once. Without a collector to
 * call (the flag cannot be set), nothing happens.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

/** Growth of the used heap over its size after the last full collection that triggers the next one. */
export const HEAP_SLACK_BYTES = 192 * 1024 * 1024;

let collect: (() => void) | undefined | null = null;
let afterLast = 0;

function collector(): (() => void) | undefined {
  if (collect === null) {
    try {
      v8.setFlagsFromString('--expose-gc');
      collect = vm.runInNewContext('gc') as () => void;
    } catch {
      collect = undefined;
    }
    afterLast = v8.getHeapStatistics().used_heap_size;
  }
  return collect ?? undefined;
}

/** Runs a full collection when the heap grew more than {@link HEAP_SLACK_BYTES} since the last one; returns whether it did. */
export function boundHeap(): boolean {
  const gc = collector();
  if (!gc) return false;
  const used = v8.getHeapStatistics().used_heap_size;
  if (used - afterLast < HEAP_SLACK_BYTES) {
    // V8 collected on its own meanwhile: measure growth from there
    if (used < afterLast) afterLast = used;
    return false;
  }
  gc();
  afterLast = v8.getHeapStatistics().used_heap_size;
  return true;
}
