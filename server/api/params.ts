import { VERDICTS, type Verdict } from '../../contract/records.js';
import { BadRequestError } from '../errors.js';

/** Most tasks one page of /api/tasks returns. */
export const MAX_TASK_LIMIT = 10_000;
/** Page size of /api/tasks when none is given. */
export const DEFAULT_TASK_LIMIT = 100;
/** Shutdowns /api/shutdowns returns when no limit is given. */
export const DEFAULT_SHUTDOWN_LIMIT = 200;
/** Most shutdowns /api/shutdowns returns. */
export const MAX_SHUTDOWN_LIMIT = 1_000;

const SHUTDOWN_ID = /^[0-9a-f]{32}-[0-9a-f]{16}$/;
const NS_PER_MS = 1_000_000n;
/**
 * An ISO 8601 date or date-time (`2026-11-26`, `2026-11-26T06:35`, `…T06:35:00.123Z`, `…+01:00`).
 * Checked before Date.parse, which also reads free text such as `foo 1` or `-5` as dates in 2001.
 */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

function one(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new BadRequestError(`query parameter '${name}' must be given once`);
  return value;
}

/** `?limit=`: an integer in [1, max]. */
export function parseLimit(value: unknown, fallback: number, max: number): number {
  const raw = one(value, 'limit');
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new BadRequestError(`limit must be an integer from 1 to ${max}, got '${raw}'`);
  }
  return Number(raw);
}

/** `?verdict=`: one of the contract's verdicts. */
export function parseVerdict(value: unknown): Verdict | undefined {
  const raw = one(value, 'verdict');
  if (raw === undefined || raw === '') return undefined;
  if (!(VERDICTS as readonly string[]).includes(raw)) {
    throw new BadRequestError(`verdict must be one of ${VERDICTS.join(', ')}, got '${raw}'`);
  }
  return raw as Verdict;
}

/** `?since=`: unix nanoseconds, or an ISO 8601 date. */
export function parseSince(value: unknown): bigint | undefined {
  const raw = one(value, 'since');
  if (raw === undefined || raw === '') return undefined;
  if (/^\d+$/.test(raw)) return BigInt(raw);
  const ms = ISO_DATE.test(raw) ? Date.parse(raw) : Number.NaN;
  if (Number.isNaN(ms)) throw new BadRequestError(`since must be unix nanoseconds or an ISO 8601 date, got '${raw}'`);
  return BigInt(ms) * NS_PER_MS;
}

/** A plain optional string parameter. */
export function parseString(value: unknown, name: string): string | undefined {
  const raw = one(value, name);
  return raw === '' ? undefined : raw;
}

/** A shutdown id: `<32 hex trace id>-<16 hex span id>`, lower-cased. */
export function parseShutdownId(value: string): string {
  const id = value.toLowerCase();
  if (!SHUTDOWN_ID.test(id)) throw new BadRequestError(`bad shutdown id '${value}': expected <32 hex digits>-<16 hex digits>`);
  return id;
}

/** Hex digits of a trace id and of a span id. */
export const TRACE_ID_HEX_DIGITS = 32;
export const SPAN_ID_HEX_DIGITS = 16;

/** A trace or span id in a path: `digits` hex digits, lower-cased. */
export function parseHexId(value: string, what: 'trace' | 'span', digits: number): string {
  const id = value.toLowerCase();
  if (id.length !== digits || !/^[0-9a-f]+$/.test(id)) throw new BadRequestError(`bad ${what} id '${value}': expected ${digits} hex digits`);
  return id;
}
