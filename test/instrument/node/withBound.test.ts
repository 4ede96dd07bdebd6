import { describe, expect, it } from 'vitest';
import { withBound } from '../../../instrument/node/src/withBound.js';

describe('withBound', () => {
  it('when the work resolves within the bound, then it is true', async () => {
    await expect(withBound(Promise.resolve('x'), 1_000, true)).resolves.toBe(true);
  });

  it('when the work rejects within the bound, then it is true and does not reject', async () => {
    await expect(withBound(Promise.reject(new Error('boom')), 1_000, true)).resolves.toBe(true);
  });

  it('when the work outlives the bound, then it is false once the bound has passed', async () => {
    const started = Date.now();
    const never = new Promise<void>(() => undefined);
    await expect(withBound(never, 30, true)).resolves.toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('when the bound does not hold the process, then it still ends the wait', async () => {
    const keepAlive = setTimeout(() => undefined, 1_000);
    try {
      await expect(withBound(new Promise<void>(() => undefined), 20, false)).resolves.toBe(false);
    } finally {
      clearTimeout(keepAlive);
    }
  });
});
