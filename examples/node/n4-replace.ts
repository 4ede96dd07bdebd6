/**
 * N4: a task whose cleanup throws a different error after the abort, so the cancellation is
 * replaced by that error.
 * Expected verdict: replaced.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { beginShutdown, cleanup, runTask } from '../../instrument/node/src/index.js';
import { runUntilSigterm, startTracing } from './tracing.js';

const { provider } = startTracing('example-n4-replace');
const stop = new AbortController();

/** A stand-in for a transaction whose connection is gone by the time it is rolled back. */
class Transaction {
  async rollback(): Promise<void> {
    await sleep(5);
    throw new Error('rollback failed: connection already closed');
  }
}

async function transferFunds(signal: AbortSignal): Promise<void> {
  const tx = new Transaction();
  try {
    await sleep(60_000, undefined, { signal });
  } finally {
    // Throwing from finally replaces the AbortError the task was unwinding with.
    await cleanup('rollback', () => tx.rollback());
  }
}

const task = runTask('transfer-funds', transferFunds, { signal: stop.signal });

process.once('SIGTERM', async () => {
  const shutdown = beginShutdown('SIGTERM', { drainTimeoutMs: 2_000 });
  shutdown.cancelAll(1);
  stop.abort();
  const [result] = await Promise.allSettled([task]);
  console.log(`transfer ended: ${result.status === 'rejected' ? (result.reason as Error).message : 'fulfilled'}`);
  await shutdown.end();
  await provider.shutdown();
});
runUntilSigterm();
