/**
 * N1: a task whose `catch` resolves normally after its signal aborted.
 * The poller treats the abort as "stopped" and returns: the caller sees success.
 * Expected verdict: swallowed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { beginShutdown, runTask } from '../../instrument/node/src/index.js';
import { runUntilSigterm, startTracing } from './tracing.js';

const { provider } = startTracing('example-n1-swallow');
const stop = new AbortController();

async function pollQueue(signal: AbortSignal): Promise<string> {
  try {
    for (;;) await sleep(50, undefined, { signal });
  } catch (error) {
    // The bug: the abort is logged and turned into a normal return.
    console.log(`poller: stopped (${(error as Error).name})`);
    return 'stopped';
  }
}

const poller = runTask('queue-poller', pollQueue, { signal: stop.signal });

process.once('SIGTERM', async () => {
  const shutdown = beginShutdown('SIGTERM', { drainTimeoutMs: 2_000 });
  shutdown.cancelAll(1);
  stop.abort();
  console.log(`poller resolved with: ${await poller}`);
  await shutdown.end();
  await provider.shutdown();
});
runUntilSigterm();
