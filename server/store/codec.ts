import type { Attrs, AttrValue, EventRecord, LinkRecord, SpanRecord, SpanRole } from '../../contract/records.js';

/**
 * The stored JSON form of a {@link SpanRecord}. JSON has no bigint, no NaN/Infinity and no -0, so
 * those are written as tagged strings; a real string that happens to start with the tag is escaped,
 * so every value decodes to exactly what was encoded.
 */

/** Version of the stored JSON layout; bumped (with a migration) if the layout ever changes. */
export const SPAN_CODEC_VERSION = 1;

/** Marks a tagged string. A control character, so that escaping real strings is rare. */
const TAG = '\u0001';
const TAG_CODE = TAG.charCodeAt(0);
/** What `JSON.stringify` writes for {@link TAG}: its presence tells decode whether to look for tags. */
const TAG_IN_JSON = '\\u0001';
const TAG_BIGINT = `${TAG}n`;
const TAG_DOUBLE = `${TAG}d`;
const TAG_STRING = `${TAG}s`;

/** Deepest nesting of attribute arrays/maps accepted; deeper is certainly a cycle or garbage. */
const MAX_ATTR_DEPTH = 64;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ROLES: ReadonlySet<string> = new Set<SpanRole>(['task', 'shutdown', 'other']);

/** A record that cannot be stored (bad id, time out of range, unsupported attribute value). */
export class SpanCodecError extends Error {
  override readonly name = 'SpanCodecError';
  /** bad data: retrying the same spans cannot help */
  readonly permanent = true;
}

/** Encodes a span record as JSON text; throws {@link SpanCodecError} on a record it cannot keep exactly. */
export function encodeSpanRecord(span: SpanRecord): string {
  const where = checkRecord(span);
  const out: Record<string, unknown> = {
    v: SPAN_CODEC_VERSION,
    traceId: span.traceId,
    spanId: span.spanId,
    name: span.name,
    kind: span.kind,
    startTime: timeText(span.startTime, `${where}: startTime`),
    endTime: timeText(span.endTime, `${where}: endTime`),
    attributes: encodeAttrs(span.attributes, `${where}: attributes`),
    events: span.events.map((e: EventRecord, i) => ({
      name: e.name,
      time: timeText(e.time, `${where}: events[${i}].time`),
      attributes: encodeAttrs(e.attributes, `${where}: events[${i}].attributes`),
    })),
    links: span.links.map((l: LinkRecord, i) => ({
      traceId: l.traceId,
      spanId: l.spanId,
      attributes: encodeAttrs(l.attributes, `${where}: links[${i}].attributes`),
    })),
    status: span.status,
    resource: encodeAttrs(span.resource, `${where}: resource`),
    scope: span.scope,
    role: span.role,
    snapshot: span.snapshot === true,
    service: span.service,
    instance: span.instance,
  };
  if (span.parentSpanId !== undefined) out.parentSpanId = span.parentSpanId;
  return JSON.stringify(out);
}

/** Decodes what {@link encodeSpanRecord} wrote. */
export function decodeSpanRecord(json: string): SpanRecord {
  // biome-ignore lint/suspicious/noExplicitAny: the shape was written by this module's encoder and is read back field by field.
  const raw = JSON.parse(json) as Record<string, any>;
  if (raw.v !== SPAN_CODEC_VERSION) throw new SpanCodecError(`stored span record has unknown layout version ${String(raw.v)}`);
  // Most records carry no tagged value at all: skip walking their attributes.
  const tagged = json.includes(TAG_IN_JSON);
  const attrs = (a: Attrs): Attrs => (tagged ? (decodeValue(a) as Attrs) : a);
  const span: SpanRecord = {
    traceId: raw.traceId,
    spanId: raw.spanId,
    name: raw.name,
    kind: raw.kind,
    startTime: BigInt(raw.startTime),
    endTime: BigInt(raw.endTime),
    attributes: attrs(raw.attributes),
    // biome-ignore lint/suspicious/noExplicitAny: the shape was written by this module's encoder and is read back field by field.
    events: (raw.events as any[]).map((e) => ({ name: e.name, time: BigInt(e.time), attributes: attrs(e.attributes) })),
    // biome-ignore lint/suspicious/noExplicitAny: the shape was written by this module's encoder and is read back field by field.
    links: (raw.links as any[]).map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: attrs(l.attributes) })),
    status: raw.status,
    resource: attrs(raw.resource),
    scope: raw.scope,
    role: raw.role,
    snapshot: raw.snapshot,
    service: raw.service,
    instance: raw.instance,
  };
  if (raw.parentSpanId !== undefined) span.parentSpanId = raw.parentSpanId;
  return span;
}

function timeText(t: unknown, where: string): string {
  if (typeof t !== 'bigint') throw new SpanCodecError(`${where} must be a bigint (unix ns), got ${typeof t}`);
  // The store keeps times as SQLite INTEGER (int64); refuse here with a clear message rather than deep in SQLite.
  if (t < INT64_MIN || t > INT64_MAX) throw new SpanCodecError(`${where} ${t} does not fit in 64 bits`);
  return t.toString();
}

function encodeAttrs(attrs: Attrs, where: string): Record<string, unknown> {
  if (attrs === null || typeof attrs !== 'object' || Array.isArray(attrs)) {
    throw new SpanCodecError(`${where} must be an object`);
  }
  return encodeMap(attrs, where, 0);
}

function encodeMap(map: { [key: string]: AttrValue }, where: string, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(map)) setOwn(out, key, encodeValue(map[key], `${where}.${key}`, depth));
  return out;
}

function encodeValue(v: AttrValue, where: string, depth: number): unknown {
  switch (typeof v) {
    case 'string':
      return v.startsWith(TAG) ? TAG_STRING + v : v;
    case 'boolean':
      return v;
    case 'bigint':
      return TAG_BIGINT + v.toString();
    case 'number':
      // JSON would turn NaN/±Infinity into null and -0 into 0.
      return Number.isFinite(v) && !Object.is(v, -0) ? v : TAG_DOUBLE + String(Object.is(v, -0) ? '-0' : v);
    case 'object': {
      if (v === null) return null;
      if (depth >= MAX_ATTR_DEPTH) throw new SpanCodecError(`${where}: nested deeper than ${MAX_ATTR_DEPTH} levels`);
      if (Array.isArray(v)) return v.map((item, i) => encodeValue(item, `${where}[${i}]`, depth + 1));
      return encodeMap(v, where, depth + 1);
    }
    default:
      throw new SpanCodecError(`${where}: unsupported attribute value of type ${typeof v}`);
  }
}

function decodeValue(v: unknown): AttrValue {
  if (typeof v === 'string') {
    if (!v.startsWith(TAG)) return v;
    if (v.startsWith(TAG_STRING)) return v.slice(TAG_STRING.length);
    if (v.startsWith(TAG_BIGINT)) return BigInt(v.slice(TAG_BIGINT.length));
    if (v.startsWith(TAG_DOUBLE)) return Number(v.slice(TAG_DOUBLE.length));
    throw new SpanCodecError(`stored attribute has an unknown tag: ${JSON.stringify(v.slice(0, 2))}`);
  }
  if (v === null || typeof v !== 'object') return v as AttrValue;
  if (Array.isArray(v)) return v.map(decodeValue);
  const out: { [key: string]: AttrValue } = {};
  for (const key of Object.keys(v)) setOwn(out, key, decodeValue((v as Record<string, unknown>)[key]));
  return out;
}

/** Sets an own property, also for the key `__proto__` (which plain assignment would treat as the prototype). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

// ---------------------------------------------------------------------------------------------
// Row layout (schema version 3 on): the record column holds only what no other column holds.

/** Layout version of {@link encodeSpanBody}, the first element of every body it writes. */
export const SPAN_BODY_VERSION = 2;

/**
 * What a stored row keeps in its own columns: read from there instead of being repeated in the
 * body. The resource lives once per distinct resource in the resources table.
 */
export interface SpanRowColumns {
  traceId: string;
  spanId: string;
  role: SpanRole;
  service: string;
  instance: string;
  startTime: bigint;
  endTime: bigint;
  snapshot: boolean;
}

/**
 * Encodes the body of a stored row: a positional JSON array
 * `[2, name, kind, attributes, events, links, status, scope, parentSpanId | null]` with events as
 * `[name, time, attributes]`, links as `[traceId, spanId, attributes]`, status as `code` or
 * `[code, message]` and scope as `[name]` or `[name, version]`. Positions instead of keys make it
 * smaller and quicker to parse; attributes that JSON can hold as they are are written without a copy.
 * Validates like {@link encodeSpanRecord} and throws {@link SpanCodecError} on the same records.
 */
export function encodeSpanBody(span: SpanRecord): string {
  const where = checkRecord(span);
  timeText(span.startTime, `${where}: startTime`);
  timeText(span.endTime, `${where}: endTime`);
  const body: unknown[] = [
    SPAN_BODY_VERSION,
    span.name,
    span.kind,
    bodyAttrs(span.attributes, `${where}: attributes`),
    span.events.map((e: EventRecord, i) => [
      e.name,
      timeText(e.time, `${where}: events[${i}].time`),
      bodyAttrs(e.attributes, `${where}: events[${i}].attributes`),
    ]),
    span.links.map((l: LinkRecord, i) => [l.traceId, l.spanId, bodyAttrs(l.attributes, `${where}: links[${i}].attributes`)]),
    span.status.message === undefined ? span.status.code : [span.status.code, span.status.message],
    span.scope.version === undefined ? [span.scope.name] : [span.scope.name, span.scope.version],
    span.parentSpanId ?? null,
  ];
  return JSON.stringify(body);
}

/** Decodes a stored row: a body of {@link encodeSpanBody}, or a whole record of {@link encodeSpanRecord} (rows of older versions). */
export function decodeSpanRow(columns: SpanRowColumns, body: string, resource: Attrs | undefined): SpanRecord {
  if (body.charCodeAt(0) === 0x7b /* { */) return decodeSpanRecord(body);
  // biome-ignore lint/suspicious/noExplicitAny: the shape was written by this module's encoder and is read back field by field.
  const raw = JSON.parse(body) as any[];
  if (raw[0] !== SPAN_BODY_VERSION) throw new SpanCodecError(`stored span body has unknown layout version ${String(raw[0])}`);
  if (resource === undefined) throw new SpanCodecError(`stored span ${columns.traceId}/${columns.spanId} has no resource`);
  const tagged = body.includes(TAG_IN_JSON);
  const attrs = (a: Attrs): Attrs => (tagged ? (decodeValue(a) as Attrs) : a);
  const status = raw[6];
  const scope = raw[7] as string[];
  const span: SpanRecord = {
    traceId: columns.traceId,
    spanId: columns.spanId,
    name: raw[1],
    kind: raw[2],
    startTime: columns.startTime,
    endTime: columns.endTime,
    attributes: attrs(raw[3]),
    // biome-ignore lint/suspicious/noExplicitAny: the shape was written by this module's encoder and is read back field by field.
    events: (raw[4] as any[]).map((e) => ({ name: e[0], time: BigInt(e[1]), attributes: attrs(e[2]) })),
    // biome-ignore lint/suspicious/noExplicitAny: the shape was written by this module's encoder and is read back field by field.
    links: (raw[5] as any[]).map((l) => ({ traceId: l[0], spanId: l[1], attributes: attrs(l[2]) })),
    status: typeof status === 'number' ? { code: status } : { code: status[0], message: status[1] },
    resource,
    scope: scope.length > 1 ? { name: scope[0], version: scope[1] } : { name: scope[0] },
    role: columns.role,
    snapshot: columns.snapshot,
    service: columns.service,
    instance: columns.instance,
  };
  if (raw[8] !== null) span.parentSpanId = raw[8];
  return span;
}

/** Encodes resource attributes as JSON text (the resources table), exactly like a record's attributes. */
export function encodeResource(resource: Attrs): string {
  return JSON.stringify(bodyAttrs(resource, 'resource'));
}

/** Decodes what {@link encodeResource} wrote. */
export function decodeResource(json: string): Attrs {
  const raw = JSON.parse(json) as Attrs;
  return json.includes(TAG_IN_JSON) ? (decodeValue(raw) as Attrs) : raw;
}

/** Checks ids and role; returns the record's name for messages. */
function checkRecord(span: SpanRecord): string {
  const where = `span ${String(span.traceId)}/${String(span.spanId)}`;
  if (typeof span.traceId !== 'string' || !TRACE_ID.test(span.traceId)) {
    throw new SpanCodecError(`${where}: trace id must be 32 lower-case hex digits`);
  }
  if (typeof span.spanId !== 'string' || !SPAN_ID.test(span.spanId)) {
    throw new SpanCodecError(`${where}: span id must be 16 lower-case hex digits`);
  }
  if (!ROLES.has(span.role)) throw new SpanCodecError(`${where}: unknown role ${String(span.role)}`);
  return where;
}

/** The attributes as JSON can hold them: the same object when nothing needs a tag, else a tagged copy. */
function bodyAttrs(attrs: Attrs, where: string): unknown {
  if (attrs === null || typeof attrs !== 'object' || Array.isArray(attrs)) throw new SpanCodecError(`${where} must be an object`);
  return plainMap(attrs, 0) ? attrs : encodeMap(attrs, where, 0);
}

/** True when JSON.stringify writes `map` exactly (no bigint, NaN, ±Infinity, -0, tag-like string, nor anything unsupported). */
function plainMap(map: { [key: string]: AttrValue }, depth: number): boolean {
  for (const key of Object.keys(map)) if (!plainValue(map[key], depth)) return false;
  return true;
}

function plainValue(v: AttrValue, depth: number): boolean {
  switch (typeof v) {
    case 'string':
      return v.charCodeAt(0) !== TAG_CODE;
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v) && !Object.is(v, -0);
    case 'object':
      if (v === null) return true;
      // Too deep is left to encodeMap, which says why.
      if (depth >= MAX_ATTR_DEPTH) return false;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!(i in v) || !plainValue(v[i], depth + 1)) return false;
        return true;
      }
      return plainMap(v, depth + 1);
    default:
      return false;
  }
}
