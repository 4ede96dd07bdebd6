import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ATTR } from '../../../contract/contract.js';
import { currentShutdown } from '../../../instrument/node/src/beginShutdown.js';
import { installShutdownHooks } from '../../../instrument/node/src/installShutdownHooks.js';
import { taskHarness } from './taskHarness.js';

let h: ReturnType<typeof taskHarness>;
beforeEach(() => {
  h = taskHarness();
});
afterEach(async () => {
  await currentShutdown()?.end();
  await h.close();
});

describe('installShutdownHooks', () => {
  it('when the app has its own listener, then the shutdown opens, the app listener still runs, and nothing else happens', async () => {
    let appSaw = 0;
    const appListener = (): void => void appSaw++;
    process.on('SIGUSR2', appListener);
    const uninstall = installShutdownHooks({ signals: ['SIGUSR2'], processor: h.processor, tracer: h.tracer });
    try {
      process.emit('SIGUSR2', 'SIGUSR2');
      expect(appSaw).toBe(1);
      const shutdown = currentShutdown();
      expect(shutdown).toBeDefined();
      await shutdown!.end();
      const spans = await h.finished();
      expect(spans.find((s) => s.attributes[ATTR.shutdownReason] === 'SIGUSR2')?.attributes[ATTR.shutdownOutcome]).toBe('clean');
    } finally {
      uninstall();
      process.removeListener('SIGUSR2', appListener);
    }
    expect(process.listenerCount('SIGUSR2')).toBe(0);
  });
});
