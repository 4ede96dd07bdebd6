import { createHash } from 'node:crypto';
import type { Attrs } from '../../contract/records.js';
import { encodeResource } from './codec.js';

/**
 * The stored text of a resource and the key of its row in the resources table: the SHA-256 of that
 * text (hex). Equal attributes in the same key order share one row; another order only costs a row.
 */
export function resourceKey(resource: Attrs): { hash: string; text: string } {
  const text = encodeResource(resource);
  return { hash: createHash('sha256').update(text).digest('hex'), text };
}
