import type { ExpiryBatch, ExpiryCursor } from '../retention/ExpiryCursor.js';
import type { WriteBatch } from './SqliteWriter.js';
import { StoreBusyError } from './StoreBusyError.js';

/** What a SQLite store's writer thread starts with (see sqliteWriterThread.ts). */
export interface SqliteWriterData {
  path: string;
  busyTimeoutMs: number;
  writeBusyTimeoutMs: number;
}

/** From the store to its writer thread. */
export type WriterRequest =
  | { type: 'write'; id: number; batch: WriteBatch }
  | { type: 'expire'; id: number; cutoff: bigint; limit: number; cursor: ExpiryCursor }
  | { type: 'reclaim'; id: number; maxPages: number }
  | { type: 'close' };

/** An error as it crosses the thread boundary. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  busy?: boolean;
}

/** From the writer thread to its store. */
export type WriterReply =
  | { type: 'ready' }
  /** the batches of one group commit, each with its error (undefined: committed) */
  | { type: 'written'; ids: number[]; errors: (WireError | undefined)[] }
  | { type: 'done'; id: number; value?: ExpiryBatch | number; error?: WireError }
  | { type: 'closed' };

/** An error as the writer thread sends it. */
export function wireError(error: unknown): WireError {
  if (error instanceof StoreBusyError) return { name: error.name, message: error.message, busy: true };
  const e = error as { name?: unknown; message?: unknown; code?: unknown } | undefined;
  const wire: WireError = { name: typeof e?.name === 'string' ? e.name : 'Error', message: typeof e?.message === 'string' ? e.message : String(error) };
  if (typeof e?.code === 'string') wire.code = e.code;
  return wire;
}

/** The error the store's caller gets for a {@link WireError}: a StoreBusyError again, else an Error with its name, message and code. */
export function errorFromWire(wire: WireError): Error {
  if (wire.busy) return new StoreBusyError(wire.message);
  const error = new Error(wire.message) as Error & { code?: string };
  error.name = wire.name;
  if (wire.code !== undefined) error.code = wire.code;
  return error;
}
