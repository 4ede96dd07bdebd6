import type { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';

/**
 * The official exporters' `compression` option: the string enum CompressionAlgorithm of
 * @opentelemetry/otlp-exporter-base (values 'gzip' and 'none'), named here through the exporter's
 * own config type so that the tests need no direct dependency on that package.
 */
export type Compression = NonNullable<NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>['compression']>;

/** CompressionAlgorithm.GZIP */
export const GZIP = 'gzip' as Compression;
/** CompressionAlgorithm.NONE */
export const NONE = 'none' as Compression;
