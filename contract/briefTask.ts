import { EVENT } from './contract.js';
import type { Attrs, TaskRecord } from './records.js';

/** The events the brief views draw (cancel marks, cleanup and shield steps) or list (loop warnings). */
const BRIEF_EVENTS: ReadonlySet<string> = new Set([
  EVENT.cancelRequested,
  EVENT.cleanupStart,
  EVENT.cleanupEnd,
  EVENT.shieldStart,
  EVENT.shieldEnd,
  EVENT.loopWarning,
]);

/**
 * A task record cut down to what the brief views (the compact and columnar shutdown views, the list's
 * counts, a settled shutdown's judgment) read once each task's judgment is stored: the `task.*` and
 * `code.*` attributes and the events they draw. A million tasks then fit in memory; the full view
 * reads whole records.
 */
export function briefTask(task: TaskRecord): TaskRecord {
  const { span } = task;
  const attributes: Attrs = {};
  for (const key of Object.keys(span.attributes)) {
    if (key.startsWith('task.') || key.startsWith('code.')) attributes[key] = span.attributes[key];
  }
  const events = span.events.filter((e) => BRIEF_EVENTS.has(e.name));
  return { ...task, span: { ...span, attributes, events, links: [] } };
}
