/**
 * The store was closed (the service is stopping): nothing more is read or written through it. Work that
 * outlives a response (deriving a shutdown's answers) meets it when the service stops meanwhile, which is
 * not a failure to report.
 */
export class StoreClosedError extends Error {
  override readonly name = 'StoreClosedError';

  constructor(store: string) {
    super(`${store}: the store is closed`);
  }
}
