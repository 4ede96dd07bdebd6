import type { TaskRecord, Verdict } from '../../contract/records.js';
import { isPgUrl, PgStore } from './PgStore.js';
import { SqliteStore } from './SqliteStore.js';
import type { Store } from './Store.js';

/** A store opened from a `--db` value. */
export interface OpenedStore {
  store: Store;
  /** true when other canceltrace instances may write to the same store (PostgreSQL) */
  shared: boolean;
}

/**
 * Opens the store a `--db` value names: a `postgres://` or `postgresql://` URL selects
 * {@link PgStore}, the store several instances share; anything else is a SQLite file path.
 * `writeBusyTimeoutMs`: how long a SQLite write waits for another process's lock (see SqliteStore);
 * `judgmentOf`: the judgment kept beside each task record; `writerThread`: write in a worker thread
 * (SQLite; see SqliteStoreOptions).
 */
export async function openStore(
  db: string,
  verdictOf: (task: TaskRecord) => Verdict,
  options: { writeBusyTimeoutMs?: number; judgmentOf?: (task: TaskRecord) => { verdict: Verdict; text: string }; writerThread?: boolean } = {},
): Promise<OpenedStore> {
  if (isPgUrl(db)) return { store: await PgStore.open({ url: db, verdictOf }), shared: true };
  const { writeBusyTimeoutMs, judgmentOf, writerThread } = options;
  return { store: SqliteStore.open({ path: db, verdictOf, writeBusyTimeoutMs, judgmentOf, writerThread }), shared: false };
}
