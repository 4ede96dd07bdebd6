import type { Attrs, AttrValue, JudgedTask, ShutdownReport, SpanRecord } from '../../contract/records.js';
import { BadRequestError } from '../errors.js';
import type { BriefReport } from '../judge/judgeBrief.js';
import { bigintReplacer, reportJson, streamedWholeReport } from './json.js';

/** The formats of `GET /api/shutdowns/:id/export?format=`. */
export const EXPORT_FORMATS = ['csv', 'json', 'otlp'] as const;
/** One of {@link EXPORT_FORMATS}. */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** A file to send: its media type, a file name and the text. */
export interface ExportFile {
  contentType: string;
  filename: string;
  body: string;
}

/** A file to send as it is written: its media type, a file name and its text, in order, a part at a time. */
export interface StreamedExportFile {
  contentType: string;
  filename: string;
  /** the text of the file in order; reads the whole tasks as it goes (call once per response) */
  text: () => AsyncIterable<string>;
}

/** `?format=`: one of {@link EXPORT_FORMATS} (json when absent). */
export function parseExportFormat(value: unknown): ExportFormat {
  if (value === undefined || value === '') return 'json';
  if (typeof value !== 'string' || !(EXPORT_FORMATS as readonly string[]).includes(value)) {
    throw new BadRequestError(`format must be one of ${EXPORT_FORMATS.join(', ')}, got '${String(value)}'`);
  }
  return value as ExportFormat;
}

/** The columns of the CSV export, in order. */
export const CSV_COLUMNS = [
  'span_id',
  'trace_id',
  'name',
  'coroutine',
  'verdict',
  'findings',
  'final_state',
  'snapshot',
  'created_at_ns',
  'cancel_requested_at_ns',
  'ended_at_ns',
  'cancel_to_end_ms',
  'created_site',
  'swallow_site',
] as const;

/** One CSV cell: quoted when needed; a leading = + - @ is escaped so that a spreadsheet never runs it as a formula. */
function cell(value: string | number | undefined): string {
  if (value === undefined) return '';
  let s = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function site(s: { filepath?: string; lineno?: number; function?: string } | undefined): string | undefined {
  if (!s?.filepath && !s?.function) return undefined;
  return `${s.filepath ?? ''}${s.lineno !== undefined ? `:${s.lineno}` : ''}${s.function ? ` in ${s.function}` : ''}`;
}

function csvRow(judged: JudgedTask): string {
  const { task } = judged;
  const cancel = judged.cancelRequestedAt;
  return [
    task.spanId,
    task.traceId,
    task.name,
    task.coroutine,
    judged.verdict,
    judged.findings.map((f) => f.kind).join(';'),
    task.finalState,
    task.snapshot ? 'true' : 'false',
    task.createdAt.toString(),
    cancel?.toString(),
    task.endTime.toString(),
    cancel === undefined ? undefined : Number(task.endTime - cancel) / 1e6,
    site(task.code),
    site(judged.swallowSite),
  ]
    .map(cell)
    .join(',');
}

/** An attribute value as OTLP JSON's AnyValue. */
function anyValue(v: AttrValue): Record<string, unknown> {
  if (v === null) return {};
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'bigint') return { intValue: v.toString() };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map(anyValue) } };
  return { kvlistValue: { values: keyValues(v) } };
}

function keyValues(attrs: Attrs): { key: string; value: Record<string, unknown> }[] {
  return Object.keys(attrs).map((key) => ({ key, value: anyValue(attrs[key]) }));
}

function otlpSpan(span: SpanRecord) {
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
    name: span.name,
    kind: span.kind,
    startTimeUnixNano: span.startTime.toString(),
    endTimeUnixNano: span.endTime.toString(),
    attributes: keyValues(span.attributes),
    events: span.events.map((e) => ({ timeUnixNano: e.time.toString(), name: e.name, attributes: keyValues(e.attributes) })),
    links: span.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: keyValues(l.attributes) })),
    status: span.status.message ? { code: span.status.code, message: span.status.message } : { code: span.status.code },
  };
}

/**
 * Spans as OTLP/JSON `resourceSpans`, grouped by resource and then by scope, each group where its
 * first span is.
 */
function resourceSpansOf(spans: Iterable<SpanRecord>) {
  const resources = new Map<string, { resource: Attrs; scopes: Map<string, { scope: SpanRecord['scope']; spans: SpanRecord[] }> }>();
  for (const span of spans) {
    const rkey = JSON.stringify(span.resource, bigintReplacer);
    let r = resources.get(rkey);
    if (!r) {
      r = { resource: span.resource, scopes: new Map() };
      resources.set(rkey, r);
    }
    const skey = `${span.scope.name}\u0000${span.scope.version ?? ''}`;
    let s = r.scopes.get(skey);
    if (!s) {
      s = { scope: span.scope, spans: [] };
      r.scopes.set(skey, s);
    }
    s.spans.push(span);
  }
  return [...resources.values()].map((r) => ({
    resource: { attributes: keyValues(r.resource) },
    scopeSpans: [...r.scopes.values()].map((s) => ({
      scope: s.scope.version ? { name: s.scope.name, version: s.scope.version } : { name: s.scope.name },
      spans: s.spans.map(otlpSpan),
    })),
  }));
}

/**
 * The raw spans of a shutdown (its own span and its tasks') as one OTLP/JSON
 * ExportTraceServiceRequest, grouped by resource and scope: what `canceltrace import` and other
 * OTLP tools read back.
 */
export function otlpJsonOf(report: ShutdownReport) {
  return { resourceSpans: resourceSpansOf([report.shutdown.span, ...report.tasks.map((t) => t.task.span)]) };
}

/** The CSV export's text of some judged tasks: a line each, every line ended by CRLF. */
function csvLines(tasks: readonly JudgedTask[]): string {
  let text = '';
  for (const judged of tasks) text += `${csvRow(judged)}\r\n`;
  return text;
}

/**
 * A shutdown's judged tasks as CSV or JSON, or its raw spans as OTLP JSON, written a chunk of tasks
 * at a time: the brief report gives the header and order, `wholeTasks` the whole judged tasks in that
 * order (ShutdownViews.wholeTasks), so that neither every task nor the whole text is ever held. The text
 * is that of {@link exportShutdown} of the whole report, except that OTLP groups the spans by resource
 * and scope within each chunk (the shutdown's own span in the first): a shutdown of more tasks than a
 * chunk has several `resourceSpans` of the same resource, which OTLP allows and `canceltrace import` reads.
 */
export function streamedExport(brief: BriefReport, wholeTasks: () => AsyncIterable<readonly JudgedTask[]>, format: ExportFormat): StreamedExportFile {
  const base = `canceltrace-${brief.shutdown.id}`;
  if (format === 'csv') {
    return {
      contentType: 'text/csv; charset=utf-8',
      filename: `${base}.csv`,
      text: async function* () {
        yield `${CSV_COLUMNS.join(',')}\r\n`;
        for await (const tasks of wholeTasks()) if (tasks.length > 0) yield csvLines(tasks);
      },
    };
  }
  if (format === 'otlp') {
    const shutdownSpan = brief.shutdown.span;
    return {
      contentType: 'application/json',
      filename: `${base}.otlp.json`,
      text: async function* () {
        yield '{"resourceSpans":[';
        let first = true;
        const group = (spans: SpanRecord[]): string => {
          const text = JSON.stringify(resourceSpansOf(spans)).slice(1, -1);
          const part = `${first ? '' : ','}${text}`;
          first = false;
          return part;
        };
        for await (const tasks of wholeTasks()) {
          if (tasks.length === 0) continue;
          const spans = tasks.map((t) => t.task.span);
          yield group(first ? [shutdownSpan, ...spans] : spans);
        }
        if (first) yield group([shutdownSpan]);
        yield ']}';
      },
    };
  }
  return { contentType: 'application/json', filename: `${base}.json`, text: () => streamedWholeReport(brief, wholeTasks).stream() };
}

/**
 * A shutdown's judged tasks as CSV or JSON, or its raw spans as OTLP JSON, made at once from the whole
 * report: the reference {@link streamedExport} is tested against (it holds every task and the whole text).
 */
export function exportShutdown(report: ShutdownReport, format: ExportFormat): ExportFile {
  const base = `canceltrace-${report.shutdown.id}`;
  if (format === 'csv') {
    const lines = [CSV_COLUMNS.join(','), ...report.tasks.map(csvRow)];
    return { contentType: 'text/csv; charset=utf-8', filename: `${base}.csv`, body: `${lines.join('\r\n')}\r\n` };
  }
  if (format === 'otlp') return { contentType: 'application/json', filename: `${base}.otlp.json`, body: JSON.stringify(otlpJsonOf(report)) };
  return { contentType: 'application/json', filename: `${base}.json`, body: JSON.stringify(reportJson(report), bigintReplacer) };
}
