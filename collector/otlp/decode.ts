/**
 * OTLP trace request → ReadableSpan[]: the one place that reads OTLP, for the HTTP
 * receiver and for `canceltrace import/check` dumps alike.
 *
 * Both encodings are read into the same span shape. A span that cannot be taken (bad or
 * zero ids, a missing start, an end before its start, a malformed value) is rejected on
 * its own and counted, so the rest of the request still goes through (OTLP partial
 * success). Only a body that is not an ExportTraceServiceRequest at all throws
 * {@link OtlpDecodeError}.
 */

import type { Attributes, HrTime, Link, SpanContext, SpanStatus } from '@opentelemetry/api';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import type { DetectedResourceAttributes, Resource } from '@opentelemetry/resources';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Attrs, AttrValue, EventRecord, LinkRecord } from '../../contract/records.js';
import type { DecodedParts } from './decodedParts.js';
import { attachDecodedParts } from './decodedParts.js';
import { OtlpDecodeError } from './OtlpDecodeError.js';
import { parseJsonExact } from './parseJsonExact.js';
import type { WireSpan } from './readWireRequest.js';
import { MAX_ANY_VALUE_DEPTH, readWireRequest } from './readWireRequest.js';
import type { LongLike } from './schema.js';
import { longToBigInt, OtlpTypes, SPAN_FLAGS } from './schema.js';

export { OtlpDecodeError } from './OtlpDecodeError.js';
export { MAX_ANY_VALUE_DEPTH } from './readWireRequest.js';

/** The two OTLP/HTTP body encodings. */
export type OtlpEncoding = 'protobuf' | 'json';

/** What one request yielded. */
export interface DecodedRequest {
  /** The spans that were taken, in request order. */
  spans: ReadableSpan[];
  /** How many spans were refused. */
  rejected: number;
  /** Why, one line per refused span (at most {@link MAX_ERROR_MESSAGES}). */
  errors: string[];
}

/** Options of {@link decodeTraceRequest}. */
export interface DecodeOptions {
  /**
   * Read canonical protobuf bodies with the direct wire reader (default true). false reads every
   * body through protobufjs: the reference the direct reader is tested against.
   */
  directWireReader?: boolean;
}

/** At most this many rejection messages are kept; `rejected` still counts them all. */
export const MAX_ERROR_MESSAGES = 20;

const TRACE_ID_BYTES = 16;
const SPAN_ID_BYTES = 8;
const NANOS_PER_SECOND = 1_000_000_000n;
/** Longest span name quoted in a rejection message. */
const MAX_NAME_IN_MESSAGE = 80;

/**
 * Decodes one OTLP ExportTraceServiceRequest body.
 *
 * @param body the raw (already decompressed) request body
 * @param encoding `protobuf` for application/x-protobuf, `json` for application/json
 * @param options see {@link DecodeOptions}
 * @throws {@link OtlpDecodeError} when the body as a whole cannot be read
 */
export function decodeTraceRequest(body: Uint8Array, encoding: OtlpEncoding, options: DecodeOptions = {}): DecodedRequest {
  const out = new Collector();
  if (encoding === 'protobuf') readProtobuf(body, out, options.directWireReader ?? true);
  else readJson(body, out);
  return { spans: out.spans, rejected: out.rejected, errors: out.errors };
}

// ---------------------------------------------------------------------------------------------
// Shared span building

/** A span refused on its own; caught per span. */
class SpanRejected extends Error {}

class Collector {
  spans: ReadableSpan[] = [];
  rejected = 0;
  errors: string[] = [];

  reject(count: number, message: string): void {
    this.rejected += count;
    if (this.errors.length < MAX_ERROR_MESSAGES) this.errors.push(message);
  }
}

/** The parts of a span once its encoding is read; ids are validated lower-case hex. */
interface SpanParts {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState: string;
  flags: number;
  name: string;
  /** OTLP SpanKind number */
  kind: number;
  start: bigint;
  end: bigint;
  attributes: Attrs;
  droppedAttributesCount: number;
  /** exact times; the ReadableSpan's HrTime events are made from these */
  events: DecodedEvent[];
  droppedEventsCount: number;
  links: DecodedLink[];
  droppedLinksCount: number;
  status: SpanStatus;
}

/** An event as read, before its ReadableSpan form. */
interface DecodedEvent extends EventRecord {
  droppedAttributesCount: number;
}

/** A link in both forms: the ReadableSpan's and the record's (sharing the attributes). */
interface DecodedLink {
  link: Link;
  record: LinkRecord;
}

/** A scope group's scope in both forms, built once and shared by all of its spans. */
interface ScopeParts {
  span: ReadableSpan['instrumentationScope'];
  record: DecodedParts['scope'];
}

function scopeParts(name: string, version: string, schemaUrl: string): ScopeParts {
  const span: { name: string; version?: string; schemaUrl?: string } = { name };
  if (version) span.version = version;
  if (schemaUrl) span.schemaUrl = schemaUrl;
  return { span, record: version ? { name, version } : { name } };
}

function hrTime(ns: bigint): HrTime {
  return [Number(ns / NANOS_PER_SECOND), Number(ns % NANOS_PER_SECOND)];
}

/** OTLP SpanKind (0 unspecified, 1 internal … 5 consumer) → API SpanKind (internal = 0 …). */
function apiKind(otlpKind: number): SpanKind {
  switch (otlpKind) {
    case 2:
      return SpanKind.SERVER;
    case 3:
      return SpanKind.CLIENT;
    case 4:
      return SpanKind.PRODUCER;
    case 5:
      return SpanKind.CONSUMER;
    default:
      // The spec lets receivers read UNSPECIFIED (and unknown future kinds) as INTERNAL.
      return SpanKind.INTERNAL;
  }
}

function traceState(value: string): TraceState | undefined {
  return value ? new TraceState(value) : undefined;
}

function remoteBit(flags: number): boolean | undefined {
  if ((flags & SPAN_FLAGS.contextHasIsRemoteMask) === 0) return undefined;
  return (flags & SPAN_FLAGS.contextIsRemoteMask) !== 0;
}

function buildSpan(p: SpanParts, resource: Resource, scope: ScopeParts): ReadableSpan {
  if (p.start === 0n) throw new SpanRejected('startTimeUnixNano is missing');
  if (p.end < p.start) throw new SpanRejected(`ends before it starts (start ${p.start}, end ${p.end})`);
  const kind = apiKind(p.kind);
  const state = traceState(p.traceState);
  const context: SpanContext = { traceId: p.traceId, spanId: p.spanId, traceFlags: p.flags & SPAN_FLAGS.traceFlagsMask };
  if (state) context.traceState = state;
  let parentSpanContext: SpanContext | undefined;
  if (p.parentSpanId !== undefined) {
    parentSpanContext = { traceId: p.traceId, spanId: p.parentSpanId, traceFlags: context.traceFlags };
    const remote = remoteBit(p.flags);
    if (remote !== undefined) parentSpanContext.isRemote = remote;
  }
  const span: ReadableSpan = {
    name: p.name,
    kind,
    spanContext: () => context,
    parentSpanContext,
    startTime: hrTime(p.start),
    endTime: hrTime(p.end),
    duration: hrTime(p.end - p.start),
    status: p.status,
    // Values stay exact (bigint for large int64, plain objects for kvlists): wider than the
    // API's Attributes type, as records.ts's AttrValue documents.
    attributes: p.attributes as Attributes,
    links: p.links.map((l) => l.link),
    events: p.events.map((e) => ({
      name: e.name,
      time: hrTime(e.time),
      attributes: e.attributes as Attributes,
      droppedAttributesCount: e.droppedAttributesCount,
    })),
    ended: true,
    resource,
    instrumentationScope: scope.span,
    droppedAttributesCount: p.droppedAttributesCount,
    droppedEventsCount: p.droppedEventsCount,
    droppedLinksCount: p.droppedLinksCount,
  };
  // The same values in record form, as toSpanRecord would read them back from the span above.
  const parts: DecodedParts = {
    traceId: p.traceId,
    spanId: p.spanId,
    name: p.name,
    kind: kind + 1,
    startTime: p.start,
    endTime: p.end,
    attributes: p.attributes,
    events: p.events.map((e) => ({ name: e.name, time: e.time, attributes: e.attributes })),
    links: p.links.map((l) => l.record),
    // Every reader builds the status as { code } plus a non-empty message: already the record's form.
    status: p.status,
    scope: scope.record,
  };
  if (p.parentSpanId !== undefined) parts.parentSpanId = p.parentSpanId;
  return attachDecodedParts(span, parts);
}

/** A link from its validated ids, its flags (trace flags and remote bits) and its trace state. */
function linkOf(traceId: string, spanId: string, flags: number, rawTraceState: string, attributes: Attrs, droppedAttributesCount: number): DecodedLink {
  const context: SpanContext = { traceId, spanId, traceFlags: flags & SPAN_FLAGS.traceFlagsMask };
  const remote = remoteBit(flags);
  if (remote !== undefined) context.isRemote = remote;
  const state = traceState(rawTraceState);
  if (state) context.traceState = state;
  return {
    link: { context, attributes: attributes as Attributes, droppedAttributesCount },
    record: { traceId, spanId, attributes },
  };
}

function describeSpan(where: string, name: unknown): string {
  if (typeof name !== 'string' || name === '') return where;
  const shown = name.length > MAX_NAME_IN_MESSAGE ? `${name.slice(0, MAX_NAME_IN_MESSAGE)}…` : name;
  return `${where} ${JSON.stringify(shown)}`;
}

function toHex(bytes: Uint8Array | readonly number[] | undefined): string {
  // An absent bytes field decodes to protobufjs's shared default, which is a plain empty array.
  if (bytes === undefined || bytes.length === 0) return '';
  if (bytes instanceof Uint8Array) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  return Buffer.from(bytes).toString('hex');
}

function checkId(hex: string, bytes: number, field: string): string {
  if (hex.length !== bytes * 2) throw new SpanRejected(`${field} must be ${bytes} bytes, got ${hex.length / 2}`);
  if (/^0+$/.test(hex)) throw new SpanRejected(`${field} is all zeros`);
  return hex;
}

/** Parent ids are optional: empty or all-zero means a root span. */
function optionalParent(hex: string): string | undefined {
  if (hex === '' || /^0+$/.test(hex)) return undefined;
  return checkId(hex, SPAN_ID_BYTES, 'parentSpanId');
}

function int64Value(value: bigint): AttrValue {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function setAttribute(target: Attrs, key: string, value: AttrValue): void {
  // Object.defineProperty keeps the key "__proto__" an ordinary attribute. Only that key needs it:
  // defining every key that way turns the objects into slow dictionaries.
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * Decodes spans of one resource/scope group; each failure rejects only that span.
 * `read` turns one encoded span into parts or throws SpanRejected.
 */
function takeSpans<S>(spans: readonly S[], where: string, out: Collector, nameOf: (s: S) => unknown, read: (s: S) => ReadableSpan): void {
  spans.forEach((s, i) => {
    try {
      out.spans.push(read(s));
    } catch (err) {
      if (!(err instanceof SpanRejected)) throw err;
      out.reject(1, `${describeSpan(`${where}.spans[${i}]`, nameOf(s))}: ${err.message}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Protobuf

interface PbAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: LongLike | number;
  doubleValue?: number;
  arrayValue?: { values?: PbAnyValue[] };
  kvlistValue?: { values?: PbKeyValue[] };
  bytesValue?: Uint8Array;
}
interface PbKeyValue {
  key: string;
  value?: PbAnyValue | null;
}
interface PbEvent {
  timeUnixNano: LongLike | number;
  name: string;
  attributes: PbKeyValue[];
  droppedAttributesCount: number;
}
interface PbLink {
  traceId: Uint8Array;
  spanId: Uint8Array;
  traceState: string;
  attributes: PbKeyValue[];
  droppedAttributesCount: number;
  flags: number;
}
interface PbSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  traceState: string;
  parentSpanId: Uint8Array;
  flags: number;
  name: string;
  kind: number;
  startTimeUnixNano: LongLike | number;
  endTimeUnixNano: LongLike | number;
  attributes: PbKeyValue[];
  droppedAttributesCount: number;
  events: PbEvent[];
  droppedEventsCount: number;
  links: PbLink[];
  droppedLinksCount: number;
  status?: { message: string; code: number } | null;
}
interface PbScopeSpans {
  scope?: { name: string; version: string } | null;
  spans: PbSpan[];
  schemaUrl: string;
}
interface PbResourceSpans {
  resource?: { attributes: PbKeyValue[] } | null;
  scopeSpans: PbScopeSpans[];
  schemaUrl: string;
}

const has = (o: object, key: string): boolean => Object.hasOwn(o, key);

function pbAny(v: PbAnyValue | null | undefined, depth: number): AttrValue {
  if (!v) return null;
  if (depth > MAX_ANY_VALUE_DEPTH) throw new SpanRejected(`attribute value nested deeper than ${MAX_ANY_VALUE_DEPTH}`);
  // Decoded oneof members are own properties; unset ones only exist as prototype defaults.
  if (has(v, 'stringValue')) return v.stringValue as string;
  if (has(v, 'boolValue')) return v.boolValue as boolean;
  if (has(v, 'intValue')) return int64Value(longToBigInt(v.intValue, true));
  if (has(v, 'doubleValue')) return v.doubleValue as number;
  if (has(v, 'arrayValue')) return (v.arrayValue?.values ?? []).map((x) => pbAny(x, depth + 1));
  if (has(v, 'kvlistValue')) return pbAttrs(v.kvlistValue?.values ?? [], depth + 1);
  if (has(v, 'bytesValue')) return Buffer.from(v.bytesValue as Uint8Array).toString('base64');
  return null;
}

function pbAttrs(list: readonly PbKeyValue[], depth = 0): Attrs {
  const attrs: Attrs = {};
  for (const kv of list) setAttribute(attrs, kv.key, pbAny(kv.value, depth));
  return attrs;
}

function pbSpan(s: PbSpan, resource: Resource, scope: ScopeParts): ReadableSpan {
  const traceId = checkId(toHex(s.traceId), TRACE_ID_BYTES, 'traceId');
  const spanId = checkId(toHex(s.spanId), SPAN_ID_BYTES, 'spanId');
  const events: DecodedEvent[] = s.events.map((e) => ({
    name: e.name,
    time: longToBigInt(e.timeUnixNano, false),
    attributes: pbAttrs(e.attributes),
    droppedAttributesCount: e.droppedAttributesCount,
  }));
  const links: DecodedLink[] = s.links.map((l, i) =>
    checkedLink(toHex(l.traceId), toHex(l.spanId), l.flags, l.traceState, pbAttrs(l.attributes), l.droppedAttributesCount, i),
  );
  const status: SpanStatus = { code: statusCode(s.status?.code ?? 0) };
  if (s.status?.message) status.message = s.status.message;
  const parts: SpanParts = {
    traceId,
    spanId,
    traceState: s.traceState,
    flags: s.flags,
    name: s.name,
    kind: s.kind,
    start: longToBigInt(s.startTimeUnixNano, false),
    end: longToBigInt(s.endTimeUnixNano, false),
    attributes: pbAttrs(s.attributes),
    droppedAttributesCount: s.droppedAttributesCount,
    events,
    droppedEventsCount: s.droppedEventsCount,
    links,
    droppedLinksCount: s.droppedLinksCount,
    status,
  };
  const parent = optionalParent(toHex(s.parentSpanId));
  if (parent !== undefined) parts.parentSpanId = parent;
  return buildSpan(parts, resource, scope);
}

/** Link `i` of a span from its hex ids (validated), flags and trace state. */
function checkedLink(
  traceIdHex: string,
  spanIdHex: string,
  flags: number,
  rawTraceState: string,
  attributes: Attrs,
  droppedAttributesCount: number,
  i: number,
): DecodedLink {
  const traceId = checkId(traceIdHex, TRACE_ID_BYTES, `links[${i}].traceId`);
  const spanId = checkId(spanIdHex, SPAN_ID_BYTES, `links[${i}].spanId`);
  return linkOf(traceId, spanId, flags, rawTraceState, attributes, droppedAttributesCount);
}

function statusCode(code: number): SpanStatusCode {
  if (code === SpanStatusCode.OK || code === SpanStatusCode.ERROR) return code;
  return SpanStatusCode.UNSET;
}

/** Converts a span of the direct wire reader; the same checks, in the same order, as {@link pbSpan}. */
function wireSpan(s: WireSpan, resource: Resource, scope: ScopeParts): ReadableSpan {
  const traceId = checkId(s.traceId, TRACE_ID_BYTES, 'traceId');
  const spanId = checkId(s.spanId, SPAN_ID_BYTES, 'spanId');
  const events: DecodedEvent[] = s.events;
  const links: DecodedLink[] = s.links.map((l, i) => checkedLink(l.traceId, l.spanId, l.flags, l.traceState, l.attributes, l.droppedAttributesCount, i));
  const status: SpanStatus = { code: statusCode(s.statusCode) };
  if (s.statusMessage) status.message = s.statusMessage;
  const parts: SpanParts = {
    traceId,
    spanId,
    traceState: s.traceState,
    flags: s.flags,
    name: s.name,
    kind: s.kind,
    start: s.start,
    end: s.end,
    attributes: s.attributes,
    droppedAttributesCount: s.droppedAttributesCount,
    events,
    droppedEventsCount: s.droppedEventsCount,
    links,
    droppedLinksCount: s.droppedLinksCount,
    status,
  };
  const parent = optionalParent(s.parentSpanId);
  if (parent !== undefined) parts.parentSpanId = parent;
  return buildSpan(parts, resource, scope);
}

function readProtobuf(body: Uint8Array, out: Collector, direct: boolean): void {
  // A Buffer view (no copy): protobufjs then uses its BufferReader, whose strings come from
  // Node's native UTF-8 decoder instead of a JavaScript loop; the wire reader needs one too.
  const view = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const wire = direct ? readWireRequest(view) : undefined;
  if (wire !== undefined) {
    wire.forEach((rs, r) => {
      const resource = makeResource(rs.attributes, rs.schemaUrl);
      rs.scopeSpans.forEach((ss, k) => {
        const scope = scopeParts(ss.name, ss.version, ss.schemaUrl);
        takeSpans(
          ss.spans,
          `resourceSpans[${r}].scopeSpans[${k}]`,
          out,
          (s) => s.name,
          (s) => wireSpan(s, resource, scope),
        );
      });
    });
    return;
  }
  let request: { resourceSpans: PbResourceSpans[] };
  try {
    request = OtlpTypes.ExportTraceServiceRequest.decode(view) as unknown as { resourceSpans: PbResourceSpans[] };
  } catch (err) {
    throw new OtlpDecodeError(`body is not a valid protobuf ExportTraceServiceRequest: ${(err as Error).message}`, { cause: err });
  }
  request.resourceSpans.forEach((rs, r) => {
    const whereR = `resourceSpans[${r}]`;
    let resource: Resource;
    try {
      resource = makeResource(pbAttrs(rs.resource?.attributes ?? []), rs.schemaUrl);
    } catch (err) {
      if (!(err instanceof SpanRejected)) throw err;
      out.reject(countPb(rs), `${whereR}.resource: ${err.message}`);
      return;
    }
    rs.scopeSpans.forEach((ss, k) => {
      const scope = scopeParts(ss.scope?.name ?? '', ss.scope?.version ?? '', ss.schemaUrl);
      takeSpans(
        ss.spans,
        `${whereR}.scopeSpans[${k}]`,
        out,
        (s) => s.name,
        (s) => pbSpan(s, resource, scope),
      );
    });
  });
}

function countPb(rs: PbResourceSpans): number {
  return rs.scopeSpans.reduce((n, ss) => n + ss.spans.length, 0);
}

function makeResource(attrs: Attrs, schemaUrl: string | undefined): Resource {
  return resourceFromAttributes(attrs as DetectedResourceAttributes, schemaUrl ? { schemaUrl } : undefined);
}

// ---------------------------------------------------------------------------------------------
// JSON (OTLP/JSON: lowerCamelCase keys, hex ids, int64 as string or number, enums as integers)

type Json = unknown;
type JsonObject = Record<string, Json>;

const isObject = (v: Json): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads `camel`, else its snake_case twin (the proto field name, which protobuf JSON also accepts). */
function field(o: JsonObject, camel: string): Json {
  const v = o[camel];
  if (v !== undefined) return v;
  let snake = SNAKE_NAMES.get(camel);
  if (snake === undefined) {
    // Optional fields are absent from most spans: the snake_case name is made once per field name.
    snake = camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    SNAKE_NAMES.set(camel, snake);
  }
  return o[snake];
}

/** snake_case twins of the camelCase field names read so far (a fixed, small set). */
const SNAKE_NAMES = new Map<string, string>();

function jsonArray(o: JsonObject, camel: string, where: string, onError: (m: string) => never): Json[] {
  const v = field(o, camel);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) onError(`${where}.${camel} must be an array`);
  return v as Json[];
}

function structural(message: string): never {
  throw new OtlpDecodeError(message);
}

function spanLevel(message: string): never {
  throw new SpanRejected(message);
}

function jsonString(o: JsonObject, camel: string): string {
  const v = field(o, camel);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') spanLevel(`${camel} must be a string`);
  return v;
}

/** uint32 / fixed32 as a JSON number or decimal string. */
function jsonUint32(o: JsonObject, camel: string): number {
  const v = field(o, camel);
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) spanLevel(`${camel} must be an unsigned 32-bit integer`);
  return n;
}

/** fixed64 / uint64 as a decimal string or JSON number (unsafe ones were quoted before parsing). */
function jsonUint64(o: JsonObject, camel: string): bigint {
  const v = field(o, camel);
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'string' && /^\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  return spanLevel(`${camel} must be an unsigned integer (decimal string or number), got ${JSON.stringify(v)}`);
}

function jsonInt64(v: Json): AttrValue {
  if (typeof v === 'string' && /^-?\d+$/.test(v)) {
    const b = BigInt(v);
    if (b === BigInt.asIntN(64, b)) return int64Value(b);
  }
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  return spanLevel(`intValue must be a 64-bit integer, got ${JSON.stringify(v)}`);
}

function jsonDouble(v: Json): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    const n = Number(v);
    if (v.trim() !== '' && Number.isFinite(n)) return n;
  }
  return spanLevel(`doubleValue must be a number, got ${JSON.stringify(v)}`);
}

const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

/**
 * An id as OTLP/JSON writes it: hex (any case). Standard protobuf JSON would write bytes as
 * base64, and some senders do; that form is unambiguous (24 or 12 characters) and accepted.
 */
function jsonId(o: JsonObject, camel: string): string {
  const v = field(o, camel);
  if (v === undefined || v === null || v === '') return '';
  if (typeof v !== 'string') spanLevel(`${camel} must be a hex string`);
  if (/^[0-9a-fA-F]*$/.test(v) && v.length % 2 === 0) return v.toLowerCase();
  if (BASE64.test(v) && (v.length === 24 || v.length === 12)) return Buffer.from(v, 'base64').toString('hex');
  return spanLevel(`${camel} must be hex, got ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`);
}

function jsonAny(v: Json, depth: number): AttrValue {
  if (v === undefined || v === null) return null;
  if (!isObject(v)) spanLevel('attribute value must be an AnyValue object');
  if (depth > MAX_ANY_VALUE_DEPTH) spanLevel(`attribute value nested deeper than ${MAX_ANY_VALUE_DEPTH}`);
  let x = field(v, 'stringValue');
  if (x !== undefined) {
    if (typeof x !== 'string') spanLevel('stringValue must be a string');
    return x;
  }
  x = field(v, 'boolValue');
  if (x !== undefined) {
    if (typeof x !== 'boolean') spanLevel('boolValue must be true or false');
    return x;
  }
  x = field(v, 'intValue');
  if (x !== undefined) return jsonInt64(x);
  x = field(v, 'doubleValue');
  if (x !== undefined) return jsonDouble(x);
  x = field(v, 'arrayValue');
  if (x !== undefined) {
    if (!isObject(x)) spanLevel('arrayValue must be an object');
    return jsonArray(x, 'values', 'arrayValue', spanLevel).map((e) => jsonAny(e, depth + 1));
  }
  x = field(v, 'kvlistValue');
  if (x !== undefined) {
    if (!isObject(x)) spanLevel('kvlistValue must be an object');
    return jsonAttrs(jsonArray(x, 'values', 'kvlistValue', spanLevel), depth + 1);
  }
  x = field(v, 'bytesValue');
  if (x !== undefined) {
    if (typeof x !== 'string' || !BASE64.test(x)) spanLevel('bytesValue must be base64');
    // Normalised through a decode so both base64 alphabets arrive the same.
    return Buffer.from(x, 'base64').toString('base64');
  }
  return null;
}

function jsonAttrs(list: readonly Json[], depth = 0): Attrs {
  const attrs: Attrs = {};
  for (const kv of list) {
    if (!isObject(kv) || typeof kv.key !== 'string') spanLevel('attribute must be {key, value} with a string key');
    setAttribute(attrs, kv.key, jsonAny(kv.value, depth));
  }
  return attrs;
}

function jsonAttrsOf(o: JsonObject, camel = 'attributes'): Attrs {
  return jsonAttrs(jsonArray(o, camel, camel, spanLevel));
}

const KIND_NAMES: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};

const STATUS_NAMES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

function jsonEnum(o: JsonObject, camel: string, names: Record<string, number>): number {
  const v = field(o, camel);
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string') {
    if (/^\d+$/.test(v)) return Number(v);
    const n = names[v.toUpperCase()];
    if (n !== undefined) return n;
  }
  return spanLevel(`${camel} must be an enum number or name, got ${JSON.stringify(v)}`);
}

function jsonSpan(s: Json, resource: Resource, scope: ScopeParts): ReadableSpan {
  if (!isObject(s)) spanLevel('span must be an object');
  const traceId = checkId(jsonId(s, 'traceId'), TRACE_ID_BYTES, 'traceId');
  const spanId = checkId(jsonId(s, 'spanId'), SPAN_ID_BYTES, 'spanId');
  const events: DecodedEvent[] = jsonArray(s, 'events', 'span', spanLevel).map((e, i) => {
    if (!isObject(e)) spanLevel(`events[${i}] must be an object`);
    return {
      name: jsonString(e, 'name'),
      time: jsonUint64(e, 'timeUnixNano'),
      attributes: jsonAttrsOf(e),
      droppedAttributesCount: jsonUint32(e, 'droppedAttributesCount'),
    };
  });
  const links: DecodedLink[] = jsonArray(s, 'links', 'span', spanLevel).map((l, i) => {
    if (!isObject(l)) spanLevel(`links[${i}] must be an object`);
    // Not checkedLink: it takes the attributes already read, and here a bad id is reported before bad attributes.
    const flags = jsonUint32(l, 'flags');
    const traceId = checkId(jsonId(l, 'traceId'), TRACE_ID_BYTES, `links[${i}].traceId`);
    const spanId = checkId(jsonId(l, 'spanId'), SPAN_ID_BYTES, `links[${i}].spanId`);
    return linkOf(traceId, spanId, flags, jsonString(l, 'traceState'), jsonAttrsOf(l), jsonUint32(l, 'droppedAttributesCount'));
  });
  const rawStatus = field(s, 'status');
  const status: SpanStatus = { code: SpanStatusCode.UNSET };
  if (isObject(rawStatus)) {
    status.code = statusCode(jsonEnum(rawStatus, 'code', STATUS_NAMES));
    const message = jsonString(rawStatus, 'message');
    if (message) status.message = message;
  }
  const parts: SpanParts = {
    traceId,
    spanId,
    traceState: jsonString(s, 'traceState'),
    flags: jsonUint32(s, 'flags'),
    name: jsonString(s, 'name'),
    kind: jsonEnum(s, 'kind', KIND_NAMES),
    start: jsonUint64(s, 'startTimeUnixNano'),
    end: jsonUint64(s, 'endTimeUnixNano'),
    attributes: jsonAttrsOf(s),
    droppedAttributesCount: jsonUint32(s, 'droppedAttributesCount'),
    events,
    droppedEventsCount: jsonUint32(s, 'droppedEventsCount'),
    links,
    droppedLinksCount: jsonUint32(s, 'droppedLinksCount'),
    status,
  };
  const parent = optionalParent(jsonId(s, 'parentSpanId'));
  if (parent !== undefined) parts.parentSpanId = parent;
  return buildSpan(parts, resource, scope);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function readJson(body: Uint8Array, out: Collector): void {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch (err) {
    throw new OtlpDecodeError('body is not valid UTF-8 JSON', { cause: err });
  }
  if (text.trim() === '') throw new OtlpDecodeError('body is empty; an OTLP/JSON request is at least {}');
  let request: Json;
  try {
    request = parseJsonExact(text);
  } catch (err) {
    throw new OtlpDecodeError(`body is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  readJsonRequest(request, out);
}

/**
 * Decodes an OTLP/JSON ExportTraceServiceRequest that is already parsed (with
 * {@link parseJsonExact}, so that large integers arrived as exact strings). Dump files use it
 * to avoid parsing a file twice.
 *
 * @throws {@link OtlpDecodeError} when the value is not a request
 */
export function decodeJsonTraceRequest(request: unknown): DecodedRequest {
  const out = new Collector();
  readJsonRequest(request, out);
  return { spans: out.spans, rejected: out.rejected, errors: out.errors };
}

function readJsonRequest(request: Json, out: Collector): void {
  if (!isObject(request)) structural('body must be a JSON object (an ExportTraceServiceRequest)');
  jsonArray(request, 'resourceSpans', 'request', structural).forEach((rs, r) => {
    const whereR = `resourceSpans[${r}]`;
    if (!isObject(rs)) structural(`${whereR} must be an object`);
    const scopeSpans = jsonArray(rs, 'scopeSpans', whereR, structural).map((ss, k) => {
      if (!isObject(ss)) structural(`${whereR}.scopeSpans[${k}] must be an object`);
      return { ss, spans: jsonArray(ss, 'spans', `${whereR}.scopeSpans[${k}]`, structural) };
    });
    let resource: Resource;
    try {
      const raw = field(rs, 'resource');
      const attrs = isObject(raw) ? jsonAttrsOf(raw) : {};
      const schemaUrl = field(rs, 'schemaUrl');
      resource = makeResource(attrs, typeof schemaUrl === 'string' ? schemaUrl : undefined);
    } catch (err) {
      if (!(err instanceof SpanRejected)) throw err;
      out.reject(
        scopeSpans.reduce((n, x) => n + x.spans.length, 0),
        `${whereR}.resource: ${err.message}`,
      );
      return;
    }
    scopeSpans.forEach(({ ss, spans }, k) => {
      const whereS = `${whereR}.scopeSpans[${k}]`;
      const rawScope = field(ss, 'scope');
      let scope: ScopeParts;
      try {
        const s = isObject(rawScope) ? rawScope : {};
        const schemaUrl = field(ss, 'schemaUrl');
        scope = scopeParts(jsonString(s, 'name'), jsonString(s, 'version'), typeof schemaUrl === 'string' ? schemaUrl : '');
      } catch (err) {
        if (!(err instanceof SpanRejected)) throw err;
        out.reject(spans.length, `${whereS}.scope: ${err.message}`);
        return;
      }
      takeSpans(
        spans,
        whereS,
        out,
        (s) => (isObject(s) ? field(s, 'name') : undefined),
        (s) => jsonSpan(s, resource, scope),
      );
    });
  });
}
