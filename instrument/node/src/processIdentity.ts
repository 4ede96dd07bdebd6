import { randomUUID } from 'node:crypto';
import type { Attributes } from '@opentelemetry/api';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR } from '../../../contract/contract.js';

let identity: Attributes | undefined;

/**
 * The attributes that name this process to canceltrace: `service.instance.id` (a random uuid
 * per process, fixed for its life), `process.pid`, `process.runtime.name`. A shutdown view
 * gathers task spans by instance, so every span of the process must carry the same id.
 */
export function processIdentity(): Attributes {
  identity ??= {
    [ATTR.serviceInstanceId]: randomUUID(),
    [ATTR.processPid]: process.pid,
    [ATTR.processRuntimeName]: 'nodejs',
  };
  return identity;
}

/**
 * A resource for a `NodeTracerProvider`: the given attributes (e.g. `service.name`) over the
 * process identity. Use it so that every processor of the provider sees the same instance id.
 */
export function nodeResource(attributes: Attributes = {}): Resource {
  return resourceFromAttributes({ ...processIdentity(), ...attributes });
}

const merged = new WeakMap<Resource, Resource>();

/**
 * The resource with the process identity added under what it already says (its own
 * `service.instance.id` wins). Cached per resource object, so that spans that shared a
 * resource still share one and the exporter groups them together.
 */
export function withProcessIdentity(resource: Resource): Resource {
  const attrs = resource.attributes;
  if (attrs[ATTR.serviceInstanceId] !== undefined && attrs[ATTR.processPid] !== undefined) return resource;
  let result = merged.get(resource);
  if (!result) {
    result = resourceFromAttributes(processIdentity()).merge(resource);
    merged.set(resource, result);
  }
  return result;
}
