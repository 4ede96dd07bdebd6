import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { settledJudgmentOf } from '../../../collector/forward/settledJudgment.js';
import type { IngestOutcome } from '../../../collector/receiver/IngestOutcome.js';
import { type SpanRecord, VERDICTS } from '../../../contract/records.js';
import { ShutdownViews } from '../../../server/api/ShutdownViews.js';
import { createApp } from '../../../server/app.js';
import { judgeShutdown, judgeTaskAlone } from '../../../server/judge/index.js';
import { ServiceMetrics } from '../../../server/metrics/ServiceMetrics.js';
import { SqliteStore } from '../../../server/store/SqliteStore.js';
import { RecordingConsumer } from '../../doubles/RecordingConsumer.js';
import { events, MS, SEC, shutdown, task } from '../../doubles/spans.js';
import { parsePrometheusText, seriesValue } from './parsePrometheusText.js';

const outcome = (o: Partial<IngestOutcome>): IngestOutcome => ({
  protocol: 'http',
  encoding: 'protobuf',
  status: '200',
  seconds: 0.004,
  accepted: 0,
  rejected: 0,
  ...o,
});

function metricsWith(stats = { spans: 10, tasks: 6, shutdowns: 1 }) {
  const forwarder = { url: 'http://tempo:4318/v1/traces', queuedBytes: 1234, droppedSpans: 7, sentSpans: 90 };
  const metrics = new ServiceMetrics({ stats: async () => stats, sizeBytes: async () => 65536 }, [forwarder]);
  return { metrics, forwarder };
}

async function scrape(metrics: ServiceMetrics) {
  const { contentType, text } = await metrics.scrape();
  expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(text);
}

describe('ServiceMetrics', () => {
  describe('observeIngest', () => {
    it('when requests are answered, then spans received, rejected, requests and latency are counted by protocol', async () => {
      const { metrics } = metricsWith();
      metrics.observeIngest(outcome({ accepted: 5 }));
      metrics.observeIngest(outcome({ protocol: 'grpc', status: 'OK', accepted: 3, rejected: 1, reason: 'invalid' }));
      metrics.observeIngest(outcome({ encoding: 'json', status: '503', rejected: 4, reason: 'unavailable', seconds: 0.2 }));
      const f = await scrape(metrics);
      expect(seriesValue(f, 'canceltrace_otlp_spans_received_total', { protocol: 'http', encoding: 'protobuf' })).toBe(5);
      expect(seriesValue(f, 'canceltrace_otlp_spans_received_total', { protocol: 'grpc', encoding: 'protobuf' })).toBe(3);
      expect(seriesValue(f, 'canceltrace_otlp_spans_rejected_total', { protocol: 'grpc', reason: 'invalid' })).toBe(1);
      expect(seriesValue(f, 'canceltrace_otlp_spans_rejected_total', { protocol: 'http', reason: 'unavailable' })).toBe(4);
      expect(seriesValue(f, 'canceltrace_otlp_requests_total', { protocol: 'http', status: '503' })).toBe(1);
      expect(seriesValue(f, 'canceltrace_otlp_requests_total', { protocol: 'grpc', status: 'OK' })).toBe(1);
      expect(seriesValue(f, 'canceltrace_otlp_request_duration_seconds_count', { protocol: 'http' })).toBe(2);
      expect(seriesValue(f, 'canceltrace_otlp_request_duration_seconds_bucket', { protocol: 'http', le: '0.005' })).toBe(1);
      expect(seriesValue(f, 'canceltrace_otlp_request_duration_seconds_sum', { protocol: 'http' })).toBeCloseTo(0.204, 6);
    });
  });

  describe('observeJudgment', () => {
    it('when a shutdown settles, then it is counted by outcome and its tasks by verdict', async () => {
      const { metrics } = metricsWith();
      const s = shutdown({ start: 0n, end: SEC, outcome: 'survivors' });
      const tasks = [
        task({ start: -SEC, end: 100n * MS, finalState: 'completed', events: [events.cancel(10n * MS)] }),
        task({ start: -SEC, end: SEC, snapshot: true, events: [events.cancel(10n * MS)] }),
        task({ start: -SEC, end: SEC, snapshot: true }),
      ];
      metrics.observeJudgment(settledJudgmentOf(judgeShutdown(s, tasks)), 'ended');
      const f = await scrape(metrics);
      expect(seriesValue(f, 'canceltrace_shutdowns_judged_total', { outcome: 'survivors', settled_by: 'ended' })).toBe(1);
      expect(seriesValue(f, 'canceltrace_tasks_judged_total', { verdict: 'swallowed' })).toBe(1);
      expect(seriesValue(f, 'canceltrace_tasks_judged_total', { verdict: 'survivor' })).toBe(1);
      expect(seriesValue(f, 'canceltrace_tasks_judged_total', { verdict: 'orphan' })).toBe(1);
      expect(
        f
          .get('canceltrace_tasks_judged_total')
          ?.samples.map((x) => x.labels.verdict)
          .sort(),
      ).toEqual([...VERDICTS].sort());
    });
  });

  describe('scrape', () => {
    it('when scraped, then forward queue, drops, store counts and size are read at that moment', async () => {
      const { metrics, forwarder } = metricsWith();
      let f = await scrape(metrics);
      const destination = { destination: forwarder.url };
      expect(seriesValue(f, 'canceltrace_forward_queue_bytes', destination)).toBe(1234);
      expect(seriesValue(f, 'canceltrace_forward_spans_dropped_total', destination)).toBe(7);
      expect(seriesValue(f, 'canceltrace_forward_spans_sent_total', destination)).toBe(90);
      expect(seriesValue(f, 'canceltrace_store_spans', { role: 'task' })).toBe(6);
      expect(seriesValue(f, 'canceltrace_store_spans', { role: 'other' })).toBe(3);
      expect(seriesValue(f, 'canceltrace_store_size_bytes')).toBe(65536);
      forwarder.droppedSpans = 9;
      f = await scrape(metrics);
      expect(seriesValue(f, 'canceltrace_forward_spans_dropped_total', destination)).toBe(9);
    });

    it('when scraped, then every name has the canceltrace_ prefix, counters end in _total, and each family has HELP and TYPE', async () => {
      const { metrics } = metricsWith();
      const f = await scrape(metrics);
      expect(f.size).toBeGreaterThanOrEqual(12);
      for (const family of f.values()) {
        expect(family.name).toMatch(/^canceltrace_/);
        expect(family.help).toBeTruthy();
        if (family.type === 'counter') expect(family.name).toMatch(/_total$/);
        if (family.type === 'histogram') expect(family.name).toMatch(/_seconds$/);
      }
    });

    it('when timing a store, then each commit is one observation, failed ones included', async () => {
      const { metrics } = metricsWith();
      const next = new RecordingConsumer<SpanRecord>();
      const timed = metrics.timedStore(next);
      await timed.consume([]);
      next.failWith = new Error('busy');
      await expect(timed.consume([])).rejects.toThrow('busy');
      const f = await scrape(metrics);
      expect(seriesValue(f, 'canceltrace_store_commit_duration_seconds_count')).toBe(2);
    });
  });
});

describe('GET /metrics', () => {
  const store = SqliteStore.open({ path: ':memory:', verdictOf: judgeTaskAlone });
  const views = new ShutdownViews(store);

  it('when metrics are on, then the scrape is Prometheus text that a strict parser reads', async () => {
    const metrics = new ServiceMetrics(store);
    const res = await request(createApp({ store, views, metrics })).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const f = parsePrometheusText(res.text);
    expect(seriesValue(f, 'canceltrace_store_spans', { role: 'task' })).toBe(0);
  });

  it('when metrics are off, then there is no /metrics route', async () => {
    const res = await request(createApp({ store, views })).get('/metrics');
    expect(res.status).toBe(404);
  });
});

describe('parsePrometheusText', () => {
  it.each([
    ['a sample before its TYPE line', 'x_total 1\n# TYPE x_total counter\n'],
    ['a bad label escape', '# TYPE x gauge\nx{a="\\q"} 1\n'],
    ['an unquoted label value', '# TYPE x gauge\nx{a=b} 1\n'],
    ['a series twice', '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n'],
    ['split samples of a family', '# TYPE x gauge\nx{a="1"} 1\n# TYPE y gauge\ny 1\nx{a="2"} 1\n'],
    ['a histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['a histogram whose +Inf is not its count', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'],
    ['a bad value', '# TYPE x gauge\nx one\n'],
    ['no final newline', '# TYPE x gauge\nx 1'],
  ])('when the text has %s, then it is refused', (_label, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });
});
