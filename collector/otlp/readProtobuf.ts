/**
 * OTLP protobuf bodies: the direct wire reader for the canonical shape every exporter writes,
 * protobufjs for everything else (and as the reference the direct reader is tested against).
 */
import { isUtf8 } from 'node:buffer';
import type { Resource } from '@opentelemetry/resources';
import protobuf from 'protobufjs';
import type { Attrs, AttrValue, EventRecord } from '../../contract/records.js';
import type { LinkParts, SpanGroup, SpanParts } from './buildSpan.js';
import { buildSpan, makeResource, spanGroup } from './buildSpan.js';
import type { DecodedSpan } from './DecodedSpan.js';
import type { DecodeTally } from './DecodeTally.js';
import { OtlpDecodeError } from './OtlpDecodeError.js';
import { MAX_ANY_VALUE_DEPTH, readWireRequest } from './readWireRequest.js';
import { SpanRejected } from './SpanRejected.js';
import type { LongLike } from './schema.js';
import { longToBigInt, OtlpTypes } from './schema.js';
import { checkId, int64Value, noteEventDrop, optionalParent, SPAN_ID_BYTES, setAttribute, TRACE_ID_BYTES, toHex } from './spanFields.js';

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

/**
 * Put in front of a string whose bytes are not UTF-8, so that the span (or resource, or scope) it
 * belongs to is refused, naming the field, as a JSON string that is not UTF-8 is; the default
 * reader would keep it with U+FFFD in place of what was sent. Never stored: the span is refused.
 */
const NOT_UTF8 = '\u0000canceltrace:not-utf8\u0000';

/** protobufjs's Buffer reader, with each string's bytes checked (see {@link NOT_UTF8}). */
class Utf8CheckingReader extends protobuf.BufferReader {
  override string(): string {
    const start = this.pos;
    const length = this.uint32();
    const from = this.pos;
    this.pos = start;
    const text = super.string();
    return isUtf8(this.buf.subarray(from, from + length)) ? text : NOT_UTF8 + text;
  }
}

const notUtf8 = (text: string | undefined | null): boolean => typeof text === 'string' && text.startsWith(NOT_UTF8);

function valueNotUtf8(v: PbAnyValue | null | undefined): boolean {
  if (!v) return false;
  if (has(v, 'stringValue')) return notUtf8(v.stringValue);
  if (has(v, 'arrayValue')) return (v.arrayValue?.values ?? []).some(valueNotUtf8);
  if (has(v, 'kvlistValue')) return attrsNotUtf8(v.kvlistValue?.values ?? []) !== undefined;
  return false;
}

/** The first attribute whose key or value is not UTF-8, named, or undefined. */
function attrsNotUtf8(list: readonly PbKeyValue[]): string | undefined {
  for (const kv of list) {
    if (notUtf8(kv.key)) return 'an attribute key';
    if (valueNotUtf8(kv.value)) return `attribute ${JSON.stringify(kv.key)}`;
  }
  return undefined;
}

/** The first field of `s` (in field order) that is not UTF-8, or undefined. */
function spanNotUtf8(s: PbSpan): string | undefined {
  if (notUtf8(s.traceState)) return 'traceState';
  if (notUtf8(s.name)) return 'name';
  const attr = attrsNotUtf8(s.attributes);
  if (attr) return attr;
  for (let i = 0; i < s.events.length; i++) {
    if (notUtf8(s.events[i].name)) return `events[${i}].name`;
    const a = attrsNotUtf8(s.events[i].attributes);
    if (a) return `events[${i}] ${a}`;
  }
  for (let i = 0; i < s.links.length; i++) {
    if (notUtf8(s.links[i].traceState)) return `links[${i}].traceState`;
    const a = attrsNotUtf8(s.links[i].attributes);
    if (a) return `links[${i}] ${a}`;
  }
  if (notUtf8(s.status?.message)) return 'status.message';
  return undefined;
}

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

/** Link `i` of a span, its ids validated. */
function checkedLink(l: Omit<LinkParts, 'traceId' | 'spanId'>, traceIdHex: string, spanIdHex: string, i: number): LinkParts {
  return {
    traceId: checkId(traceIdHex, TRACE_ID_BYTES, `links[${i}].traceId`),
    spanId: checkId(spanIdHex, SPAN_ID_BYTES, `links[${i}].spanId`),
    traceState: l.traceState,
    attributes: l.attributes,
    droppedAttributesCount: l.droppedAttributesCount,
    flags: l.flags,
  };
}

function pbSpan(s: PbSpan, group: SpanGroup): DecodedSpan {
  const bad = spanNotUtf8(s);
  if (bad !== undefined) throw new SpanRejected(`${bad} is not valid UTF-8`);
  const traceId = checkId(toHex(s.traceId), TRACE_ID_BYTES, 'traceId');
  const spanId = checkId(toHex(s.spanId), SPAN_ID_BYTES, 'spanId');
  let eventDrops: number[] | undefined;
  const events: EventRecord[] = s.events.map((e, i) => {
    eventDrops = noteEventDrop(eventDrops, i, e.droppedAttributesCount);
    return { name: e.name, time: longToBigInt(e.timeUnixNano, false), attributes: pbAttrs(e.attributes) };
  });
  const links = s.links.map((l, i) =>
    checkedLink(
      { traceState: l.traceState, attributes: pbAttrs(l.attributes), droppedAttributesCount: l.droppedAttributesCount, flags: l.flags },
      toHex(l.traceId),
      toHex(l.spanId),
      i,
    ),
  );
  const parts: SpanParts = {
    traceId,
    spanId,
    traceState: s.traceState,
    parentSpanId: '',
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
    statusCode: s.status?.code ?? 0,
    statusMessage: s.status?.message ?? '',
  };
  if (eventDrops !== undefined) parts.eventDrops = eventDrops;
  parts.parentSpanId = optionalParent(toHex(s.parentSpanId));
  return buildSpan(parts, group);
}

/** A span of the direct wire reader; the same checks, in the same order, as {@link pbSpan}. */
function wireSpan(s: SpanParts, group: SpanGroup): DecodedSpan {
  checkId(s.traceId, TRACE_ID_BYTES, 'traceId');
  checkId(s.spanId, SPAN_ID_BYTES, 'spanId');
  if (s.links.length > 0) s.links = s.links.map((l, i) => checkedLink(l, l.traceId, l.spanId, i));
  s.parentSpanId = optionalParent(s.parentSpanId);
  return buildSpan(s, group);
}

function countPb(rs: PbResourceSpans): number {
  return rs.scopeSpans.reduce((n, ss) => n + ss.spans.length, 0);
}

/**
 * Reads a protobuf ExportTraceServiceRequest into `out`.
 *
 * @param direct use the direct wire reader when the body is in its canonical shape
 * @throws {@link OtlpDecodeError} when the body is not a protobuf request
 */
export function readProtobuf(body: Uint8Array, out: DecodeTally, direct: boolean): void {
  // A Buffer view (no copy): protobufjs then uses its BufferReader, whose strings come from
  // Node's native UTF-8 decoder instead of a JavaScript loop; the wire reader needs one too.
  const view = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const wire = direct ? readWireRequest(view) : undefined;
  if (wire !== undefined) {
    wire.forEach((rs, r) => {
      const resource = makeResource(rs.attributes, rs.schemaUrl);
      rs.scopeSpans.forEach((ss, k) => {
        const group = spanGroup(resource, ss.name, ss.version, ss.schemaUrl);
        out.take(
          ss.spans,
          `resourceSpans[${r}].scopeSpans[${k}]`,
          (s) => s.name,
          (s) => wireSpan(s, group),
        );
      });
    });
    return;
  }
  let request: { resourceSpans: PbResourceSpans[] };
  try {
    request = OtlpTypes.ExportTraceServiceRequest.decode(new Utf8CheckingReader(view)) as unknown as { resourceSpans: PbResourceSpans[] };
  } catch (err) {
    throw new OtlpDecodeError(`body is not a valid protobuf ExportTraceServiceRequest: ${(err as Error).message}`, { cause: err });
  }
  request.resourceSpans.forEach((rs, r) => {
    const whereR = `resourceSpans[${r}]`;
    let resource: Resource;
    try {
      const bad = attrsNotUtf8(rs.resource?.attributes ?? []) ?? (notUtf8(rs.schemaUrl) ? 'schemaUrl' : undefined);
      if (bad !== undefined) throw new SpanRejected(`${bad} is not valid UTF-8`);
      resource = makeResource(pbAttrs(rs.resource?.attributes ?? []), rs.schemaUrl);
    } catch (err) {
      if (!(err instanceof SpanRejected)) throw err;
      out.reject(countPb(rs), `${whereR}.resource: ${err.message}`);
      return;
    }
    rs.scopeSpans.forEach((ss, k) => {
      const badScope = notUtf8(ss.scope?.name) ? 'name' : notUtf8(ss.scope?.version) ? 'version' : notUtf8(ss.schemaUrl) ? 'schemaUrl' : undefined;
      if (badScope !== undefined) {
        out.reject(ss.spans.length, `${whereR}.scopeSpans[${k}].scope: ${badScope} is not valid UTF-8`);
        return;
      }
      const group = spanGroup(resource, ss.scope?.name ?? '', ss.scope?.version ?? '', ss.schemaUrl);
      out.take(
        ss.spans,
        `${whereR}.scopeSpans[${k}]`,
        (s) => (notUtf8(s.name) ? s.name.slice(NOT_UTF8.length) : s.name),
        (s) => pbSpan(s, group),
      );
    });
  });
}
