/**
 * An OTLP/JSON ExportTraceServiceRequest re-encoded as OTLP protobuf, for forwarding: what the
 * sender sent, field for field, in the encoding every OTLP/HTTP receiver takes.
 */
import { parseJsonExact } from '../otlp/parseJsonExact.js';
import { jsonIdHex } from '../otlp/readJson.js';
import { OtlpTypes } from '../otlp/schema.js';

/**
 * OTLP/JSON writes these `bytes` fields as hex (some senders as base64); protobuf's JSON mapping (and
 * protobufjs) expects base64. Both are read as decode reads them ({@link jsonIdHex}).
 */
const HEX_ID_FIELDS: ReadonlySet<string> = new Set(['traceId', 'spanId', 'parentSpanId']);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Re-encodes an OTLP/JSON trace request body (already decompressed) as protobuf.
 * @throws when the body is not JSON (the receiver refused such a body before it got here)
 */
export function jsonToProtobuf(body: Uint8Array): Uint8Array {
  const request = normalise(parseJsonExact(utf8.decode(body)), '');
  return OtlpTypes.ExportTraceServiceRequest.encode(OtlpTypes.ExportTraceServiceRequest.fromObject(request as Record<string, unknown>)).finish();
}

/** lowerCamelCase keys (OTLP/JSON receivers accept snake_case too), hex or base64 ids as bytes. */
function normalise(value: unknown, key: string): unknown {
  if (Array.isArray(value)) return value.map((v) => normalise(v, ''));
  if (typeof value === 'string' && HEX_ID_FIELDS.has(key)) return Buffer.from(jsonIdHex(value) ?? value, 'hex');
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const camel = k.includes('_') ? k.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()) : k;
    // No OTLP field is called that; assigning it would replace the object's prototype.
    if (camel === '__proto__') continue;
    out[camel] = normalise(v, camel);
  }
  return out;
}
