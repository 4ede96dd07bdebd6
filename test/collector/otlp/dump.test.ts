import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { describe, expect, it } from 'vitest';
import { DumpError, readDump } from '../../../collector/otlp/dump.js';
import { ns, readableSpan } from '../../doubles/readableSpans.js';

const SPEC_EXAMPLE = fileURLToPath(new URL('../../fixtures/otlp/trace.json', import.meta.url));
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytesOf = (s: string) => new TextEncoder().encode(s);

function batch(names: string[], firstSpan: number) {
  return names.map((name, i) =>
    readableSpan({
      traceId: TRACE,
      spanId: (firstSpan + i).toString(16).padStart(16, '0'),
      name,
      start: 1700000000123456789n + BigInt(i),
      attributes: { 'task.kind': 'asyncio', n: i },
    }),
  );
}

function jsonBatch(names: string[], firstSpan: number): string {
  return text(JsonTraceSerializer.serializeRequest(batch(names, firstSpan))!);
}

/** Reads the error a call throws, failing the test when it does not throw a DumpError. */
function dumpError(fn: () => unknown): DumpError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DumpError);
    return err as DumpError;
  }
  throw new Error('expected a DumpError');
}

describe('readDump', () => {
  describe('formats', () => {
    it('when the file is the OTLP spec example JSON, then its span is read', () => {
      const spans = readDump(readFileSync(SPEC_EXAMPLE), 'trace.json');
      expect(spans.map((s) => s.spanContext().spanId)).toEqual(['eee19b7ec3c1b174']);
      expect(ns(spans[0].startTime)).toBe(1544712660000000000n);
    });

    it('when the file is JSON lines from the collector file exporter, then every line is read in order', () => {
      const content = `${jsonBatch(['a', 'b'], 1)}\n\n${jsonBatch(['c'], 3)}\r\n${jsonBatch(['d'], 4)}\n`;
      const spans = readDump(bytesOf(content), 'traces.jsonl');
      expect(spans.map((s) => s.name)).toEqual(['a', 'b', 'c', 'd']);
      expect(spans.map((s) => s.attributes['task.kind'])).toEqual(['asyncio', 'asyncio', 'asyncio', 'asyncio']);
      expect(ns(spans[1].startTime)).toBe(1700000000123456790n);
    });

    it('when a JSON lines file also holds metrics lines, then they add no spans and do not fail the file', () => {
      const content = `${jsonBatch(['a'], 1)}\n{"resourceMetrics":[{"scopeMetrics":[]}]}\n`;
      expect(readDump(bytesOf(content), 'mixed.jsonl').map((s) => s.name)).toEqual(['a']);
    });

    it('when the file is a JSON array of requests, then all of them are read', () => {
      const content = `[${jsonBatch(['a'], 1)},${jsonBatch(['b'], 2)}]`;
      expect(readDump(bytesOf(content), 'list.json').map((s) => s.name)).toEqual(['a', 'b']);
    });

    it('when the file is a binary protobuf request, then its spans are read with exact times', () => {
      const bytes = ProtobufTraceSerializer.serializeRequest(batch(['x', 'y'], 7))!;
      const spans = readDump(bytes, 'traces.pb');
      expect(spans.map((s) => s.name)).toEqual(['x', 'y']);
      expect(spans.map((s) => s.spanContext().spanId)).toEqual(['0000000000000007', '0000000000000008']);
      expect(ns(spans[0].startTime)).toBe(1700000000123456789n);
    });

    it.each([
      ['json', () => bytesOf(jsonBatch(['g'], 1))],
      ['json lines', () => bytesOf(`${jsonBatch(['g'], 1)}\n${jsonBatch(['h'], 2)}\n`)],
      ['protobuf', () => ProtobufTraceSerializer.serializeRequest(batch(['g', 'h'], 1))!],
    ])('when a %s dump is gzip-compressed, then it reads the same as uncompressed', (_format, make) => {
      const plain = make();
      const fromGzip = readDump(gzipSync(plain), 'dump.gz');
      const fromPlain = readDump(plain, 'dump');
      expect(fromGzip.length).toBeGreaterThan(0);
      expect(fromGzip.map((s) => [s.name, s.spanContext().spanId, ns(s.endTime)])).toEqual(
        fromPlain.map((s) => [s.name, s.spanContext().spanId, ns(s.endTime)]),
      );
    });
  });

  describe('bad files', () => {
    it('when the file is empty, then the error names it', () => {
      const err = dumpError(() => readDump(new Uint8Array(0), 'empty.json'));
      expect(err.message).toBe('empty.json: file is empty');
    });

    it('when line 3 of a JSON lines file is broken, then the error names the file and line 3, and no span is returned', () => {
      const content = `${jsonBatch(['a'], 1)}\n${jsonBatch(['b'], 2)}\n{"resourceSpans": [\n${jsonBatch(['c'], 3)}\n`;
      const err = dumpError(() => readDump(bytesOf(content), 'run.jsonl'));
      expect(err.message).toMatch(/^run\.jsonl:3: is not valid JSON: /);
      expect(err.line).toBe(3);
      expect(err.message).not.toContain('\n');
    });

    it('when a span on line 2 has a bad id, then the whole file fails naming line 2 and the span', () => {
      const bad = jsonBatch(['bad'], 2).replace('0000000000000002', '02');
      const err = dumpError(() => readDump(bytesOf(`${jsonBatch(['a'], 1)}\n${bad}\n`), 'ids.jsonl'));
      expect(err.message).toMatch(/^ids\.jsonl:2: bad span: resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\] "bad": spanId must be 8 bytes, got 1$/);
    });

    it('when a pretty-printed JSON file is cut short, then the error names the file without a line', () => {
      const pretty = JSON.stringify(JSON.parse(jsonBatch(['a'], 1)), null, 2);
      const err = dumpError(() => readDump(bytesOf(pretty.slice(0, pretty.length / 2)), 'cut.json'));
      expect(err.message).toMatch(/^cut\.json: is not valid JSON: /);
      expect(err.line).toBeUndefined();
    });

    it('when a JSON file is not an OTLP request, then it says so', () => {
      const err = dumpError(() => readDump(bytesOf('{"resourceSpans": "nope"}'), 'odd.json'));
      expect(err.message).toBe('odd.json: not an OTLP trace request: request.resourceSpans must be an array');
    });

    it('when a gzip file is truncated, then the error names the file and gzip', () => {
      const gz = gzipSync(bytesOf(jsonBatch(['a'], 1)));
      const err = dumpError(() => readDump(gz.subarray(0, gz.length - 12), 'cut.json.gz'));
      expect(err.message).toMatch(/^cut\.json\.gz: is not valid gzip: /);
    });

    it('when the file is some other binary, then the error says it is not OTLP', () => {
      const err = dumpError(() => readDump(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), 'image.png'));
      expect(err.message).toMatch(/^image\.png: (is neither OTLP JSON, JSON lines nor OTLP protobuf|holds no OTLP spans)/);
    });

    it('when a protobuf dump holds a span with a zero trace id, then the file fails rather than losing that span', () => {
      const spans = batch(['ok', 'zero'], 1);
      const zero = readableSpan({ traceId: '0'.repeat(32), spanId: '0000000000000009', name: 'zero' });
      const bytes = ProtobufTraceSerializer.serializeRequest([spans[0], zero])!;
      const err = dumpError(() => readDump(bytes, 'zero.pb'));
      expect(err.message).toMatch(/^zero\.pb: bad span: .*"zero": traceId is all zeros$/);
    });
  });
});
