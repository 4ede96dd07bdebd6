import { ATTR, codeSiteOf, EVENT, str } from '../../contract/contract.js';
import type { CodeSite, EventRecord, TaskRecord } from '../../contract/records.js';
import { isCancellation } from './isCancellation.js';

/** Where a cancellation was caught, with the stack when one was sent. */
export type SwallowSite = CodeSite & { stack?: string };

/** `path:lineno` optionally followed by ` in function`; the path is greedy because it may hold ':'. */
const SITE_ATTR = /^(.*):(\d+)(?: in (.+))?$/s;
/** A Python traceback frame: `File "x", line N, in f`. */
const PY_FRAME = /File "([^"]*)", line (\d+)(?:, in (.+))?/g;
/** A JS stack frame: `at f (x:N:C)`, `at async f (x:N:C)` or `at x:N:C`. */
const JS_FRAME = /^\s*at (?:async )?(?:(.+?) \()?(.+?):(\d+):\d+\)?\s*$/;

/** Parses a `task.swallow_site` attribute. */
export function parseSiteAttr(value: string): CodeSite {
  const m = SITE_ATTR.exec(value.trim());
  if (!m) return { filepath: value.trim() };
  const site: CodeSite = { filepath: m[1], lineno: Number(m[2]) };
  if (m[3] !== undefined && m[3].trim() !== '') site.function = m[3].trim();
  return site;
}

/**
 * The innermost frame of a stack: the last `File` line of a Python traceback (Python prints the
 * innermost call last), or the first `at` line of a JS stack (JS prints it first).
 */
export function innermostFrame(stack: string): CodeSite | undefined {
  let py: RegExpExecArray | undefined;
  for (const m of stack.matchAll(PY_FRAME)) py = m;
  if (py) {
    const site: CodeSite = { filepath: py[1], lineno: Number(py[2]) };
    if (py[3] !== undefined && py[3].trim() !== '') site.function = py[3].trim();
    return site;
  }
  for (const line of stack.split('\n')) {
    const m = JS_FRAME.exec(line);
    if (!m) continue;
    const site: CodeSite = { filepath: m[2], lineno: Number(m[3]) };
    if (m[1] !== undefined) site.function = m[1];
    return site;
  }
  return undefined;
}

/**
 * Where a swallowed or surviving task caught its cancellation: the `task.swallow_site` attribute when
 * the instrumentation knew it, else the last cancellation `exception` event (its code.* attributes, or
 * the innermost frame of its stack). `sortedEvents` must be in time order.
 */
export function swallowSiteOf(task: TaskRecord, sortedEvents: readonly EventRecord[]): SwallowSite | undefined {
  const attr = str(task.span.attributes, ATTR.swallowSite);
  if (attr !== undefined && attr.trim() !== '') return parseSiteAttr(attr);
  let caught: EventRecord | undefined;
  for (const e of sortedEvents) {
    if (e.name !== EVENT.exception) continue;
    if (isCancellation(str(e.attributes, ATTR.exceptionType), str(e.attributes, ATTR.exceptionMessage))) caught = e;
  }
  if (!caught) return undefined;
  const stack = str(caught.attributes, ATTR.exceptionStacktrace);
  let site: SwallowSite = codeSiteOf(caught.attributes);
  if (Object.keys(site).length === 0 && stack !== undefined) site = innermostFrame(stack) ?? {};
  if (stack !== undefined) site.stack = stack;
  return Object.keys(site).length === 0 ? undefined : site;
}
