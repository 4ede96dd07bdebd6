/**
 * canceltrace's own health as Prometheus metrics (prom-client), served at `GET /metrics`.
 *
 * Names follow the Prometheus conventions: a `canceltrace_` prefix, `_total` on counters, base
 * units (seconds, bytes) in the name. Each service has its own registry, so two services in one
 * process (tests) never share counts.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SettledJudgment } from '../../collector/forward/settledJudgment.js';
import type { IngestOutcome } from '../../collector/receiver/IngestOutcome.js';
import { type Consumer, VERDICTS } from '../../contract/records.js';

/** Latency buckets of one OTLP request, in seconds (1 ms … 10 s). */
export const INGEST_SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Latency buckets of one store commit, in seconds (0.5 ms … 5 s). */
export const COMMIT_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** What a forward destination reports (an OtlpForwarder fits). */
export interface ForwardStats {
  readonly url: string;
  readonly queuedBytes: number;
  readonly droppedSpans: number;
  readonly sentSpans: number;
}

/** What the store reports (the Store interface fits). */
export interface StoreStats {
  stats(): Promise<{ spans: number; tasks: number; shutdowns: number }>;
  /** the bytes the store occupies, when it can tell */
  sizeBytes?(): Promise<number | undefined>;
}

/** Every metric of a running service, and the text a scrape gets. */
export class ServiceMetrics {
  /** the registry `GET /metrics` renders */
  readonly registry = new Registry();
  private readonly received: Counter<'protocol' | 'encoding'>;
  private readonly rejected: Counter<'protocol' | 'reason'>;
  private readonly requests: Counter<'protocol' | 'status'>;
  private readonly ingestSeconds: Histogram<'protocol'>;
  private readonly commitSeconds: Histogram;
  private readonly judged: Counter<'outcome' | 'settled_by'>;
  private readonly tasksJudged: Counter<'verdict'>;

  constructor(store: StoreStats, forwarders: readonly ForwardStats[] = [], retention?: { readonly deletedTotal: Readonly<Record<string, number>> }) {
    const registers = [this.registry];
    this.received = new Counter({
      name: 'canceltrace_otlp_spans_received_total',
      help: 'Spans received over OTLP and taken by the store, by protocol (http, grpc) and encoding (protobuf, json).',
      labelNames: ['protocol', 'encoding'],
      registers,
    });
    this.rejected = new Counter({
      name: 'canceltrace_otlp_spans_rejected_total',
      help: 'Spans refused, by protocol and reason (invalid: bad data, not retried; unavailable: the store could not take them, retried by the sender; internal).',
      labelNames: ['protocol', 'reason'],
      registers,
    });
    this.requests = new Counter({
      name: 'canceltrace_otlp_requests_total',
      help: 'OTLP export requests answered, by protocol and status (HTTP status code, or gRPC status name).',
      labelNames: ['protocol', 'status'],
      registers,
    });
    this.ingestSeconds = new Histogram({
      name: 'canceltrace_otlp_request_duration_seconds',
      help: 'Time from the start of an OTLP export request to its answer, in seconds.',
      labelNames: ['protocol'],
      buckets: INGEST_SECONDS_BUCKETS,
      registers,
    });
    this.commitSeconds = new Histogram({
      name: 'canceltrace_store_commit_duration_seconds',
      help: 'Time to commit one batch of span records to the store, in seconds.',
      buckets: COMMIT_SECONDS_BUCKETS,
      registers,
    });
    this.judged = new Counter({
      name: 'canceltrace_shutdowns_judged_total',
      help: 'Shutdowns whose judgment settled, by outcome and by what settled it (ended, process_gone).',
      labelNames: ['outcome', 'settled_by'],
      registers,
    });
    this.tasksJudged = new Counter({
      name: 'canceltrace_tasks_judged_total',
      help: 'Tasks of settled shutdowns, by verdict.',
      labelNames: ['verdict'],
      registers,
    });
    for (const verdict of VERDICTS) this.tasksJudged.labels(verdict).inc(0);
    new Gauge({
      name: 'canceltrace_forward_queue_bytes',
      help: 'Bytes of OTLP requests waiting to be forwarded, by destination.',
      labelNames: ['destination'],
      registers,
      collect() {
        for (const f of forwarders) this.labels(f.url).set(f.queuedBytes);
      },
    });
    new Counter({
      name: 'canceltrace_forward_spans_dropped_total',
      help: 'Spans not forwarded (queue full, refused by the destination, retried too long, or queued at stop), by destination.',
      labelNames: ['destination'],
      registers,
      collect() {
        this.reset();
        for (const f of forwarders) this.labels(f.url).inc(f.droppedSpans);
      },
    });
    new Counter({
      name: 'canceltrace_forward_spans_sent_total',
      help: 'Spans the destination acknowledged, by destination (judgment spans included).',
      labelNames: ['destination'],
      registers,
      collect() {
        this.reset();
        for (const f of forwarders) this.labels(f.url).inc(f.sentSpans);
      },
    });
    new Gauge({
      name: 'canceltrace_store_spans',
      help: 'Span records in the store, by role (task, shutdown, other).',
      labelNames: ['role'],
      registers,
      async collect() {
        const { spans, tasks, shutdowns } = await store.stats();
        this.labels('task').set(tasks);
        this.labels('shutdown').set(shutdowns);
        this.labels('other').set(spans - tasks - shutdowns);
      },
    });
    if (retention) {
      new Counter({
        name: 'canceltrace_retention_deleted_spans_total',
        help: 'Span records deleted by retention (--retention), by role (task, shutdown, other).',
        labelNames: ['role'],
        registers,
        collect() {
          this.reset();
          for (const [role, n] of Object.entries(retention.deletedTotal)) this.labels(role).inc(n);
        },
      });
    }
    if (store.sizeBytes) {
      const sizeBytes = store.sizeBytes.bind(store);
      new Gauge({
        name: 'canceltrace_store_size_bytes',
        help: 'Bytes the store occupies (SQLite: pages in use; PostgreSQL: the tables and their indices).',
        registers,
        async collect() {
          const bytes = await sizeBytes();
          if (bytes !== undefined) this.set(bytes);
        },
      });
    }
  }

  /** Counts one answered OTLP request (a receiver's IngestObserver). Never throws. */
  observeIngest(outcome: IngestOutcome): void {
    this.requests.labels(outcome.protocol, outcome.status).inc();
    this.ingestSeconds.labels(outcome.protocol).observe(outcome.seconds);
    if (outcome.accepted > 0) this.received.labels(outcome.protocol, outcome.encoding).inc(outcome.accepted);
    if (outcome.rejected > 0) this.rejected.labels(outcome.protocol, outcome.reason ?? 'invalid').inc(outcome.rejected);
  }

  /** Counts one settled shutdown and its tasks by verdict. */
  observeJudgment(judgment: Pick<SettledJudgment, 'outcome' | 'counts'>, settledBy: string): void {
    this.judged.labels(judgment.outcome, settledBy).inc();
    for (const verdict of VERDICTS) {
      const n = judgment.counts[verdict] ?? 0;
      if (n > 0) this.tasksJudged.labels(verdict).inc(n);
    }
  }

  /** `next` with each batch's commit time recorded. */
  timedStore<T>(next: Consumer<T>): Consumer<T> {
    const histogram = this.commitSeconds;
    return {
      async consume(batch: T[]): Promise<void> {
        const end = histogram.startTimer();
        try {
          await next.consume(batch);
        } finally {
          end();
        }
      },
    };
  }

  /** The scrape: Prometheus text format. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
