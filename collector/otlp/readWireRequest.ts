/**
 * A direct reader of the protobuf wire form of an ExportTraceServiceRequest, for the common case.
 *
 * protobufjs builds a message object for every KeyValue and AnyValue, a Long for every integer
 * and a Buffer for every id, only for decode to copy them into attributes: for a task span that is
 * some fifty short-lived objects, and the garbage collector's time dominated decoding. This reader
 * goes from bytes to attribute maps, hex ids and bigint times in one pass.
 *
 * It only takes bodies in the canonical shape every OTLP exporter writes. Anything else (a known
 * field with an unexpected wire type, a message field sent twice, which protobuf merges, an AnyValue
 * with two members, nesting deeper than {@link MAX_ANY_VALUE_DEPTH}, truncated data, a string that is
 * not UTF-8, which decode refuses by span and names) makes it return
 * undefined, and decode reads the body through protobufjs as before, with the same answers.
 */
import { isUtf8 } from 'node:buffer';
import type { Attrs, AttrValue, EventRecord } from '../../contract/records.js';
import type { LinkParts, SpanParts } from './buildSpan.js';
import { noteEventDrop } from './spanFields.js';

/**
 * Nesting limit of array/kvlist attribute values: decode rejects the span of a deeper one. This reader
 * leaves such values to the protobufjs path, so both read the same limit from here.
 */
export const MAX_ANY_VALUE_DEPTH = 32;

/** Protobuf wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

/** Longest key (bytes) kept in the key cache; attribute keys are short and repeat in every span. */
const MAX_CACHED_KEY_BYTES = 64;
/** Distinct keys cached per request before the cache stops growing. */
const MAX_CACHED_KEYS = 4_096;

/**
 * A span as read from the wire; ids are lower-case hex ('' when absent): the parts {@link SpanParts}
 * that buildSpan takes.
 */
export type WireSpan = SpanParts;

/** A link as read from the wire. */
export type WireLink = LinkParts;

/** One scope's spans. */
export interface WireScopeSpans {
  name: string;
  version: string;
  schemaUrl: string;
  spans: WireSpan[];
}

/** One resource's spans. */
export interface WireResourceSpans {
  attributes: Attrs;
  schemaUrl: string;
  scopeSpans: WireScopeSpans[];
}

/** Thrown inside the reader when the body is not in the canonical shape; never escapes. */
class NotCanonical extends Error {}

const NOT_CANONICAL = new NotCanonical('not canonical');

/**
 * Reads the request, or returns undefined when the body is not in the shape this reader takes
 * (the caller then reads it with protobufjs).
 */
export function readWireRequest(body: Buffer): WireResourceSpans[] | undefined {
  try {
    return new WireReader(body).request();
  } catch (error) {
    if (error instanceof NotCanonical || error instanceof RangeError) return undefined;
    throw error;
  }
}

class WireReader {
  private pos = 0;
  private readonly keys = new Map<number, { bytes: Buffer; text: string }[]>();
  private keyCount = 0;
  /** The dropped attribute count of the event {@link event} read last. */
  private eventDropped = 0;

  constructor(private readonly buf: Buffer) {}

  request(): WireResourceSpans[] {
    const out: WireResourceSpans[] = [];
    const end = this.buf.length;
    while (this.pos < end) {
      const tag = this.varint32();
      if (tag === ((1 << 3) | LEN)) out.push(this.resourceSpans(this.lengthEnd()));
      else this.skipUnknown(tag, 1);
    }
    return out;
  }

  private resourceSpans(end: number): WireResourceSpans {
    const rs: WireResourceSpans = { attributes: {}, schemaUrl: '', scopeSpans: [] };
    let seenResource = false;
    while (this.pos < end) {
      const tag = this.varint32();
      switch (tag) {
        case (1 << 3) | LEN: {
          if (seenResource) throw NOT_CANONICAL;
          seenResource = true;
          const e = this.lengthEnd();
          while (this.pos < e) {
            const t = this.varint32();
            if (t === ((1 << 3) | LEN)) this.keyValue(this.lengthEnd(), rs.attributes, 0);
            else if (t === ((2 << 3) | VARINT)) this.varint32();
            else this.skipUnknown(t, 2);
          }
          this.at(e);
          break;
        }
        case (2 << 3) | LEN:
          rs.scopeSpans.push(this.scopeSpans(this.lengthEnd()));
          break;
        case (3 << 3) | LEN:
          rs.schemaUrl = this.string(this.lengthEnd());
          break;
        default:
          this.skipUnknown(tag, 3);
      }
    }
    this.at(end);
    return rs;
  }

  private scopeSpans(end: number): WireScopeSpans {
    const ss: WireScopeSpans = { name: '', version: '', schemaUrl: '', spans: [] };
    let seenScope = false;
    while (this.pos < end) {
      const tag = this.varint32();
      switch (tag) {
        case (1 << 3) | LEN: {
          if (seenScope) throw NOT_CANONICAL;
          seenScope = true;
          const e = this.lengthEnd();
          while (this.pos < e) {
            const t = this.varint32();
            if (t === ((1 << 3) | LEN)) ss.name = this.string(this.lengthEnd());
            else if (t === ((2 << 3) | LEN)) ss.version = this.string(this.lengthEnd());
            else if (t === ((3 << 3) | LEN)) this.keyValue(this.lengthEnd(), {}, 0);
            else if (t === ((4 << 3) | VARINT)) this.varint32();
            else this.skipUnknown(t, 4);
          }
          this.at(e);
          break;
        }
        case (2 << 3) | LEN:
          ss.spans.push(this.span(this.lengthEnd()));
          break;
        case (3 << 3) | LEN:
          ss.schemaUrl = this.string(this.lengthEnd());
          break;
        default:
          this.skipUnknown(tag, 3);
      }
    }
    this.at(end);
    return ss;
  }

  private span(end: number): WireSpan {
    const s: WireSpan = {
      traceId: '',
      spanId: '',
      traceState: '',
      parentSpanId: '',
      flags: 0,
      name: '',
      kind: 0,
      start: 0n,
      end: 0n,
      attributes: {},
      droppedAttributesCount: 0,
      events: [],
      droppedEventsCount: 0,
      links: [],
      droppedLinksCount: 0,
      statusCode: 0,
      statusMessage: '',
    };
    let seenStatus = false;
    while (this.pos < end) {
      const tag = this.varint32();
      switch (tag) {
        case (1 << 3) | LEN:
          s.traceId = this.hex(this.lengthEnd());
          break;
        case (2 << 3) | LEN:
          s.spanId = this.hex(this.lengthEnd());
          break;
        case (3 << 3) | LEN:
          s.traceState = this.string(this.lengthEnd());
          break;
        case (4 << 3) | LEN:
          s.parentSpanId = this.hex(this.lengthEnd());
          break;
        case (5 << 3) | LEN:
          s.name = this.string(this.lengthEnd());
          break;
        case (6 << 3) | VARINT:
          s.kind = this.int32();
          break;
        case (7 << 3) | FIXED64:
          s.start = this.fixed64();
          break;
        case (8 << 3) | FIXED64:
          s.end = this.fixed64();
          break;
        case (9 << 3) | LEN:
          this.keyValue(this.lengthEnd(), s.attributes, 0);
          break;
        case (10 << 3) | VARINT:
          s.droppedAttributesCount = this.varint32() >>> 0;
          break;
        case (11 << 3) | LEN: {
          s.events.push(this.event(this.lengthEnd()));
          const drops = noteEventDrop(s.eventDrops, s.events.length - 1, this.eventDropped);
          if (drops !== undefined) s.eventDrops = drops;
          break;
        }
        case (12 << 3) | VARINT:
          s.droppedEventsCount = this.varint32() >>> 0;
          break;
        case (13 << 3) | LEN:
          s.links.push(this.link(this.lengthEnd()));
          break;
        case (14 << 3) | VARINT:
          s.droppedLinksCount = this.varint32() >>> 0;
          break;
        case (15 << 3) | LEN: {
          if (seenStatus) throw NOT_CANONICAL;
          seenStatus = true;
          const e = this.lengthEnd();
          while (this.pos < e) {
            const t = this.varint32();
            if (t === ((2 << 3) | LEN)) s.statusMessage = this.string(this.lengthEnd());
            else if (t === ((3 << 3) | VARINT)) s.statusCode = this.int32();
            else this.skipUnknown(t, 3);
          }
          this.at(e);
          break;
        }
        case (16 << 3) | FIXED32:
          s.flags = this.fixed32();
          break;
        default:
          this.skipUnknown(tag, 16);
      }
    }
    this.at(end);
    return s;
  }

  /** Reads an event; its dropped attribute count is left in {@link eventDropped}. */
  private event(end: number): EventRecord {
    const ev: EventRecord = { name: '', time: 0n, attributes: {} };
    this.eventDropped = 0;
    while (this.pos < end) {
      const tag = this.varint32();
      switch (tag) {
        case (1 << 3) | FIXED64:
          ev.time = this.fixed64();
          break;
        case (2 << 3) | LEN:
          ev.name = this.key(this.lengthEnd());
          break;
        case (3 << 3) | LEN:
          this.keyValue(this.lengthEnd(), ev.attributes, 0);
          break;
        case (4 << 3) | VARINT:
          this.eventDropped = this.varint32() >>> 0;
          break;
        default:
          this.skipUnknown(tag, 4);
      }
    }
    this.at(end);
    return ev;
  }

  private link(end: number): WireLink {
    const l: WireLink = { traceId: '', spanId: '', traceState: '', attributes: {}, droppedAttributesCount: 0, flags: 0 };
    while (this.pos < end) {
      const tag = this.varint32();
      switch (tag) {
        case (1 << 3) | LEN:
          l.traceId = this.hex(this.lengthEnd());
          break;
        case (2 << 3) | LEN:
          l.spanId = this.hex(this.lengthEnd());
          break;
        case (3 << 3) | LEN:
          l.traceState = this.string(this.lengthEnd());
          break;
        case (4 << 3) | LEN:
          this.keyValue(this.lengthEnd(), l.attributes, 0);
          break;
        case (5 << 3) | VARINT:
          l.droppedAttributesCount = this.varint32() >>> 0;
          break;
        case (6 << 3) | FIXED32:
          l.flags = this.fixed32();
          break;
        default:
          this.skipUnknown(tag, 6);
      }
    }
    this.at(end);
    return l;
  }

  /** One KeyValue into `target` (a later duplicate key wins, as before). */
  private keyValue(end: number, target: Attrs, depth: number): void {
    let key = '';
    let value: AttrValue = null;
    let seenValue = false;
    while (this.pos < end) {
      const tag = this.varint32();
      if (tag === ((1 << 3) | LEN)) key = this.key(this.lengthEnd());
      else if (tag === ((2 << 3) | LEN)) {
        if (seenValue) throw NOT_CANONICAL;
        seenValue = true;
        value = this.anyValue(this.lengthEnd(), depth);
      } else this.skipUnknown(tag, 2);
    }
    this.at(end);
    // "__proto__" must stay an ordinary key; that rare case is left to the protobufjs path.
    if (key === '__proto__') throw NOT_CANONICAL;
    target[key] = value;
  }

  private anyValue(end: number, depth: number): AttrValue {
    if (depth > MAX_ANY_VALUE_DEPTH) throw NOT_CANONICAL;
    let value: AttrValue = null;
    let members = 0;
    while (this.pos < end) {
      const tag = this.varint32();
      members++;
      switch (tag) {
        case (1 << 3) | LEN:
          value = this.string(this.lengthEnd());
          break;
        case (2 << 3) | VARINT:
          // as protobufjs reads a bool: the low 32 bits
          value = this.varint32() !== 0;
          break;
        case (3 << 3) | VARINT:
          value = this.int64();
          break;
        case (4 << 3) | FIXED64:
          this.need(8);
          value = this.buf.readDoubleLE(this.pos);
          this.pos += 8;
          break;
        case (5 << 3) | LEN: {
          const e = this.lengthEnd();
          const list: AttrValue[] = [];
          while (this.pos < e) {
            const t = this.varint32();
            if (t === ((1 << 3) | LEN)) list.push(this.anyValue(this.lengthEnd(), depth + 1));
            else this.skipUnknown(t, 1);
          }
          this.at(e);
          value = list;
          break;
        }
        case (6 << 3) | LEN: {
          const e = this.lengthEnd();
          const map: Attrs = {};
          while (this.pos < e) {
            const t = this.varint32();
            if (t === ((1 << 3) | LEN)) this.keyValue(this.lengthEnd(), map, depth + 1);
            else this.skipUnknown(t, 1);
          }
          this.at(e);
          value = map;
          break;
        }
        case (7 << 3) | LEN: {
          const e = this.lengthEnd();
          value = this.buf.toString('base64', this.pos, e);
          this.pos = e;
          break;
        }
        default:
          this.skipUnknown(tag, 7);
          members--;
      }
      if (members > 1) throw NOT_CANONICAL;
    }
    this.at(end);
    return value;
  }

  // --- primitives -------------------------------------------------------------------------

  private need(bytes: number): void {
    if (this.pos + bytes > this.buf.length) throw NOT_CANONICAL;
  }

  private at(end: number): void {
    // A field ran past its message's end: not a well-formed body.
    if (this.pos !== end) throw NOT_CANONICAL;
  }

  /** Reads a length prefix and returns where the field ends. */
  private lengthEnd(): number {
    const length = this.varint32() >>> 0;
    const end = this.pos + length;
    if (end > this.buf.length) throw NOT_CANONICAL;
    return end;
  }

  /** A varint's low 32 bits (as protobufjs's uint32/int32 read them); longer varints are consumed. */
  private varint32(): number {
    const buf = this.buf;
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= buf.length) throw NOT_CANONICAL;
      const b = buf[this.pos++];
      if (shift < 32) value |= (b & 0x7f) << shift;
      if (b < 0x80) return value;
    }
    throw NOT_CANONICAL;
  }

  private int32(): number {
    return this.varint32() | 0;
  }

  /** A signed int64 varint: a number when it is a safe integer, else a bigint (as decode gives it). */
  private int64(): AttrValue {
    const buf = this.buf;
    const start = this.pos;
    // Fast path: up to 7 bytes hold at most 49 bits, always a safe, non-negative integer.
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= buf.length) throw NOT_CANONICAL;
      const b = buf[this.pos++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    this.pos = start;
    let bits = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= buf.length) throw NOT_CANONICAL;
      const b = buf[this.pos++];
      bits |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        const signed = BigInt.asIntN(64, bits);
        return signed >= BigInt(Number.MIN_SAFE_INTEGER) && signed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(signed) : signed;
      }
    }
    throw NOT_CANONICAL;
  }

  private fixed64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  private fixed32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  private string(end: number): string {
    const buf = this.buf;
    const start = this.pos;
    // Most strings are ASCII, which is valid UTF-8 and reads the same as latin1: checked here byte by
    // byte, without the Buffer view and the second pass of the general check.
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (buf[i] >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (!ascii && !isUtf8(buf.subarray(start, end))) throw NOT_CANONICAL;
    const s = buf.toString(ascii ? 'latin1' : 'utf8', start, end);
    this.pos = end;
    return s;
  }

  private hex(end: number): string {
    const s = this.buf.toString('hex', this.pos, end);
    this.pos = end;
    return s;
  }

  /**
   * A short string that repeats across spans (attribute keys, event names): the same bytes give
   * the same string, so one decoded copy serves them all.
   */
  private key(end: number): string {
    const buf = this.buf;
    const start = this.pos;
    const length = end - start;
    if (length > MAX_CACHED_KEY_BYTES) return this.string(end);
    let hash = length;
    for (let i = start; i < end; i++) hash = (Math.imul(hash, 31) + buf[i]) | 0;
    const bucket = this.keys.get(hash);
    if (bucket) {
      for (const entry of bucket) {
        if (sameBytes(entry.bytes, buf, start, length)) {
          this.pos = end;
          return entry.text;
        }
      }
    }
    const text = this.string(end);
    if (this.keyCount < MAX_CACHED_KEYS) {
      this.keyCount++;
      const entry = { bytes: Buffer.from(buf.subarray(start, end)), text };
      if (bucket) bucket.push(entry);
      else this.keys.set(hash, [entry]);
    }
    return text;
  }

  /** Skips an unknown field; a known field number with another wire type is not canonical. */
  private skipUnknown(tag: number, maxKnownField: number): void {
    const field = tag >>> 3;
    if (field <= maxKnownField) throw NOT_CANONICAL;
    switch (tag & 7) {
      case VARINT:
        this.varint32();
        return;
      case FIXED64:
        this.need(8);
        this.pos += 8;
        return;
      case LEN:
        this.pos = this.lengthEnd();
        return;
      case FIXED32:
        this.need(4);
        this.pos += 4;
        return;
      default:
        throw NOT_CANONICAL;
    }
  }
}

/** Whether `bytes` equals `length` bytes of `buf` from `start` (a short key: compared here, without a Buffer view). */
function sameBytes(bytes: Buffer, buf: Buffer, start: number, length: number): boolean {
  if (bytes.length !== length) return false;
  for (let i = 0; i < length; i++) if (bytes[i] !== buf[start + i]) return false;
  return true;
}
