import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Attributes } from '@opentelemetry/api';
import { ATTR } from '../contract.js';

/** Where code is, as the contract's `code.*` attributes carry it. */
export interface CallSite {
  filepath: string;
  lineno?: number;
  function?: string;
}

/** Frames read when looking for the first frame outside canceltrace and Node's internals. */
const MAX_FRAMES_SCANNED = 30;
/** File URL → path conversions kept, so that a busy call site is converted once. */
const MAX_CACHED_PATHS = 1024;

const OWN_DIR = dirname(fileURLToPath(import.meta.url));
const paths = new Map<string, string>();

/**
 * The site that called `boundary` (the frame just above it), read from one captured frame.
 * V8 hands the frames over as call-site objects, so no stack string is built or parsed.
 */
export function callerOf(boundary: Function): CallSite | undefined {
  const frames = captureFrames(boundary, 1);
  return frames.length > 0 ? siteOf(frames[0]) : undefined;
}

/**
 * The first frame of the current stack that is neither canceltrace's own code nor Node's
 * (used for the code that called `abort()`), or undefined when there is none (a timer fired).
 */
export function firstForeignSite(): CallSite | undefined {
  for (const frame of captureFrames(firstForeignSite, MAX_FRAMES_SCANNED)) {
    const site = siteOf(frame);
    if (!site) continue;
    if (site.filepath.startsWith('node:') || site.filepath.startsWith(OWN_DIR)) continue;
    if (site.filepath.includes('/node_modules/@opentelemetry/')) continue;
    return site;
  }
  return undefined;
}

/** The `code.filepath` / `code.lineno` / `code.function` attributes of a site. */
export function siteAttributes(site: CallSite | undefined, into: Attributes = {}): Attributes {
  if (!site) return into;
  into[ATTR.codeFilepath] = site.filepath;
  if (site.lineno !== undefined) into[ATTR.codeLineno] = site.lineno;
  if (site.function !== undefined) into[ATTR.codeFunction] = site.function;
  return into;
}

interface V8CallSite {
  getFileName(): string | null | undefined;
  getLineNumber(): number | null;
  getFunctionName(): string | null;
  getMethodName(): string | null;
  getTypeName(): string | null;
}

const keepFrames = (_error: Error, frames: V8CallSite[]): V8CallSite[] => frames;

function captureFrames(boundary: Function, limit: number): V8CallSite[] {
  const previousPrepare = Error.prepareStackTrace;
  const previousLimit = Error.stackTraceLimit;
  try {
    Error.prepareStackTrace = keepFrames as typeof Error.prepareStackTrace;
    Error.stackTraceLimit = limit;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, boundary);
    const frames = holder.stack;
    return Array.isArray(frames) ? (frames as V8CallSite[]) : [];
  } catch {
    return [];
  } finally {
    Error.prepareStackTrace = previousPrepare;
    Error.stackTraceLimit = previousLimit;
  }
}

function siteOf(frame: V8CallSite): CallSite | undefined {
  const file = frame.getFileName();
  if (!file) return undefined;
  const site: CallSite = { filepath: pathOf(file) };
  const line = frame.getLineNumber();
  if (line !== null) site.lineno = line;
  const fn = frame.getFunctionName();
  if (fn) {
    const type = frame.getTypeName();
    site.function = type && !fn.includes('.') && type !== 'Object' && type !== 'global' ? `${type}.${fn}` : fn;
  }
  return site;
}

function pathOf(file: string): string {
  if (!file.startsWith('file://')) return file;
  let path = paths.get(file);
  if (path === undefined) {
    try {
      path = fileURLToPath(file);
    } catch {
      path = file;
    }
    if (paths.size >= MAX_CACHED_PATHS) paths.clear();
    paths.set(file, path);
  }
  return path;
}
