/**
 * A request body that cannot be decoded as an OTLP ExportTraceServiceRequest at all.
 * It is a permanent error: sending the same bytes again cannot succeed, so the
 * receiver answers 400 and the exporter must not retry.
 */
export class OtlpDecodeError extends Error {
  /** Always true: the sender must not retry this body. */
  readonly permanent = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OtlpDecodeError';
  }
}
