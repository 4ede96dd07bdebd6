/**
 * N2: a task that cleans up in `finally` and lets the abort propagate (rethrows signal.reason).
 * Expected verdict: cancelled, with its cleanup `ok`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { beginShutdown, cleanup, runTask } from '../../instrument/node/src/index.js';
import { runUntilSigterm, startTracing } from './tracing.js';

const { provider } = startTracing('example-n2-rethrow');
const stop = new AbortController();

/** A stand-in for a client connection that takes a moment to close. */
class Upload {
  sent = 0;
  async close(): Promise<void> {
    await sleep(20);
  }
}

async function streamUpload(signal: AbortSignal): Promise<number> {
  const upload = new Upload();
  try {
    for (;;) {
      await sleep(50, undefined, { signal });
      upload.sent++;
    }
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw error;
  } finally {
    await cleanup('close-upload', () => upload.close());
  }
}

const task = runTask('upload-stream', streamUpload, { signal: stop.signal });

process.once('SIGTERM', async () => {
  const shutdown = beginShutdown('SIGTERM', { drainTimeoutMs: 2_000 });
  shutdown.cancelAll(1);
  stop.abort();
  const [result] = await Promise.allSettled([task]);
  console.log(`upload ended: ${result.status}`);
  await shutdown.end();
  await provider.shutdown();
});
runUntilSigterm();
