/**
 * N5: a shutdown where an open socket and a timer keep the process alive. The metrics pusher
 * ends correctly (cancelled), but its final push opens a connection it never closes and starts
 * a retry timer nobody clears; the active-handle gauges end above their values before the shutdown.
 * Expected: shutdown finding resource_not_released.
 */
import { EventEmitter, once } from 'node:events';
import { type AddressInfo, connect, createServer } from 'node:net';
import { beginShutdown, cleanup, runTask } from '../../instrument/node/src/index.js';
import { runUntilSigterm, startTracing } from './tracing.js';

/** How long the example shows that it cannot exit by itself before exiting (ms). */
const LINGER_MS = 500;

const { provider } = startTracing('example-n5-handles');
const stop = new AbortController();

// A metrics gateway the service pushes to (in-process here, a separate service in real life).
const gateway = createServer((socket) => socket.resume()).listen(0, '127.0.0.1');
await once(gateway, 'listening');
const gatewayPort = (gateway.address() as AddressInfo).port;
const batches = new EventEmitter();

async function pushMetrics(signal: AbortSignal): Promise<void> {
  try {
    for (;;) await once(batches, 'batch', { signal });
  } finally {
    await cleanup('final-push', async () => {
      const socket = connect(gatewayPort, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('final metrics\n');
      // The bug: the connection is never ended, and the retry timer is never cleared.
      setInterval(() => socket.write('retry\n'), 1_000);
    });
  }
}

const task = runTask('metrics-pusher', pushMetrics, { signal: stop.signal });

process.once('SIGTERM', async () => {
  const shutdown = beginShutdown('SIGTERM', { drainTimeoutMs: 2_000 });
  shutdown.cancelAll(1);
  stop.abort();
  const [result] = await Promise.allSettled([task]);
  console.log(`metrics pusher ended: ${result.status}`);
  await shutdown.end();
  await provider.shutdown();
  console.log(`still holding the process: ${process.getActiveResourcesInfo().join(', ')}`);
  setTimeout(() => process.exit(0), LINGER_MS).unref();
});
runUntilSigterm();
