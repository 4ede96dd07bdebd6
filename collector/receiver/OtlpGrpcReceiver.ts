/**
 * The OTLP/gRPC trace receiver: `TraceService/Export` → decode → `next.consume(spans)`.
 *
 * It shares the OTLP/HTTP receiver's ingest path ({@link SpanIngest}: decode, per-span validation,
 * the ingest budget, the next stage) and answers in gRPC terms: bad data is INVALID_ARGUMENT (the
 * exporter drops it), a message over the size limit RESOURCE_EXHAUSTED, a shed request (over the
 * budget) RESOURCE_EXHAUSTED or UNAVAILABLE and a next stage that cannot take spans now UNAVAILABLE,
 * both with a google.rpc.RetryInfo (the exporter retries), a wrong or missing token
 * UNAUTHENTICATED, and spans refused on their own a partial success. gzip-compressed messages are
 * inflated by grpc-js, bounded by the same limit before and after inflating.
 */
import * as grpc from '@grpc/grpc-js';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Consumer } from '../../contract/records.js';
import { OtlpTypes } from '../otlp/schema.js';
import { bearerTokenMatches } from './bearerToken.js';
import type { IngestBudget, IngestTicket } from './IngestBudget.js';
import type { IngestObserver, IngestOutcome, RejectReason } from './IngestOutcome.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_RETRY_AFTER_SECONDS } from './OtlpHttpReceiver.js';
import { ConsumerUnavailableError, IngestOverloadedError, OtlpDecodeError, SpanIngest } from './SpanIngest.js';
import { STATUS_DETAILS_TRAILER, statusWithRetryInfo, TRACE_SERVICE } from './traceServiceGrpc.js';

/** The default OTLP/gRPC port, as in the OTLP specification. */
export const DEFAULT_GRPC_PORT = 4317;

/** How long {@link OtlpGrpcReceiver.close} lets in-flight calls finish before cancelling them, in milliseconds. */
export const GRPC_STOP_GRACE_MILLIS = 5_000;

/** How a {@link OtlpGrpcReceiver} is built. */
export interface OtlpGrpcReceiverOptions {
  /** The next stage; it gets the spans of each accepted request as one batch. */
  next: Consumer<ReadableSpan>;
  /** Largest message in bytes, before and after gzip; defaults to the OTLP/HTTP limit. */
  maxBodyBytes?: number;
  /** Seconds an UNAVAILABLE asks the exporter to wait (RetryInfo); defaults to the OTLP/HTTP value. */
  retryAfterSeconds?: number;
  /** When set, every call must carry `authorization: Bearer <token>` metadata (UNAUTHENTICATED otherwise). */
  token?: string;
  /** The ingest budget shared with the process's other receivers; a default one when absent. */
  budget?: IngestBudget;
  /** Told about every answered export (metrics, forwarding). Must not throw. */
  observe?: IngestObserver;
  /** Told about failures the sender cannot see (the next stage failing, a receiver bug). Must not throw. */
  onError?: (err: unknown) => void;
}

/** A failure to answer with a gRPC status. */
class CallError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
    readonly reason: RejectReason,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** Receives OTLP/gRPC trace exports and hands their spans to the next stage. */
export class OtlpGrpcReceiver {
  /** The transport-neutral path (decode → validate → budget → consume), shared in kind with OTLP/HTTP. */
  readonly ingest: SpanIngest;
  private readonly maxBodyBytes: number;
  private readonly retryAfterSeconds: number;
  private readonly token: string | undefined;
  private readonly observe: IngestObserver;
  private readonly reportError: (err: unknown) => void;
  private server: grpc.Server | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: OtlpGrpcReceiverOptions) {
    this.maxBodyBytes = positiveOr(options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES, 'maxBodyBytes');
    this.retryAfterSeconds = positiveOr(options.retryAfterSeconds, DEFAULT_RETRY_AFTER_SECONDS, 'retryAfterSeconds');
    this.token = options.token || undefined;
    this.reportError = guarded(options.onError ?? defaultOnError);
    const observe = options.observe;
    this.observe = observe ? guarded(observe) : () => {};
    this.ingest = new SpanIngest({ next: options.next, budget: options.budget, onError: this.reportError });
  }

  /**
   * Listens on `host:port` (0 picks a free port) and resolves with the bound port.
   * @throws when the address cannot be bound (as a rejection)
   */
  async listen(host: string, port: number): Promise<number> {
    if (this.server) throw new Error('canceltrace OtlpGrpcReceiver: already listening');
    const server = new grpc.Server({
      'grpc.max_receive_message_length': this.maxBodyBytes,
      'grpc.max_send_message_length': this.maxBodyBytes,
    });
    server.addService(TRACE_SERVICE, {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => void this.export(call, callback),
    });
    const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, actual) =>
        err
          ? reject(new Error(`cannot listen for OTLP/gRPC on ${address} (${err.message}); pick another --grpc-port, or 0 to turn gRPC off`))
          : resolve(actual),
      );
    });
    this.server = server;
    return bound;
  }

  /** Stops taking calls; in-flight ones finish within {@link GRPC_STOP_GRACE_MILLIS}. Safe to call twice, or before listen. */
  close(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    this.closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.forceShutdown(), GRPC_STOP_GRACE_MILLIS);
      timer.unref();
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.closing;
  }

  /** One Export call: never throws; every path answers through `callback` exactly once. */
  private async export(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>): Promise<void> {
    const started = performance.now();
    const outcome = (status: string, rest: Partial<IngestOutcome>): IngestOutcome => ({
      protocol: 'grpc',
      encoding: 'protobuf',
      status,
      seconds: (performance.now() - started) / 1000,
      accepted: 0,
      rejected: 0,
      ...rest,
    });
    let ticket: IngestTicket | undefined;
    try {
      if (this.token !== undefined) {
        const header = call.metadata.get('authorization')[0];
        if (!bearerTokenMatches(typeof header === 'string' ? header : undefined, this.token)) {
          throw new CallError(grpc.status.UNAUTHENTICATED, 'missing or wrong bearer token; send "authorization: Bearer <token>" metadata', 'unauthenticated');
        }
      }
      ticket = this.ingest.admit();
      const body = call.request;
      const result = await this.ingest.ingest(body, 'protobuf', ticket);
      const response: { partialSuccess?: { rejectedSpans: number; errorMessage: string } } = {};
      if (result.rejected > 0) response.partialSuccess = { rejectedSpans: result.rejected, errorMessage: result.errorMessage };
      const bytes = OtlpTypes.ExportTraceServiceResponse.encode(response).finish();
      callback(null, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      this.observe(
        outcome('OK', {
          accepted: result.accepted,
          rejected: result.rejected,
          ...(result.rejected > 0 ? { reason: 'invalid' as const } : {}),
          ...(result.accepted > 0 ? { body } : {}),
        }),
      );
    } catch (err) {
      const failure = this.callErrorOf(err);
      const metadata = new grpc.Metadata();
      if (failure.retryAfterSeconds !== undefined) {
        metadata.set(STATUS_DETAILS_TRAILER, statusWithRetryInfo(failure.code, failure.message, failure.retryAfterSeconds));
      }
      callback({ code: failure.code, details: failure.message, metadata });
      this.observe(outcome(grpc.status[failure.code], { reason: failure.reason }));
    } finally {
      ticket?.release();
    }
  }

  /** The one place that maps failures to gRPC statuses (the table in SpanIngest's module comment). */
  private callErrorOf(err: unknown): CallError {
    if (err instanceof CallError) return err;
    if (err instanceof OtlpDecodeError) return new CallError(grpc.status.INVALID_ARGUMENT, err.message, 'invalid');
    if (err instanceof IngestOverloadedError) {
      const code = err.httpStatus === 429 ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.UNAVAILABLE;
      return new CallError(code, err.message, 'exhausted', err.retryAfterSeconds);
    }
    if (err instanceof ConsumerUnavailableError) {
      return new CallError(grpc.status.UNAVAILABLE, err.message, 'unavailable', err.retryAfterSeconds ?? this.retryAfterSeconds);
    }
    this.reportError(err);
    return new CallError(grpc.status.INTERNAL, 'internal error in the OTLP/gRPC receiver', 'internal');
  }
}

function guarded<A>(fn: (arg: A) => void): (arg: A) => void {
  return (arg) => {
    try {
      fn(arg);
    } catch {
      // Observers and reporters are the last stop; nothing is left to tell.
    }
  };
}

function positiveOr(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (Number.isFinite(value) && value > 0) return value;
  console.warn(`canceltrace OtlpGrpcReceiver: ${name} must be a positive number, got ${value}; using ${fallback}`);
  return fallback;
}

function defaultOnError(err: unknown): void {
  console.error(`canceltrace OtlpGrpcReceiver: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
}
