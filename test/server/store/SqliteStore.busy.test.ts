import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { BUSY_BACKOFF_MS, SqliteStore } from '../../../server/store/SqliteStore.js';
import { StoreBusyError } from '../../../server/store/StoreBusyError.js';
import { otherSpan, spanId, traceId, verdictAlone } from './spanBuilder.js';

let dir: string;
let store: SqliteStore | undefined;
let other: Database.Database | undefined;
afterEach(async () => {
  other?.close();
  other = undefined;
  await store?.close();
  store = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** A store with a short write wait, and a second connection (as `canceltrace import` would be) holding the write lock. */
function lockedStore() {
  dir = mkdtempSync(join(tmpdir(), 'canceltrace-busy-'));
  const path = join(dir, 'store.db');
  store = SqliteStore.open({ path, verdictOf: verdictAlone, writeBusyTimeoutMs: 20 });
  other = new Database(path);
  other.exec('BEGIN IMMEDIATE');
  return { store, other };
}

async function eventually(probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, BUSY_BACKOFF_MS / 5));
  }
  throw new Error('condition not reached');
}

describe('SqliteStore while another connection holds the write lock', () => {
  it('when a batch is consumed, then it is refused with a retryable StoreBusyError, busy() says so and nothing is stored', async () => {
    const { store } = lockedStore();
    const T = 1;
    const trace = traceId(T);
    const error = await store.consume([otherSpan({ trace: T, span: 1 })]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreBusyError);
    expect(error).toMatchObject({ busy: true, retryable: true, retryAfterSeconds: 1 });
    expect((error as { permanent?: unknown }).permanent).toBeUndefined();
    expect(store.busy()).toBe(true);
    expect(await store.spansOfTrace(trace)).toEqual([]);
  });

  it('when reads are made, then they are answered from the committed data', async () => {
    const { store, other } = lockedStore();
    other.exec('ROLLBACK');
    const T = 2;
    const trace = traceId(T);
    await store.consume([otherSpan({ trace: T, span: 1 })]);
    other.exec('BEGIN IMMEDIATE');
    await store.consume([otherSpan({ trace: T, span: 2 })]).catch(() => {});
    expect((await store.spansOfTrace(trace)).map((s) => s.spanId)).toEqual([spanId(1)]);
    expect((await store.stats()).spans).toBe(1);
    expect(await store.listShutdowns()).toEqual([]);
  });

  it('when the lock is released, then the same batch is stored once on a retry', async () => {
    const { store, other } = lockedStore();
    const T = 3;
    const trace = traceId(T);
    const batch = [otherSpan({ trace: T, span: 1 }), otherSpan({ trace: T, span: 2 })];
    await expect(store.consume(batch)).rejects.toBeInstanceOf(StoreBusyError);
    other.exec('COMMIT');
    await eventually(async () =>
      store.consume(batch).then(
        () => true,
        (e) => (e instanceof StoreBusyError ? false : Promise.reject(e)),
      ),
    );
    expect((await store.spansOfTrace(trace)).map((s) => s.spanId)).toEqual([spanId(1), spanId(2)]);
  });
});
