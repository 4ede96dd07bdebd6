/**
 * N3: a task that ignores its signal and never settles. Its interval keeps the process alive,
 * so the drain waits until its bound; a supervisor usually kills the process with SIGKILL
 * before that. The processor's snapshots (every second during the shutdown) have already
 * exported the task as pending with its cancel request.
 * Expected verdict: survivor.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { beginShutdown, runTask } from '../../instrument/node/src/index.js';
import { runUntilSigterm, startTracing } from './tracing.js';

/** How long the drain waits for the tasks before giving up (ms). */
const DRAIN_TIMEOUT_MS = 5_000;

const { provider } = startTracing('example-n3-ignore');
const stop = new AbortController();

function heartbeat(_signal: AbortSignal): Promise<never> {
  // The bug: the signal is never looked at, and the promise never settles.
  return new Promise(() => {
    let beats = 0;
    setInterval(() => beats++, 100);
  });
}

const task = runTask('heartbeat', heartbeat, { signal: stop.signal });

process.once('SIGTERM', async () => {
  const shutdown = beginShutdown('SIGTERM', { drainTimeoutMs: DRAIN_TIMEOUT_MS });
  shutdown.cancelAll(1);
  stop.abort();
  console.log('draining');
  await Promise.race([task, sleep(DRAIN_TIMEOUT_MS)]);
  console.log('drain timed out: heartbeat is still running');
  await shutdown.end();
  await provider.shutdown();
  process.exit(1);
});
runUntilSigterm();
