/**
 * OTLP/JSON bodies: lowerCamelCase keys (or their snake_case twins), hex ids, int64 as string or
 * number, enums as integers or names. Large integers are read exactly ({@link parseJsonExact}).
 */
import type { Resource } from '@opentelemetry/resources';
import type { Attrs, AttrValue, EventRecord } from '../../contract/records.js';
import type { LinkParts, SpanGroup, SpanParts } from './buildSpan.js';
import { buildSpan, makeResource, spanGroup } from './buildSpan.js';
import type { DecodedSpan } from './DecodedSpan.js';
import type { DecodeTally } from './DecodeTally.js';
import { OtlpDecodeError } from './OtlpDecodeError.js';
import { parseJsonExact } from './parseJsonExact.js';
import { MAX_ANY_VALUE_DEPTH } from './readWireRequest.js';
import { SpanRejected } from './SpanRejected.js';
import { checkId, int64Value, noteEventDrop, optionalParent, SPAN_ID_BYTES, setAttribute, TRACE_ID_BYTES } from './spanFields.js';

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

/**
 * True while reading a body that was not valid UTF-8 (decoded with U+FFFD in place of the bad
 * bytes): a string holding U+FFFD then refuses its span, naming the field, as a protobuf string
 * that is not UTF-8 does. (A real U+FFFD in such a body is refused too: it cannot be told apart.)
 */
let lossyBody = false;

/** Refuses the span when `text` may have lost bad bytes (see {@link lossyBody}). */
function checkUtf8(text: string, what: string): string {
  if (lossyBody && text.includes('\uFFFD')) spanLevel(`${what} is not valid UTF-8`);
  return text;
}

function jsonString(o: JsonObject, camel: string, label = camel): string {
  const v = field(o, camel);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') spanLevel(`${label} must be a string`);
  return checkUtf8(v, label);
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
 * An id string of an OTLP/JSON body as lower-case hex: hex (any case) as OTLP/JSON writes it, or
 * base64 of 16 or 8 bytes (24 or 12 characters) as standard protobuf JSON does; undefined for neither.
 * The forwarder re-encodes ids with it, so that it reads them as decode does.
 */
export function jsonIdHex(v: string): string | undefined {
  if (/^[0-9a-fA-F]*$/.test(v) && v.length % 2 === 0) return v.toLowerCase();
  if (BASE64.test(v) && (v.length === 24 || v.length === 12)) return Buffer.from(v, 'base64').toString('hex');
  return undefined;
}

/**
 * An id as OTLP/JSON writes it: hex (any case). Standard protobuf JSON would write bytes as
 * base64, and some senders do; that form is unambiguous (24 or 12 characters) and accepted.
 */
function jsonId(o: JsonObject, camel: string): string {
  const v = field(o, camel);
  if (v === undefined || v === null || v === '') return '';
  if (typeof v !== 'string') spanLevel(`${camel} must be a hex string`);
  const hex = jsonIdHex(v);
  if (hex !== undefined) return hex;
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
    checkUtf8(kv.key, 'an attribute key');
    const value = jsonAny(kv.value, depth);
    if (lossyBody && JSON.stringify(value, (_k, x) => (typeof x === 'bigint' ? '' : x)).includes('\uFFFD')) {
      spanLevel(`attribute ${JSON.stringify(kv.key)} is not valid UTF-8`);
    }
    setAttribute(attrs, kv.key, value);
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

function jsonSpan(s: Json, group: SpanGroup): DecodedSpan {
  if (!isObject(s)) spanLevel('span must be an object');
  const traceId = checkId(jsonId(s, 'traceId'), TRACE_ID_BYTES, 'traceId');
  const spanId = checkId(jsonId(s, 'spanId'), SPAN_ID_BYTES, 'spanId');
  let eventDrops: number[] | undefined;
  const events: EventRecord[] = jsonArray(s, 'events', 'span', spanLevel).map((e, i) => {
    if (!isObject(e)) spanLevel(`events[${i}] must be an object`);
    const event: EventRecord = { name: jsonString(e, 'name', `events[${i}].name`), time: jsonUint64(e, 'timeUnixNano'), attributes: jsonAttrsOf(e) };
    const dropped = jsonUint32(e, 'droppedAttributesCount');
    eventDrops = noteEventDrop(eventDrops, i, dropped);
    return event;
  });
  const links: LinkParts[] = jsonArray(s, 'links', 'span', spanLevel).map((l, i) => {
    if (!isObject(l)) spanLevel(`links[${i}] must be an object`);
    // Here a bad id is reported before bad attributes.
    const flags = jsonUint32(l, 'flags');
    const traceId = checkId(jsonId(l, 'traceId'), TRACE_ID_BYTES, `links[${i}].traceId`);
    const spanId = checkId(jsonId(l, 'spanId'), SPAN_ID_BYTES, `links[${i}].spanId`);
    const traceState = jsonString(l, 'traceState', `links[${i}].traceState`);
    return { traceId, spanId, traceState, attributes: jsonAttrsOf(l), droppedAttributesCount: jsonUint32(l, 'droppedAttributesCount'), flags };
  });
  const rawStatus = field(s, 'status');
  let statusCode = 0;
  let statusMessage = '';
  if (isObject(rawStatus)) {
    statusCode = jsonEnum(rawStatus, 'code', STATUS_NAMES);
    statusMessage = jsonString(rawStatus, 'message');
  }
  const parts: SpanParts = {
    traceId,
    spanId,
    traceState: jsonString(s, 'traceState'),
    parentSpanId: '',
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
    statusCode,
    statusMessage,
  };
  if (eventDrops !== undefined) parts.eventDrops = eventDrops;
  parts.parentSpanId = optionalParent(jsonId(s, 'parentSpanId'));
  return buildSpan(parts, group);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const lenientUtf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });

/**
 * Reads an OTLP/JSON ExportTraceServiceRequest body into `out`.
 *
 * @throws {@link OtlpDecodeError} when the body is not UTF-8 JSON or not a request
 */
export function readJson(body: Uint8Array, out: DecodeTally): void {
  let text: string;
  let lossy = false;
  try {
    text = utf8.decode(body);
  } catch {
    // Not UTF-8: read on, and refuse only the spans whose strings held the bad bytes (see lossyBody).
    text = lenientUtf8.decode(body);
    lossy = true;
  }
  if (text.trim() === '') throw new OtlpDecodeError('body is empty; an OTLP/JSON request is at least {}');
  let request: Json;
  try {
    request = parseJsonExact(text);
  } catch (err) {
    throw new OtlpDecodeError(`body is not valid ${lossy ? 'UTF-8 ' : ''}JSON: ${(err as Error).message}`, { cause: err });
  }
  lossyBody = lossy;
  try {
    readJsonRequest(request, out);
  } finally {
    lossyBody = false;
  }
}

/**
 * Reads an OTLP/JSON request already parsed with {@link parseJsonExact} into `out`.
 *
 * @throws {@link OtlpDecodeError} when the value is not a request
 */
export function readJsonRequest(request: unknown, out: DecodeTally): void {
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
      let group: SpanGroup;
      try {
        const s = isObject(rawScope) ? rawScope : {};
        const schemaUrl = field(ss, 'schemaUrl');
        group = spanGroup(resource, jsonString(s, 'name'), jsonString(s, 'version'), typeof schemaUrl === 'string' ? schemaUrl : '');
      } catch (err) {
        if (!(err instanceof SpanRejected)) throw err;
        out.reject(spans.length, `${whereS}.scope: ${err.message}`);
        return;
      }
      out.take(
        spans,
        whereS,
        (s) => (isObject(s) ? field(s, 'name') : undefined),
        (s) => jsonSpan(s, group),
      );
    });
  });
}
