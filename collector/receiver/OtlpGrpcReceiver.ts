/**
 * The OTLP/gRPC trace receiver: `TraceService/Export` → decode → `next.consume(spans)`.
 *
 * It answers as the OTLP/HTTP receiver does, in gRPC terms: bad data is INVALID_ARGUMENT (the
 * exporter drops it), a body over the limit RESOURCE_EXHAUSTED, a next stage that cannot take
 * spans now UNAVAILABLE with a google.rpc.RetryInfo (the exporter retries), a wrong or missing
 * token UNAUTHENTICATED, and spans refused on their own a partial success. gzip-compressed
 * messages are inflated by grpc-js, bounded by the same limit before and after inflating.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Consumer } from '../../contract/records.js';
import { type DecodedRequest, decodeTraceRequest, OtlpDecodeError } from '../otlp/decode.js';
import { OtlpTypes } from '../otlp/schema.js';
import type { IngestObserver, IngestOutcome, RejectReason } from './IngestOutcome.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_RETRY_AFTER_SECONDS } from './OtlpHttpReceiver.js';
import { STATUS_DETAILS_TRAILER, statusWithRetryInfo, TRACE_SERVICE } from './traceServiceGrpc.js';

/** The default OTLP/gRPC port, as in the OTLP specification. */
export const DEFAULT_GRPC_PORT = 4317;

/** How long {@link OtlpGrpcReceiver.close} lets in-flight calls finish before cancelling them, in milliseconds. */
export const GRPC_STOP_GRACE_MILLIS = 5_000;

/** Longest `errorMessage` of a partial success, in characters (as OTLP/HTTP). */
const MAX_PARTIAL_MESSAGE_CHARS = 2000;

/** How a {@link OtlpGrpcReceiver} is built. */
export interface OtlpGrpcReceiverOptions {
  /** The next stage; it gets the spans of each accepted request as one batch. */
  next: Consumer<ReadableSpan>;
  /** Largest message in bytes, before and after gzip; defaults to the OTLP/HTTP limit. */
  maxBodyBytes?: number;
  /** Seconds an UNAVAILABLE asks the exporter to wait (RetryInfo); defaults to the OTLP/HTTP value. */
  retryAfterSeconds?: number;
  /** When set, every call must carry `authorization: Bearer <token>` metadata. */
  token?: string;
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
    readonly rejected = 0,
  ) {
    super(message);
  }
}

/** Receives OTLP/gRPC trace exports and hands their spans to the next stage. */
export class OtlpGrpcReceiver {
  private readonly next: Consumer<ReadableSpan>;
  private readonly maxBodyBytes: number;
  private readonly retryAfterSeconds: number;
  private readonly tokenDigest: Buffer | undefined;
  private readonly observe: IngestObserver;
  private readonly reportError: (err: unknown) => void;
  private server: grpc.Server | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: OtlpGrpcReceiverOptions) {
    this.next = options.next;
    this.maxBodyBytes = positiveOr(options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES, 'maxBodyBytes');
    this.retryAfterSeconds = positiveOr(options.retryAfterSeconds, DEFAULT_RETRY_AFTER_SECONDS, 'retryAfterSeconds');
    this.tokenDigest = options.token ? digest(options.token) : undefined;
    this.reportError = guarded(options.onError ?? defaultOnError);
    const observe = options.observe;
    this.observe = observe ? guarded(observe) : () => {};
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
    try {
      this.authenticate(call.metadata);
      const body = call.request;
      let decoded: DecodedRequest;
      try {
        decoded = decodeTraceRequest(body, 'protobuf');
      } catch (err) {
        if (err instanceof OtlpDecodeError) throw new CallError(grpc.status.INVALID_ARGUMENT, err.message, 'invalid');
        throw err;
      }
      if (decoded.spans.length > 0) await this.consume(decoded);
      const response: { partialSuccess?: { rejectedSpans: number; errorMessage: string } } = {};
      if (decoded.rejected > 0) response.partialSuccess = { rejectedSpans: decoded.rejected, errorMessage: partialMessage(decoded) };
      const bytes = OtlpTypes.ExportTraceServiceResponse.encode(response).finish();
      callback(null, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      this.observe(
        outcome('OK', {
          accepted: decoded.spans.length,
          rejected: decoded.rejected,
          ...(decoded.rejected > 0 ? { reason: 'invalid' as const } : {}),
          ...(decoded.spans.length > 0 ? { body } : {}),
        }),
      );
    } catch (err) {
      const failure = err instanceof CallError ? err : new CallError(grpc.status.INTERNAL, 'internal error in the OTLP/gRPC receiver', 'internal');
      if (!(err instanceof CallError)) this.reportError(err);
      const metadata = new grpc.Metadata();
      if (failure.code === grpc.status.UNAVAILABLE || failure.code === grpc.status.RESOURCE_EXHAUSTED) {
        metadata.set(STATUS_DETAILS_TRAILER, statusWithRetryInfo(failure.code, failure.message, this.retryAfterSeconds));
      }
      callback({ code: failure.code, details: failure.message, metadata });
      this.observe(outcome(grpc.status[failure.code], { rejected: failure.rejected, reason: failure.reason }));
    }
  }

  private authenticate(metadata: grpc.Metadata): void {
    if (!this.tokenDigest) return;
    const header = metadata.get('authorization')[0];
    const match = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
    if (!match || !timingSafeEqual(digest(match[1]), this.tokenDigest)) {
      throw new CallError(grpc.status.UNAUTHENTICATED, 'a valid "authorization: Bearer <token>" is required', 'unauthenticated');
    }
  }

  private async consume(decoded: DecodedRequest): Promise<void> {
    try {
      await this.next.consume(decoded.spans);
    } catch (err) {
      // A stage that refuses the data itself (a value the store cannot keep exactly) is permanent, as over HTTP.
      if ((err as { permanent?: unknown })?.permanent === true) {
        throw new CallError(grpc.status.INVALID_ARGUMENT, `spans refused: ${(err as Error).message}`, 'invalid', decoded.spans.length);
      }
      this.reportError(err);
      throw new CallError(grpc.status.UNAVAILABLE, 'the collector cannot take spans right now; retry later', 'unavailable', decoded.spans.length);
    }
  }
}

function partialMessage(decoded: DecodedRequest): string {
  const unlisted = decoded.rejected - decoded.errors.length;
  const text = decoded.errors.join('; ') + (unlisted > 0 ? `; and ${unlisted} more` : '');
  return text.length > MAX_PARTIAL_MESSAGE_CHARS ? `${text.slice(0, MAX_PARTIAL_MESSAGE_CHARS)}…` : text;
}

/** A fixed-length digest, so that tokens of any length compare in constant time. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
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
