/**
 * One decoded span from the parts a reader took off the wire: its {@link SpanRecord} is built here,
 * once, and the {@link DecodedSpan} returned is a view of it.
 */
import type { InstrumentationScope } from '@opentelemetry/core';
import type { DetectedResourceAttributes, Resource } from '@opentelemetry/resources';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR, bool, roleOf } from '../../contract/contract.js';
import type { Attrs, EventRecord, SpanRecord } from '../../contract/records.js';
import { DecodedSpan } from './DecodedSpan.js';
import type { ResourceParts } from './resourceParts.js';
import { resourcePartsOf } from './resourceParts.js';
import { SpanRejected } from './SpanRejected.js';
import { statusCode } from './spanFields.js';

/** A link as read, ids validated lower-case hex. */
export interface LinkParts {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: Attrs;
  droppedAttributesCount: number;
  /** trace flags and the remote bits */
  flags: number;
}

/**
 * A span as a reader took it off the wire. The direct wire reader's spans have this shape; the
 * readers validate ids before {@link buildSpan} (parentSpanId '' for a root span).
 */
export interface SpanParts {
  traceId: string;
  spanId: string;
  traceState: string;
  parentSpanId: string;
  /** trace flags and the remote bits */
  flags: number;
  name: string;
  /** OTLP SpanKind number */
  kind: number;
  start: bigint;
  end: bigint;
  attributes: Attrs;
  droppedAttributesCount: number;
  /** in the record's form: the record shares them */
  events: EventRecord[];
  /** each event's dropped attribute count, by index; absent (or a hole) where it is 0 */
  eventDrops?: number[];
  droppedEventsCount: number;
  links: LinkParts[];
  droppedLinksCount: number;
  statusCode: number;
  statusMessage: string;
}

/** A resource/scope group: what all of its spans share, built once per group. */
export interface SpanGroup {
  resource: Resource;
  resourceParts: ResourceParts;
  scope: InstrumentationScope;
  scopeRecord: SpanRecord['scope'];
}

/** The group of one resource and one of its scopes. */
export function spanGroup(resource: Resource, scopeName: string, scopeVersion: string, scopeSchemaUrl: string): SpanGroup {
  const scope: { name: string; version?: string; schemaUrl?: string } = { name: scopeName };
  if (scopeVersion) scope.version = scopeVersion;
  if (scopeSchemaUrl) scope.schemaUrl = scopeSchemaUrl;
  return {
    resource,
    resourceParts: resourcePartsOf(resource),
    scope,
    scopeRecord: scopeVersion ? { name: scopeName, version: scopeVersion } : { name: scopeName },
  };
}

/** A resource from its decoded attributes. */
export function makeResource(attrs: Attrs, schemaUrl: string | undefined): Resource {
  return resourceFromAttributes(attrs as DetectedResourceAttributes, schemaUrl ? { schemaUrl } : undefined);
}

/** OTLP kinds 2–5 as sent; unspecified and unknown kinds read as INTERNAL (1), as the spec lets receivers do. */
function recordKind(otlpKind: number): number {
  return otlpKind >= 2 && otlpKind <= 5 ? otlpKind : 1;
}

/**
 * Builds the span's record and its ReadableSpan view.
 *
 * @throws {@link SpanRejected} when the span has no start or ends before it starts
 */
export function buildSpan(p: SpanParts, group: SpanGroup): DecodedSpan {
  if (p.start === 0n) throw new SpanRejected('startTimeUnixNano is missing');
  if (p.end < p.start) throw new SpanRejected(`ends before it starts (start ${p.start}, end ${p.end})`);
  const code = statusCode(p.statusCode);
  const { resource, service, instance } = group.resourceParts;
  const record: SpanRecord = {
    traceId: p.traceId,
    spanId: p.spanId,
    name: p.name,
    kind: recordKind(p.kind),
    startTime: p.start,
    endTime: p.end,
    attributes: p.attributes,
    events: p.events,
    links: p.links.length === 0 ? [] : p.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: l.attributes })),
    status: p.statusMessage ? { code, message: p.statusMessage } : { code },
    resource,
    scope: group.scopeRecord,
    role: roleOf(p.attributes, group.scopeRecord.name),
    snapshot: bool(p.attributes, ATTR.snapshot),
    service,
    instance,
  };
  if (p.parentSpanId !== '') record.parentSpanId = p.parentSpanId;
  return new DecodedSpan(record, p, group);
}
