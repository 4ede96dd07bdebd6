/**
 * Reads an OTLP trace dump for `canceltrace import` and `canceltrace check`.
 *
 * Accepted, each optionally gzip-compressed:
 * - OTLP/JSON: one ExportTraceServiceRequest object (or an array of them);
 * - JSON lines: one request per line, as the OpenTelemetry Collector's file exporter and
 *   the canceltrace Python recorder's `--output` write them;
 * - OTLP protobuf: one binary ExportTraceServiceRequest (or TracesData, the same bytes).
 *
 * A dump is read whole or not at all: any line or span that cannot be read fails the file
 * with a {@link DumpError}, so that a check never judges half a shutdown.
 */
import { gunzipSync } from 'node:zlib';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { DumpError } from './DumpError.js';
import type { DecodedRequest } from './decode.js';
import { decodeJsonTraceRequest, decodeTraceRequest, OtlpDecodeError } from './decode.js';
import { parseJsonExact } from './parseJsonExact.js';

export { DumpError } from './DumpError.js';

/** Largest decompressed dump read (bytes); beyond it a gzip file is refused rather than inflated. */
export const MAX_DUMP_BYTES = 512 * 1024 * 1024;

const GZIP_MAGIC = [0x1f, 0x8b] as const;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads every span of a dump file.
 *
 * @param content the file's bytes
 * @param fileName the name to put in error messages
 * @throws {@link DumpError} when the file, one of its lines, or one of its spans cannot be read
 */
export function readDump(content: Uint8Array, fileName: string): ReadableSpan[] {
  let bytes = content;
  if (bytes.length === 0) throw new DumpError(fileName, 'file is empty');
  if (bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1]) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: MAX_DUMP_BYTES });
    } catch (err) {
      const tooBig = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      throw new DumpError(fileName, tooBig ? `decompresses to more than ${MAX_DUMP_BYTES} bytes` : `is not valid gzip: ${(err as Error).message}`, undefined, {
        cause: err,
      });
    }
    if (bytes.length === 0) throw new DumpError(fileName, 'file is empty once decompressed');
  }
  return looksLikeJson(bytes) ? readJsonDump(bytes, fileName) : readProtobufDump(bytes, fileName);
}

/** JSON dumps start with `{` or `[` after optional BOM and whitespace; protobuf requests never do (see below). */
function looksLikeJson(bytes: Uint8Array): boolean {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  // As protobuf, '{' and '[' would be tags opening a group (wire type 3, long deprecated),
  // which an ExportTraceServiceRequest never starts with: its first byte is 0x0a (field 1).
  return bytes[i] === 0x7b || bytes[i] === 0x5b;
}

function takeAll(result: DecodedRequest, fileName: string, line?: number): ReadableSpan[] {
  if (result.rejected === 1) throw new DumpError(fileName, `bad span: ${result.errors[0]}`, line);
  if (result.rejected > 1) throw new DumpError(fileName, `${result.rejected} bad spans; first: ${result.errors[0]}`, line);
  return result.spans;
}

function decodeParsed(value: unknown, fileName: string, line?: number): ReadableSpan[] {
  try {
    return takeAll(decodeJsonTraceRequest(value), fileName, line);
  } catch (err) {
    if (err instanceof OtlpDecodeError) throw new DumpError(fileName, `not an OTLP trace request: ${err.message}`, line, { cause: err });
    throw err;
  }
}

function readJsonDump(bytes: Uint8Array, fileName: string): ReadableSpan[] {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (err) {
    throw new DumpError(fileName, 'is not valid UTF-8 text', undefined, { cause: err });
  }
  let whole: unknown;
  let wholeError: Error | undefined;
  try {
    whole = parseJsonExact(text);
  } catch (err) {
    wholeError = err as Error;
  }
  if (wholeError === undefined) {
    // An array of requests is tolerated: some tools save a list of exported batches.
    const requests = Array.isArray(whole) ? whole : [whole];
    return requests.flatMap((r) => decodeParsed(r, fileName));
  }
  const lines = text.split('\n');
  const first = lines.findIndex((l) => l.trim() !== '');
  if (!lineParses(lines[first])) {
    // Not JSON lines either: report the whole-file error, which says where the JSON breaks.
    throw new DumpError(fileName, `is not valid JSON: ${wholeError.message}`, undefined, { cause: wholeError });
  }
  const spans: ReadableSpan[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    let value: unknown;
    try {
      value = parseJsonExact(line);
    } catch (err) {
      throw new DumpError(fileName, `is not valid JSON: ${(err as Error).message}`, i + 1, { cause: err });
    }
    spans.push(...decodeParsed(value, fileName, i + 1));
  });
  return spans;
}

function lineParses(line: string | undefined): boolean {
  if (line === undefined) return false;
  try {
    parseJsonExact(line);
    return true;
  } catch {
    return false;
  }
}

function readProtobufDump(bytes: Uint8Array, fileName: string): ReadableSpan[] {
  let result: DecodedRequest;
  try {
    result = decodeTraceRequest(bytes, 'protobuf');
  } catch (err) {
    if (err instanceof OtlpDecodeError) {
      throw new DumpError(fileName, `is neither OTLP JSON, JSON lines nor OTLP protobuf (${err.message})`, undefined, { cause: err });
    }
    throw err;
  }
  if (result.spans.length === 0 && result.rejected === 0) {
    // Protobuf skips unknown fields, so arbitrary bytes can "decode" to nothing at all.
    throw new DumpError(fileName, 'holds no OTLP spans (is it OTLP JSON, JSON lines or OTLP protobuf?)');
  }
  return takeAll(result, fileName);
}
