import type { Resource } from '@opentelemetry/resources';
import { instanceOf, serviceOf } from '../../contract/contract.js';
import type { Attrs, AttrValue } from '../../contract/records.js';

/** What a span record takes from its resource. */
export interface ResourceParts {
  resource: Attrs;
  service: string;
  instance: string;
}

function attrValue(value: unknown): AttrValue {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value;
  if (Array.isArray(value)) return value.map(attrValue);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'object') {
    const out: { [key: string]: AttrValue } = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = attrValue(v);
    return out;
  }
  return String(value);
}

/** Copies OpenTelemetry attributes into plain record attributes (undefined values dropped). */
export function toAttrs(attributes: Record<string, unknown> | undefined): Attrs {
  const out: Attrs = {};
  if (!attributes) return out;
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined) out[key] = attrValue(value);
  }
  return out;
}

/**
 * Resource parts by the resource's attributes object. Every span of an SDK provider, and every span
 * of one OTLP resourceSpans, shares one Resource, whose settled attributes object is memoized: one
 * copy then serves all those records (and lets the store recognise it cheaply). An object that is
 * not memoized (async attributes still pending) is a new one on each read, so it simply misses.
 */
const memo = new WeakMap<object, ResourceParts>();

/** The record's resource attributes, service and instance of `resource`, made once per resource. */
export function resourcePartsOf(resource: Resource | undefined): ResourceParts {
  const attributes = resource?.attributes as Record<string, unknown> | undefined;
  const hit = attributes ? memo.get(attributes) : undefined;
  if (hit) return hit;
  const attrs = toAttrs(attributes);
  const parts = { resource: attrs, service: serviceOf(attrs), instance: instanceOf(attrs) };
  if (attributes) memo.set(attributes, parts);
  return parts;
}
