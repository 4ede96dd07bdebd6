import { beginShutdown, currentShutdown, type ShutdownHandle, type ShutdownOptions } from './beginShutdown.js';
import { reportError } from './reportError.js';
import { withBound } from './withBound.js';

/** Longest the hook delays a signal's default exit to send the shutdown (ms). */
export const DEFAULT_SIGNAL_FLUSH_MS = 2_000;

/** Options of {@link installShutdownHooks}. */
export interface ShutdownHooksOptions extends ShutdownOptions {
  /** signals to watch (default SIGTERM and SIGINT) */
  signals?: NodeJS.Signals[];
  /** bound of the flush before a default exit (ms) */
  flushTimeoutMs?: number;
}

/**
 * Opt-in: opens a shutdown ({@link beginShutdown}) when the process gets SIGTERM or SIGINT,
 * without changing what the app does with the signal. If the app has its own listeners, they
 * run as before and the shutdown ends when the event loop empties (`beforeExit`), or when the app
 * calls `currentShutdown()?.end()`. If it has none, Node would have exited at once: the hook
 * ends the shutdown, flushes (bounded) and re-raises the signal, so the process still dies of it.
 * Returns a function that removes the hooks.
 */
export function installShutdownHooks(options: ShutdownHooksOptions = {}): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const flushMs = options.flushTimeoutMs ?? DEFAULT_SIGNAL_FLUSH_MS;
  const listeners = new Map<NodeJS.Signals, () => void>();
  let exitHook: (() => void) | undefined;

  const uninstall = (): void => {
    for (const [signal, listener] of listeners) process.removeListener(signal, listener);
    listeners.clear();
    if (exitHook) process.removeListener('beforeExit', exitHook);
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    try {
      const appHandles = process.listenerCount(signal) > 1;
      const handle: ShutdownHandle = currentShutdown() ?? beginShutdown(signal, options);
      if (appHandles) {
        if (!exitHook) {
          exitHook = () => void handle.end();
          process.once('beforeExit', exitHook);
        }
        return;
      }
      void withBound(handle.end(), flushMs, true).then(() => {
        uninstall();
        process.kill(process.pid, signal);
      });
    } catch (error) {
      reportError(`shutdown hook for ${signal} failed`, error);
    }
  };

  for (const signal of signals) {
    const listener = (): void => onSignal(signal);
    listeners.set(signal, listener);
    process.on(signal, listener);
  }
  return uninstall;
}
