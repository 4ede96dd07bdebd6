/**
 * OTLP trace request → decoded spans: the one place that reads OTLP, for the receivers and for
 * `canceltrace import/check` dumps alike.
 *
 * Both encodings are read into the same parts (readProtobuf.ts, readJson.ts), and each span's
 * SpanRecord is built from them once (buildSpan.ts); the spans returned are ReadableSpan
 * views of their records ({@link DecodedSpan}, {@link recordOf}). A span that cannot be taken (bad
 * or zero ids, a missing start, an end before its start, a malformed value) is rejected on its own
 * and counted, so the rest of the request still goes through (OTLP partial success). Only a body
 * that is not an ExportTraceServiceRequest at all throws {@link OtlpDecodeError}.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { DecodedSpan, recordOf } from './DecodedSpan.js';
import { DecodeTally } from './DecodeTally.js';
import type { parseJsonExact } from './parseJsonExact.js';
import { readJson, readJsonRequest } from './readJson.js';
import { readProtobuf } from './readProtobuf.js';

export { DecodedSpan, recordOf } from './DecodedSpan.js';
export { MAX_ERROR_MESSAGES } from './DecodeTally.js';
export { OtlpDecodeError } from './OtlpDecodeError.js';
export { MAX_ANY_VALUE_DEPTH } from './readWireRequest.js';

/** The two OTLP/HTTP body encodings. */
export type OtlpEncoding = 'protobuf' | 'json';

/** What one request yielded. */
export interface DecodedRequest {
  /** The spans that were taken, in request order ({@link DecodedSpan}s: {@link recordOf} gives each one's record). */
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

function result(out: DecodeTally): DecodedRequest {
  return { spans: out.spans, rejected: out.rejected, errors: out.errors };
}

/**
 * Decodes one OTLP ExportTraceServiceRequest body.
 *
 * @param body the raw (already decompressed) request body
 * @param encoding `protobuf` for application/x-protobuf, `json` for application/json
 * @param options see {@link DecodeOptions}
 * @throws {@link OtlpDecodeError} when the body as a whole cannot be read
 */
export function decodeTraceRequest(body: Uint8Array, encoding: OtlpEncoding, options: DecodeOptions = {}): DecodedRequest {
  const out = new DecodeTally();
  if (encoding === 'protobuf') readProtobuf(body, out, options.directWireReader ?? true);
  else readJson(body, out);
  return result(out);
}

/**
 * Decodes an OTLP/JSON ExportTraceServiceRequest that is already parsed (with
 * {@link parseJsonExact}, so that large integers arrived as exact strings). Dump files use it
 * to avoid parsing a file twice.
 *
 * @throws {@link OtlpDecodeError} when the value is not a request
 */
export function decodeJsonTraceRequest(request: unknown): DecodedRequest {
  const out = new DecodeTally();
  readJsonRequest(request, out);
  return result(out);
}
