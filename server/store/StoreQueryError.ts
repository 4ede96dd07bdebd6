/**
 * A read the caller must change before retrying: a malformed cursor, id, limit or filter. The API
 * maps it to HTTP 400 by its `name`, so that storage needs to know nothing of HTTP.
 */
export class StoreQueryError extends Error {
  override readonly name = 'StoreQueryError';
}
