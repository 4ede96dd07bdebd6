/** A request the caller must change before retrying (HTTP 400). */
export class BadRequestError extends Error {
  override readonly name = 'BadRequestError';
}

/** Something the caller named does not exist (HTTP 404). */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}
