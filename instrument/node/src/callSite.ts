import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Attributes } from '@opentelemetry/api';
import { ATTR } from '../../../contract/contract.js';

/** A function whose frame and the frames above it are cut from a captured stack (`Error.captureStackTrace`'s second argument). */
// biome-ignore lint/complexity/noBannedTypes: Error.captureStackTrace takes any function as its boundary.
export type StackBoundary = Function;

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
/** Captures of one key that must agree before its site is reused without capturing. */
const TRUST_AFTER_CAPTURES = 8;
/** A trusted key is still captured once in this many calls, to notice a second call site. */
const VERIFY_EVERY_CALLS = 256;
/** Keys remembered by {@link SiteCache}; beyond it the cache starts over. */
const MAX_CACHED_KEYS = 4096;

const OWN_DIR = dirname(fileURLToPath(import.meta.url));
const paths = new Map<string, string>();

/**
 * The site that called `boundary` (the frame just above it), read from one captured frame.
 * V8 hands the frames over as call-site objects, so no stack string is built or parsed.
 */
export function callerOf(boundary: StackBoundary): CallSite | undefined {
  const frames = captureFrames(boundary, 1);
  return frames.length > 0 ? siteOf(frames[0]) : undefined;
}

interface CachedSite {
  site: CallSite | undefined;
  agreeing: number;
  calls: number;
  /** two different sites were seen for the key: always capture */
  ambiguous: boolean;
}

/**
 * Call sites remembered by a key (the task's name and function name). Capturing a stack frame
 * costs more than starting a span, and a busy task is started from the same place again and
 * again: once {@link TRUST_AFTER_CAPTURES} captures of a key agree, its site is reused, and
 * re-checked once every {@link VERIFY_EVERY_CALLS} calls. A key seen at two different sites is
 * captured on every call from then on, so a reused name never blurs two sites for long.
 */
export class SiteCache {
  /** name → function name → entry: nested maps, so a lookup builds no key string */
  private readonly entries = new Map<string, Map<string, CachedSite>>();
  private size = 0;

  /** The site that called `boundary`, from the cache when the (name, function) key is trusted. */
  callerOf(name: string, functionName: string, boundary: StackBoundary): CallSite | undefined {
    let byFunction = this.entries.get(name);
    const entry = byFunction?.get(functionName);
    if (entry && !entry.ambiguous && entry.agreeing >= TRUST_AFTER_CAPTURES && ++entry.calls % VERIFY_EVERY_CALLS !== 0) {
      return entry.site;
    }
    const site = callerOf(boundary);
    if (!entry) {
      if (this.size >= MAX_CACHED_KEYS) {
        this.entries.clear();
        this.size = 0;
        byFunction = undefined;
      }
      if (!byFunction) {
        byFunction = new Map();
        this.entries.set(name, byFunction);
      }
      byFunction.set(functionName, { site, agreeing: 1, calls: 0, ambiguous: false });
      this.size++;
    } else if (sameSite(entry.site, site)) {
      entry.agreeing++;
    } else {
      entry.ambiguous = true;
    }
    return site;
  }
}

function sameSite(a: CallSite | undefined, b: CallSite | undefined): boolean {
  return a?.filepath === b?.filepath && a?.lineno === b?.lineno && a?.function === b?.function;
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

function captureFrames(boundary: StackBoundary, limit: number): V8CallSite[] {
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
