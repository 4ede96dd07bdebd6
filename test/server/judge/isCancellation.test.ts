import { describe, expect, it } from 'vitest';
import { isCancellation } from '../../../server/judge/isCancellation.js';

describe('isCancellation', () => {
  it.each([
    ['asyncio.exceptions.CancelledError', undefined],
    ['concurrent.futures._base.CancelledError', undefined],
    ['AbortError', 'This operation was aborted'],
    ['CanceledError', undefined],
    ['DOMException', 'signal is aborted without reason'],
    ['DOMException [AbortError]: This operation was aborted', undefined],
  ])('when the type is %s, then it is a cancellation', (type, message) => {
    expect(isCancellation(type, message)).toBe(true);
  });

  it.each([
    ['ValueError', undefined],
    ['TimeoutError', undefined],
    ['NotCancelledError', undefined],
    ['DOMException', 'The quota has been exceeded'],
    [undefined, 'aborted'],
  ])('when the type is %s, then it is not', (type, message) => {
    expect(isCancellation(type, message)).toBe(false);
  });
});
