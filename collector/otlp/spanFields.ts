/**
 * Field rules every reader (direct wire, protobufjs, JSON) applies the same way: ids, int64
 * attribute values, attribute keys, status codes.
 */
import { SpanStatusCode } from '@opentelemetry/api';
import type { Attrs, AttrValue } from '../../contract/records.js';
import { SpanRejected } from './SpanRejected.js';

export const TRACE_ID_BYTES = 16;
export const SPAN_ID_BYTES = 8;

/** A bytes field as lower-case hex ('' when absent). */
export function toHex(bytes: Uint8Array | readonly number[] | undefined): string {
  // An absent bytes field decodes to protobufjs's shared default, which is a plain empty array.
  if (bytes === undefined || bytes.length === 0) return '';
  if (bytes instanceof Uint8Array) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  return Buffer.from(bytes).toString('hex');
}

/** A required id: `bytes` long and not all zeros, else the span is rejected. */
export function checkId(hex: string, bytes: number, field: string): string {
  if (hex.length !== bytes * 2) throw new SpanRejected(`${field} must be ${bytes} bytes, got ${hex.length / 2}`);
  if (/^0+$/.test(hex)) throw new SpanRejected(`${field} is all zeros`);
  return hex;
}

/** Parent ids are optional: empty or all-zero means a root span (''). */
export function optionalParent(hex: string): string {
  if (hex === '' || /^0+$/.test(hex)) return '';
  return checkId(hex, SPAN_ID_BYTES, 'parentSpanId');
}

/** An int64 attribute value: a number when it is safe, else an exact bigint. */
export function int64Value(value: bigint): AttrValue {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** Sets one attribute, the key `__proto__` included. */
export function setAttribute(target: Attrs, key: string, value: AttrValue): void {
  // Object.defineProperty keeps the key "__proto__" an ordinary attribute. Only that key needs it:
  // defining every key that way turns the objects into slow dictionaries.
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** An OTLP status code; unknown ones read as UNSET. */
export function statusCode(code: number): SpanStatusCode {
  if (code === SpanStatusCode.OK || code === SpanStatusCode.ERROR) return code;
  return SpanStatusCode.UNSET;
}

/** Notes event `i`'s dropped attribute count; the array is only made for a span that drops some. */
export function noteEventDrop(drops: number[] | undefined, i: number, dropped: number): number[] | undefined {
  if (dropped === 0) return drops;
  const out = drops ?? [];
  out[i] = dropped;
  return out;
}
