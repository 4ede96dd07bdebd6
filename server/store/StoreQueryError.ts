/**
 * A read the caller must change before retrying: a malformed cursor, id, limit or filter. The API's
 * error middleware maps it to HTTP 400; storage itself knows nothing of HTTP.
 */
export class StoreQueryError extends Error {
  override readonly name = 'StoreQueryError';
}
