import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { describe, expect, it } from 'vitest';
import { decodeTraceRequest } from '../../../collector/otlp/decode.js';
import { readableSpan } from '../../doubles/readableSpans.js';

const TRACE = '11112222333344445555666677778888';
/** "é" in UTF-8 */
const E_ACUTE = Buffer.from([0xc3, 0xa9]);
/** a lead byte followed by a byte that cannot continue it: not UTF-8 */
const BROKEN = Buffer.from([0xc3, 0x28]);

/** The body with every "é" replaced by bytes that are not UTF-8 (same length, so protobuf lengths still hold). */
function breakUtf8(body: Uint8Array): Buffer {
  const out = Buffer.from(body);
  for (let i = out.indexOf(E_ACUTE); i !== -1; i = out.indexOf(E_ACUTE, i + 2)) BROKEN.copy(out, i);
  return out;
}

function spans(where: 'name' | 'attribute' | 'event' | 'resource') {
  const spec = (n: number, bad: boolean) =>
    readableSpan({
      traceId: TRACE,
      spanId: n.toString(16).padStart(16, '0'),
      name: bad && where === 'name' ? 'café' : `ok-${n}`,
      attributes: bad && where === 'attribute' ? { 'order.note': 'crémé', n } : { n },
      events: bad && where === 'event' ? [{ name: 'blé', time: 1_700_000_000_000_000_001n }] : [],
      resource: where === 'resource' ? { 'service.name': 'cafés' } : { 'service.name': 'shop' },
    });
  return [spec(1, false), spec(2, true), spec(3, false)];
}

describe('decodeTraceRequest: strings that are not UTF-8', () => {
  describe.each([
    ['protobuf', (s: ReturnType<typeof spans>) => ProtobufTraceSerializer.serializeRequest(s)!],
    ['json', (s: ReturnType<typeof spans>) => JsonTraceSerializer.serializeRequest(s)!],
  ] as const)('%s', (encoding, serialize) => {
    it.each([
      ['name', /^resourceSpans\[1\]\.scopeSpans\[0\]\.spans\[0\]( "caf.+")?: name is not valid UTF-8$/],
      ['attribute', /^resourceSpans\[1\]\.scopeSpans\[0\]\.spans\[0\] "ok-2": attribute "order\.note" is not valid UTF-8$/],
      ['event', /^resourceSpans\[1\]\.scopeSpans\[0\]\.spans\[0\] "ok-2": events\[0\]\.name is not valid UTF-8$/],
    ] as const)(
      'when one span has a %s that is not UTF-8, then that span alone is refused, naming the field, and the others are taken unchanged',
      (where, message) => {
        const decoded = decodeTraceRequest(breakUtf8(serialize(spans(where))), encoding);
        expect(decoded.spans.map((s) => s.name)).toEqual(['ok-1', 'ok-3']);
        expect(decoded.rejected).toBe(1);
        expect(decoded.errors[0]).toMatch(message);
        expect(JSON.stringify(decoded.spans.map((s) => s.attributes))).not.toContain('\uFFFD');
      },
    );

    it('when the resource has a value that is not UTF-8, then its spans are refused and named by the resource', () => {
      const decoded = decodeTraceRequest(breakUtf8(serialize(spans('resource'))), encoding);
      expect(decoded.spans).toEqual([]);
      expect(decoded.rejected).toBe(3);
      expect(decoded.errors[0]).toMatch(/resourceSpans\[0\]\.resource: attribute "service\.name" is not valid UTF-8/);
    });

    it('when every string is UTF-8 (é included), then nothing is refused', () => {
      const decoded = decodeTraceRequest(serialize(spans('name')), encoding);
      expect(decoded.rejected).toBe(0);
      expect(decoded.spans.map((s) => s.name)).toEqual(['ok-1', 'café', 'ok-3']);
    });
  });
});
