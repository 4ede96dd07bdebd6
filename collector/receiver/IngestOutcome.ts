import type { OtlpEncoding } from '../otlp/decode.js';

/** The two OTLP transports canceltrace receives on. */
export type OtlpProtocol = 'http' | 'grpc';

/**
 * Why a request, or some of its spans, were refused. `invalid`: bad data (not retried);
 * `too_large`: over the body limit; `unsupported`: content type or encoding; `unauthenticated`:
 * a missing or wrong token; `unavailable`: the next stage could not take the spans now (retried).
 */
export type RejectReason = 'invalid' | 'too_large' | 'unsupported' | 'unauthenticated' | 'unavailable' | 'exhausted' | 'internal';

/** What a receiver tells its observers about one export request once it has answered it. */
export interface IngestOutcome {
  protocol: OtlpProtocol;
  encoding: OtlpEncoding;
  /** the HTTP status code, or the gRPC status name (`OK`, `UNAVAILABLE`, ...) */
  status: string;
  /** from the first byte of the request to the answer, in seconds */
  seconds: number;
  /** spans handed to the next stage and taken by it */
  accepted: number;
  /** spans refused on their own (partial success), or every decoded span when the next stage refused the batch */
  rejected: number;
  /** why spans or the request were refused; absent on a plain success */
  reason?: RejectReason;
  /** the decompressed request body, present only when `accepted` > 0 (what a forwarder passes on) */
  body?: Uint8Array;
}

/** Told about every answered export; must not throw (a throw is caught and ignored). */
export type IngestObserver = (outcome: IngestOutcome) => void;
