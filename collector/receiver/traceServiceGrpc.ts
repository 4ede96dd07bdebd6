/**
 * The OTLP gRPC trace service (opentelemetry.proto.collector.trace.v1.TraceService) as a
 * grpc-js service definition, plus the google.rpc.RetryInfo detail a retryable error carries.
 *
 * Messages pass through the service as raw bytes: the receiver decodes the request with the same
 * decoder as OTLP/HTTP protobuf (collector/otlp), so both transports read a span identically.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { OtlpTypes } from '../otlp/schema.js';

/** The full method path of TraceService.Export. */
export const TRACE_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** The trailer that carries a google.rpc.Status with details (gRPC richer error model). */
export const STATUS_DETAILS_TRAILER = 'grpc-status-details-bin';

const identity = (bytes: Buffer): Buffer => bytes;

/** TraceService with one unary method, Export, whose request and response stay bytes. */
export const TRACE_SERVICE: ServiceDefinition<{ Export: (call: unknown, callback: unknown) => void }> = {
  Export: {
    path: TRACE_EXPORT_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

const RETRY_INFO_PROTO = `
syntax = "proto3";
package google.rpc;
message Duration {
  int64 seconds = 1;
  int32 nanos = 2;
}
message RetryInfo { Duration retry_delay = 1; }
`;

const RetryInfo = protobuf.parse(RETRY_INFO_PROTO).root.lookupType('google.rpc.RetryInfo');

/** The type URL of google.rpc.RetryInfo inside a google.protobuf.Any. */
export const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

/**
 * A google.rpc.Status (code, message, one RetryInfo detail asking to wait `retryAfterSeconds`),
 * encoded for the {@link STATUS_DETAILS_TRAILER} trailer.
 */
export function statusWithRetryInfo(code: number, message: string, retryAfterSeconds: number): Buffer {
  const retry = RetryInfo.encode({ retryDelay: { seconds: Math.floor(retryAfterSeconds), nanos: 0 } }).finish();
  const status = OtlpTypes.RpcStatus.encode({ code, message, details: [{ typeUrl: RETRY_INFO_TYPE_URL, value: retry }] }).finish();
  return Buffer.from(status.buffer, status.byteOffset, status.byteLength);
}

/** Reads the retry delay, in seconds, from an encoded google.rpc.Status; undefined when it has none. */
export function retryDelaySecondsOf(statusBytes: Uint8Array): number | undefined {
  const status = OtlpTypes.RpcStatus.decode(statusBytes) as unknown as { details?: { typeUrl: string; value: Uint8Array }[] };
  const detail = status.details?.find((d) => d.typeUrl === RETRY_INFO_TYPE_URL);
  if (!detail) return undefined;
  const info = RetryInfo.decode(detail.value) as unknown as { retryDelay?: { seconds?: unknown } };
  return Number(info.retryDelay?.seconds ?? 0);
}
