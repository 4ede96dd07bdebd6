/**
 * The opt-in signal hooks on an app that has no SIGTERM handler of its own: Node would exit at
 * once, so the hooks record the shutdown, flush, and re-raise the signal; the process still dies
 * of SIGTERM. The queue consumer was never told to stop, so it is left running.
 * Expected: the shutdown ends `survivors`, the consumer is an `orphan`, the exit is by SIGTERM.
 */
import { EventEmitter, once } from 'node:events';
import { installShutdownHooks, runTask } from '../../instrument/node/src/index.js';
import { startTracing } from './tracing.js';

/** How long the example runs before it sends itself SIGTERM (ms); EXAMPLE_RUN_MS overrides it. */
const DEFAULT_RUN_MS = 300;

startTracing('example-sigterm-hooks');
installShutdownHooks({ drainTimeoutMs: 1_000 });

const jobs = new EventEmitter();
async function consumeJobs(): Promise<void> {
  for (;;) await once(jobs, 'job');
}
void runTask('job-consumer', consumeJobs);
// Something must hold the process open, as a server would.
setInterval(() => jobs.emit('job'), 50);

console.log(`ready pid=${process.pid}`);
setTimeout(() => process.kill(process.pid, 'SIGTERM'), Number(process.env.EXAMPLE_RUN_MS ?? DEFAULT_RUN_MS));
