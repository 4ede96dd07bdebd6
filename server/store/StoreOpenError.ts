/**
 * The database file cannot be opened or prepared for writing (a missing permission, a read-only
 * file or folder, a directory in its place). The message names the file, since SQLite's own
 * ("unable to open database file", "attempt to write a readonly database") does not.
 */
export class StoreOpenError extends Error {
  override readonly name = 'StoreOpenError';

  /**
   * @param path the database path as given
   * @param cause what SQLite or the file system said
   */
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`cannot open the database ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
