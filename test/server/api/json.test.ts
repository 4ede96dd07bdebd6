import { describe, expect, it } from 'vitest';
import { readShutdown, readTask } from '../../../contract/contract.js';
import type { Attrs } from '../../../contract/records.js';
import {
  bigintReplacer,
  compactReportJson,
  LazyArray,
  reportJson,
  STREAM_CHUNK_ITEMS,
  StreamedJson,
  streamedCompact,
  streamedWholeReport,
  toJsonText,
} from '../../../server/api/json.js';
import { judgeShutdown } from '../../../server/judge/index.js';
import { judgeBriefFromRecords } from '../../../server/judge/judgeBrief.js';
import { shutdownSpan, taskSpan } from '../store/spanBuilder.js';

const T0 = 1_700_000_000_123_456_789n;

/** A judged shutdown of three tasks at full ns precision; `extra` goes on the first task. */
function inputs(extra: Attrs = {}) {
  const shutdown = readShutdown(shutdownSpan({ trace: 1, span: 100, start: T0, end: T0 + 2_000_000_000n, outcome: 'survivors' }));
  shutdown.span.events.push({ name: 'tasks.pending', time: T0 + 1n, attributes: { 'tasks.pending.count': 3 } });
  const tasks = [
    taskSpan({
      trace: 1,
      span: 1,
      start: T0 - 10n,
      end: T0 + 7n,
      state: 'completed',
      attributes: extra,
      // out of time order on purpose: the compact steps pair them in time order
      events: [
        { name: 'task.cleanup.end', time: T0 + 5n, attributes: { 'cleanup.name': 'close', 'cleanup.outcome': 'ok' } },
        { name: 'task.cancel_requested', time: T0 + 1n, attributes: {} },
        { name: 'task.cleanup.start', time: T0 + 3n, attributes: { 'cleanup.name': 'close' } },
      ],
    }),
    taskSpan({ trace: 1, span: 2, start: T0 - 5n, end: T0 + 9n, state: 'cancelled', cancelled: true }),
    taskSpan({ trace: 2, span: 3, start: T0 - 5n, end: T0 + 2_500_000_000n, snapshot: true }),
  ].map(readTask);
  return { shutdown, tasks };
}

const report = (extra: Attrs = {}) => {
  const { shutdown, tasks } = inputs(extra);
  return judgeShutdown(shutdown, tasks);
};
const brief = (extra: Attrs = {}) => {
  const { shutdown, tasks } = inputs(extra);
  return judgeBriefFromRecords(shutdown, tasks);
};

describe('json', () => {
  describe('StreamedJson', () => {
    it('when a report is streamed in either form, then the chunks join to the text of the whole body', async () => {
      const r = report({ big: 12345678901234567890n });
      // the full view: the brief judgment's header and order, the whole tasks read in chunks
      async function* inChunks() {
        yield r.tasks.slice(0, 2);
        yield [];
        yield r.tasks.slice(2);
      }
      const streamed = streamedWholeReport(brief({ big: 12345678901234567890n }), inChunks);
      let text = '';
      for await (const chunk of streamed.stream()) text += chunk;
      expect(text).toBe(JSON.stringify(reportJson(r), bigintReplacer));
      expect(() => [...streamed.chunks()]).toThrow(/stream\(\)/);
      const b = brief({ big: 12345678901234567890n });
      expect([...streamedCompact(b).chunks()].join('')).toBe(JSON.stringify(compactReportJson(b), bigintReplacer));
    });

    it('when a top-level array is longer than a chunk, then it goes out in several chunks, none holding the whole array, also inside a nested object', () => {
      const length = STREAM_CHUNK_ITEMS * 4 + 7;
      const body = {
        a: 1,
        skipped: undefined,
        items: new LazyArray(length, (i) => ({ i, t: BigInt(i) })),
        empty: [],
        nested: { n: 2, long: Array.from({ length }, (_, i) => i), short: [1] },
        tail: 'x',
      };
      const chunks = [...new StreamedJson(body).chunks()];
      const plain = { ...body, skipped: undefined, items: Array.from({ length }, (_, i) => ({ i, t: BigInt(i) })) };
      expect(chunks.join('')).toBe(JSON.stringify(plain, bigintReplacer));
      const longest = Math.max(...chunks.map((c) => c.length));
      expect(longest).toBeLessThan(JSON.stringify(plain, bigintReplacer).length / 3);
    });
  });

  describe('toJsonText', () => {
    it('when a body holds no bigint, then the text is what JSON.stringify with the bigint replacer writes', () => {
      for (const body of [reportJson(report()), compactReportJson(brief()), { a: [1, 'x', null], b: { c: true } }]) {
        expect(toJsonText(body)).toBe(JSON.stringify(body, bigintReplacer));
      }
    });

    it('when an attribute holds an int64 beyond 2^53, then it is still written as its exact decimal string', () => {
      const body = reportJson(report({ big: 2n ** 63n - 1n }));
      const text = toJsonText(body);
      expect(text).toBe(JSON.stringify(body, bigintReplacer));
      expect(JSON.parse(text).tasks.find((t: { attributes: Attrs }) => t.attributes.big !== undefined).attributes.big).toBe('9223372036854775807');
    });
  });

  describe('reportJson', () => {
    it('when times are full-precision ns, then every one is written as its exact decimal string', () => {
      const parsed = JSON.parse(toJsonText(reportJson(report())));
      expect(parsed.shutdown.start).toBe(String(T0));
      const first = parsed.tasks.find((t: { spanId: string }) => t.spanId === '0000000000000001');
      expect(first.createdAt).toBe(String(T0 - 10n));
      expect(first.endedAt).toBe(String(T0 + 7n));
      expect(first.cancelRequestedAt).toBe(String(T0 + 1n));
      expect(first.events.map((e: { time: string }) => e.time)).toEqual([T0 + 5n, T0 + 1n, T0 + 3n].map(String));
      expect(parsed.shutdown.events[0].time).toBe(String(T0 + 1n));
      expect(parsed.pending).toEqual([{ t: String(T0 + 1n), count: 3 }]);
    });
  });

  describe('compactReportJson', () => {
    it('when events arrive out of time order, then cancels and steps are paired in time order with exact times', () => {
      const parsed = JSON.parse(toJsonText(compactReportJson(brief())));
      const first = parsed.tasks.find((t: unknown[]) => t[0] === '0000000000000001');
      expect(first[4]).toBe(String(T0 - 10n));
      expect(first[5]).toBe(String(T0 + 7n));
      expect(first[8]).toEqual([String(T0 + 1n)]);
      expect(first[9]).toEqual([['cleanup', 'close', String(T0 + 3n), String(T0 + 5n), 'ok']]);
      const open = parsed.tasks.find((t: unknown[]) => t[0] === '0000000000000003');
      expect(open[7]).toBe(1);
    });
  });
});
