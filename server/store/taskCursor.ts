import { StoreQueryError } from './StoreQueryError.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const CURSOR_TEXT = /^(-?\d{1,19})\.(\d{1,19})$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The keyset cursor of {@link Store.queryTasks} pages, shared by every store so that its form and
 * its checks are the same whichever database answers: base64url of `<end_ns>.<id>`, the sort key
 * of the last task of a page.
 */
export const taskCursor = {
  /** The cursor after a task that ends at `endNs` and has row id `id`. */
  encode(endNs: bigint, id: bigint): string {
    return Buffer.from(`${endNs}.${id}`, 'utf8').toString('base64url');
  },

  /** The sort key a cursor holds; anything this store did not make is a {@link StoreQueryError}. */
  decode(cursor: string): [endNs: bigint, id: bigint] {
    const invalid = (why: string) =>
      new StoreQueryError(`invalid cursor ${JSON.stringify(String(cursor).slice(0, 64))}: ${why}; pass nextCursor from a previous page`);
    if (typeof cursor !== 'string' || !BASE64URL.test(cursor)) throw invalid('not base64url');
    const text = Buffer.from(cursor, 'base64url').toString('utf8');
    const match = CURSOR_TEXT.exec(text);
    // Re-encoding must give the cursor back: Node's decoder skips junk that would otherwise pass.
    if (!match || taskCursor.encode(BigInt(match[1]), BigInt(match[2])) !== cursor) throw invalid('not a cursor of this store');
    const endNs = BigInt(match[1]);
    const id = BigInt(match[2]);
    if (endNs < INT64_MIN || endNs > INT64_MAX || id > INT64_MAX) throw invalid('out of range');
    return [endNs, id];
  },
};
