/**
 * The OTLP trace messages as a protobufjs schema, written for canceltrace from the field
 * numbers of the opentelemetry-proto repository (common/v1, resource/v1, trace/v1,
 * collector/trace/v1) plus google.rpc.Status for error bodies.
 *
 * Only what a trace receiver reads or writes is declared; unknown fields of newer
 * senders are skipped by protobuf itself, which is how OTLP stays compatible.
 * 64-bit integers decode as `Long` (protobufjs picks up the `long` package), never as
 * lossy doubles: see {@link longToBigInt}.
 */
import protobuf from 'protobufjs';

const COMMON_V1 = `
syntax = "proto3";
package opentelemetry.proto.common.v1;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue {
  string key = 1;
  AnyValue value = 2;
}
message InstrumentationScope {
  string name = 1;
  string version = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}
`;

const RESOURCE_V1 = `
syntax = "proto3";
package opentelemetry.proto.resource.v1;

message Resource {
  repeated opentelemetry.proto.common.v1.KeyValue attributes = 1;
  uint32 dropped_attributes_count = 2;
}
`;

const TRACE_V1 = `
syntax = "proto3";
package opentelemetry.proto.trace.v1;

message TracesData { repeated ResourceSpans resource_spans = 1; }

message ResourceSpans {
  opentelemetry.proto.resource.v1.Resource resource = 1;
  repeated ScopeSpans scope_spans = 2;
  string schema_url = 3;
}

message ScopeSpans {
  opentelemetry.proto.common.v1.InstrumentationScope scope = 1;
  repeated Span spans = 2;
  string schema_url = 3;
}

message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  bytes parent_span_id = 4;
  fixed32 flags = 16;
  string name = 5;
  enum SpanKind {
    SPAN_KIND_UNSPECIFIED = 0;
    SPAN_KIND_INTERNAL = 1;
    SPAN_KIND_SERVER = 2;
    SPAN_KIND_CLIENT = 3;
    SPAN_KIND_PRODUCER = 4;
    SPAN_KIND_CONSUMER = 5;
  }
  SpanKind kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated opentelemetry.proto.common.v1.KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10;
  message Event {
    fixed64 time_unix_nano = 1;
    string name = 2;
    repeated opentelemetry.proto.common.v1.KeyValue attributes = 3;
    uint32 dropped_attributes_count = 4;
  }
  repeated Event events = 11;
  uint32 dropped_events_count = 12;
  message Link {
    bytes trace_id = 1;
    bytes span_id = 2;
    string trace_state = 3;
    repeated opentelemetry.proto.common.v1.KeyValue attributes = 4;
    uint32 dropped_attributes_count = 5;
    fixed32 flags = 6;
  }
  repeated Link links = 13;
  uint32 dropped_links_count = 14;
  Status status = 15;
}

message Status {
  reserved 1;
  string message = 2;
  enum StatusCode {
    STATUS_CODE_UNSET = 0;
    STATUS_CODE_OK = 1;
    STATUS_CODE_ERROR = 2;
  }
  StatusCode code = 3;
}

enum SpanFlags {
  SPAN_FLAGS_DO_NOT_USE = 0;
  SPAN_FLAGS_TRACE_FLAGS_MASK = 255;
  SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK = 256;
  SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK = 512;
}
`;

const COLLECTOR_TRACE_V1 = `
syntax = "proto3";
package opentelemetry.proto.collector.trace.v1;

message ExportTraceServiceRequest {
  repeated opentelemetry.proto.trace.v1.ResourceSpans resource_spans = 1;
}
message ExportTraceServiceResponse {
  ExportTracePartialSuccess partial_success = 1;
}
message ExportTracePartialSuccess {
  int64 rejected_spans = 1;
  string error_message = 2;
}
`;

const GOOGLE_PROTOBUF_ANY = `
syntax = "proto3";
package google.protobuf;
message Any {
  string type_url = 1;
  bytes value = 2;
}
`;

const GOOGLE_RPC_STATUS = `
syntax = "proto3";
package google.rpc;
message Status {
  int32 code = 1;
  string message = 2;
  repeated google.protobuf.Any details = 3;
}
`;

function buildRoot(): protobuf.Root {
  const root = new protobuf.Root();
  // Each source has its own package line, so they are parsed one by one into the same root;
  // cross-package references are fully qualified and resolve once all are loaded.
  for (const source of [COMMON_V1, RESOURCE_V1, TRACE_V1, COLLECTOR_TRACE_V1, GOOGLE_PROTOBUF_ANY, GOOGLE_RPC_STATUS]) {
    protobuf.parse(source, root);
  }
  root.resolveAll();
  return root;
}

/** The protobufjs root holding every OTLP trace message canceltrace reads or writes. */
export const OTLP_ROOT: protobuf.Root = buildRoot();

/** The OTLP trace message types, looked up once. Field names are lowerCamelCase. */
export const OtlpTypes = {
  AnyValue: OTLP_ROOT.lookupType('opentelemetry.proto.common.v1.AnyValue'),
  KeyValue: OTLP_ROOT.lookupType('opentelemetry.proto.common.v1.KeyValue'),
  InstrumentationScope: OTLP_ROOT.lookupType('opentelemetry.proto.common.v1.InstrumentationScope'),
  Resource: OTLP_ROOT.lookupType('opentelemetry.proto.resource.v1.Resource'),
  TracesData: OTLP_ROOT.lookupType('opentelemetry.proto.trace.v1.TracesData'),
  ResourceSpans: OTLP_ROOT.lookupType('opentelemetry.proto.trace.v1.ResourceSpans'),
  ScopeSpans: OTLP_ROOT.lookupType('opentelemetry.proto.trace.v1.ScopeSpans'),
  Span: OTLP_ROOT.lookupType('opentelemetry.proto.trace.v1.Span'),
  Status: OTLP_ROOT.lookupType('opentelemetry.proto.trace.v1.Status'),
  ExportTraceServiceRequest: OTLP_ROOT.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
  ExportTraceServiceResponse: OTLP_ROOT.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
  ExportTracePartialSuccess: OTLP_ROOT.lookupType('opentelemetry.proto.collector.trace.v1.ExportTracePartialSuccess'),
  RpcStatus: OTLP_ROOT.lookupType('google.rpc.Status'),
} as const;

/** Span flag bits (trace.v1.SpanFlags). */
export const SPAN_FLAGS = {
  traceFlagsMask: 0xff,
  contextHasIsRemoteMask: 0x100,
  contextIsRemoteMask: 0x200,
} as const;

/** google.rpc.Code values used in error bodies. */
export const RPC_CODE = {
  invalidArgument: 3,
  resourceExhausted: 8,
  unavailable: 14,
  unauthenticated: 16,
} as const;

/** A protobufjs `Long` as it arrives from decode (only the parts read here). */
export interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
}

/**
 * An int64/uint64/fixed64 value from protobufjs decode as an exact `bigint`.
 * protobufjs yields a `Long` when the `long` package is present and a plain number
 * otherwise; the number form is only exact below 2^53, so {@link OTLP_ROOT} refuses to
 * load without `Long` (see the check below).
 */
export function longToBigInt(value: LongLike | number | string | null | undefined, signed: boolean): bigint {
  if (value === null || value === undefined) return 0n;
  if (typeof value === 'number') return BigInt(Math.trunc(value));
  if (typeof value === 'string') return BigInt(value);
  const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  return signed ? BigInt.asIntN(64, bits) : BigInt.asUintN(64, bits);
}

// Without Long, protobufjs decodes fixed64 timestamps into doubles and silently drops
// nanosecond digits; failing at load time is better than storing wrong times.
if (!protobuf.util.Long) {
  throw new Error('canceltrace otlp schema: protobufjs has no Long support (the "long" package is missing); 64-bit values would lose digits');
}
