import { existsSync } from 'node:fs';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { JudgedTask } from '../contract/records.js';
import { type AccessOptions, hostCheck, tokenGate } from './api/access.js';
import { ANSWER_HEADER, type AnswerForm, KeptAnswer, quietWhenClosed, sendKept } from './api/answers.js';
import { columnarReportText } from './api/columnar.js';
import { parseExportFormat, streamedExport } from './api/export.js';
import { boundHeap } from './api/heapBound.js';
import { StreamedJson, StreamedText, shutdownJson, streamedCompact, streamedWholeReport, taskJson, toJsonText } from './api/json.js';
import {
  DEFAULT_SHUTDOWN_LIMIT,
  DEFAULT_TASK_LIMIT,
  MAX_SHUTDOWN_LIMIT,
  MAX_TASK_LIMIT,
  parseHexId,
  parseLimit,
  parseShutdownId,
  parseSince,
  parseString,
  parseVerdict,
  SPAN_ID_HEX_DIGITS,
  TRACE_ID_HEX_DIGITS,
} from './api/params.js';
import type { ShutdownViews } from './api/ShutdownViews.js';
import { MAX_SEARCH_CHARS, searchTasks } from './api/search.js';
import { BadRequestError, NotFoundError } from './errors.js';
import { judgeTask } from './judge/index.js';
import type { BriefReport } from './judge/judgeBrief.js';
import type { Store } from './store/Store.js';
import { StoreQueryError } from './store/StoreQueryError.js';

/** What the app needs; it opens nothing itself. */
export interface AppDeps {
  store: Store;
  views: ShutdownViews;
  /** folder of the built dashboard (web/dist); not served when absent */
  webRoot?: string;
  /** Host check and token (`--allowed-host`, `--token`); no checks when absent */
  access?: AccessOptions;
  /** where unexpected errors go */
  onError?: (error: unknown) => void;
  /** Prometheus metrics served at `GET /metrics`; absent: no such route (`--metrics off`) */
  metrics?: { scrape(): Promise<{ contentType: string; text: string }> };
  /** URL template of the user's tracing tool (`{traceId}`, `{spanId}`), told to the dashboard by /api/config */
  traceLink?: string;
}

type Handler = (req: Request, res: Response) => Promise<unknown>;

function sendJson(res: Response, body: unknown, status = 200): void {
  res.status(status).type('application/json').send(toJsonText(body));
}

/** Characters of a streamed body gathered before each write to the socket. */
export const STREAM_WRITE_CHARS = 256 * 1024;

/**
 * Sends a {@link StreamedJson} chunk by chunk, waiting for the socket to drain and letting other
 * requests run between chunks; answers 304 when the client already holds this entity tag.
 */
async function sendStreamed(req: Request, res: Response, body: StreamedJson): Promise<void> {
  if (body.etag !== undefined) {
    res.setHeader('ETag', body.etag);
    if (req.headers['if-none-match'] === body.etag) {
      res.status(304).end();
      return;
    }
  }
  res.status(200).type('application/json');
  await writeChunks(res, body.stream());
}

/**
 * Writes a body's text to a response whose headers are set, then ends it: the chunks are gathered up
 * to {@link STREAM_WRITE_CHARS} before each write, waiting for the socket to drain and letting other
 * requests run between writes. Stops when the client goes away.
 */
async function writeChunks(res: Response, chunks: AsyncIterable<string>): Promise<void> {
  // Chunks are gathered up to STREAM_WRITE_CHARS before each write: a columnar body of a million
  // tasks is some 30,000 chunks, and a write and a turn of the event loop for each cost seconds.
  let pending: string[] = [];
  let pendingChars = 0;
  const flush = async (): Promise<void> => {
    const text = pending.join('');
    pending = [];
    pendingChars = 0;
    boundHeap();
    if (!res.write(text)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    } else await new Promise<void>((resolve) => setImmediate(resolve));
  };
  for await (const chunk of chunks) {
    if (res.destroyed) return;
    pending.push(chunk);
    pendingChars += chunk.length;
    if (pendingChars >= STREAM_WRITE_CHARS) await flush();
  }
  if (res.destroyed) return;
  if (pendingChars > 0) await flush();
  res.end();
}

/**
 * Builds the dashboard + API app without listening (`main` listens; tests use supertest).
 * One route table below reads like the API; handlers validate, call the store and judge, respond.
 */
export function createApp(deps: AppDeps): express.Express {
  const { store, views } = deps;
  const onError = deps.onError ?? ((error: unknown) => console.error('canceltrace api:', error));

  // Counts are reads, which a busy store still answers; `store` says whether writes are refused.
  const health: Handler = async () => {
    const busy = store.busy?.() === true;
    return { status: busy ? 'busy' : 'ok', store: busy ? 'busy: another process holds the write lock; ingest answers 503' : 'ok', ...(await store.stats()) };
  };

  const config: Handler = async () => ({ traceLink: deps.traceLink ?? null });

  const listShutdowns: Handler = async (req) => {
    const service = parseString(req.query.service, 'service');
    const outcome = parseString(req.query.outcome, 'outcome');
    const limit = parseLimit(req.query.limit, DEFAULT_SHUTDOWN_LIMIT, MAX_SHUTDOWN_LIMIT);
    const shutdowns = await store.listShutdowns({ service, limit: outcome ? MAX_SHUTDOWN_LIMIT : limit });
    const rows = [];
    for (const shutdown of shutdowns) {
      const summary = await views.summary(shutdown);
      if (outcome && summary.outcome !== outcome) continue;
      rows.push(shutdownJson(shutdown, summary.outcome, summary.counts));
      if (rows.length >= limit) break;
    }
    return rows;
  };

  /** The shutdown of an id from the URL, or a 404. */
  const shutdownOf = async (rawId: string) => {
    const id = parseShutdownId(rawId);
    const shutdown = await store.getShutdown(id);
    if (!shutdown) throw new NotFoundError(`no shutdown with id ${id}`);
    return shutdown;
  };
  /** A shutdown's judged view with its tasks as columns (the compact and columnar forms). */
  const briefOf = async (rawId: string) => views.briefReport(await shutdownOf(rawId));
  /**
   * The answer of a shutdown in a form that is kept (answers.ts): the kept one while it stands, else
   * judged here, and derived and kept a while after this response is sent (ShutdownViews.deriveLater).
   */
  const answerOf = async (req: Request, res: Response, form: AnswerForm, judged: (brief: BriefReport, etag: string) => StreamedJson) => {
    const shutdown = await shutdownOf(String(req.params.id));
    const kept = await views.answer(shutdown, form);
    if (kept) return kept;
    const brief = await views.briefReport(shutdown);
    res.setHeader(ANSWER_HEADER, 'judged');
    res.once('finish', () => views.deriveLater(shutdown, quietWhenClosed(onError)));
    // the tag of the kept answer of the same state (KeptAnswer.etag) while the views keep the report
    return judged(brief, `W/"${views.tagOf(brief)}-${form}"`);
  };

  const getShutdown: Handler = async (req, res) => {
    const form = parseString(req.query.tasks, 'tasks');
    if (form !== undefined && form !== 'full' && form !== 'compact') throw new BadRequestError(`tasks must be 'full' or 'compact', got '${form}'`);
    if (form === 'compact') return answerOf(req, res, 'compact', streamedCompact);
    const brief = await briefOf(String(req.params.id));
    // The header and order of the brief judgment, the whole tasks read a chunk at a time as they are written.
    return streamedWholeReport(brief, () => views.wholeTasks(brief), `W/"${views.tagOf(brief)}-full"`);
  };

  const getShutdownTask: Handler = async (req) => {
    const spanId = parseHexId(String(req.params.spanId), 'span', SPAN_ID_HEX_DIGITS);
    const brief = await briefOf(String(req.params.id));
    const t = brief.tasks;
    const k = t.order.findIndex((i) => t.spanId[i] === spanId);
    let judged: JudgedTask | undefined;
    if (k >= 0) for await (const [whole] of views.wholeTasks(brief, k, k + 1)) judged = whole;
    if (!judged) throw new NotFoundError(`no task ${spanId} in shutdown ${brief.shutdown.id}`);
    return taskJson(judged);
  };

  const getTimeline: Handler = async (req, res) =>
    // the same tag as long as the report is served from the views' cache or kept: a polling dashboard gets a 304
    answerOf(req, res, 'columnar', (brief, etag) => new StreamedText(() => columnarReportText(brief), etag));

  const searchShutdown: Handler = async (req) => {
    const q = parseString(req.query.q, 'q') ?? '';
    if (q.length > MAX_SEARCH_CHARS) throw new BadRequestError(`q must be at most ${MAX_SEARCH_CHARS} characters`);
    const brief = await briefOf(String(req.params.id));
    return searchTasks(views.wholeTasks(brief), q);
  };

  // Written a chunk of whole tasks at a time (ShutdownViews.wholeTasks): a file of a million tasks is
  // gigabytes, more than the memory there is and than a string can hold.
  const exportOf = async (req: Request, res: Response) => {
    const format = parseExportFormat(req.query.format);
    const brief = await briefOf(String(req.params.id));
    const file = streamedExport(brief, () => views.wholeTasks(brief), format);
    res.status(200).type(file.contentType).attachment(file.filename);
    await writeChunks(res, file.text());
  };

  const listTasks: Handler = async (req) => {
    const page = await store.queryTasks({
      verdict: parseVerdict(req.query.verdict),
      service: parseString(req.query.service, 'service'),
      since: parseSince(req.query.since),
      limit: parseLimit(req.query.limit, DEFAULT_TASK_LIMIT, MAX_TASK_LIMIT),
      cursor: parseString(req.query.cursor, 'cursor'),
    });
    return {
      tasks: page.tasks.map(({ task, verdict }) => ({ ...taskJson(judgeTask(task)), verdict })),
      nextCursor: page.nextCursor,
    };
  };

  const getTrace: Handler = async (req) => {
    const traceId = parseHexId(String(req.params.traceId), 'trace', TRACE_ID_HEX_DIGITS);
    const spans = await store.spansOfTrace(traceId);
    if (spans.length === 0) throw new NotFoundError(`no spans of trace ${traceId}`);
    return { traceId, spans };
  };

  const routes: [path: string, handler: Handler][] = [
    ['/api/health', health],
    ['/api/config', config],
    ['/api/shutdowns', listShutdowns],
    ['/api/shutdowns/:id', getShutdown],
    ['/api/shutdowns/:id/tasks/:spanId', getShutdownTask],
    ['/api/shutdowns/:id/timeline', getTimeline],
    ['/api/shutdowns/:id/search', searchShutdown],
    ['/api/tasks', listTasks],
    ['/api/traces/:traceId', getTrace],
  ];

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          fontSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
        },
      },
    }),
  );
  // Before any route reads the request: a stranger's Host or a missing token ends it here.
  if (deps.access) app.use(hostCheck(deps.access), tokenGate(deps.access.token));
  for (const [path, handler] of routes) {
    app.get(path, async (req, res) => {
      const body = await handler(req, res);
      if (body instanceof StreamedJson) await sendStreamed(req, res, body);
      else if (body instanceof KeptAnswer) await sendKept(req, res, body, onError);
      else sendJson(res, body);
    });
  }
  const metrics = deps.metrics;
  if (metrics) {
    app.get('/metrics', async (_req, res) => {
      const { contentType, text } = await metrics.scrape();
      res.status(200).type(contentType).send(text);
    });
  }
  app.get('/api/shutdowns/:id/export', exportOf);
  app.use('/api', (req) => {
    throw new NotFoundError(`no API route ${req.method} ${req.originalUrl}`);
  });
  if (deps.webRoot && existsSync(deps.webRoot)) app.use(express.static(deps.webRoot, { index: 'index.html' }));

  // The one error middleware: typed errors to statuses, the rest to 500 and the error reporter.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = statusOf(error);
    if (status >= 500) onError(error);
    // A streamed body that fails midway: its status is sent, so the client learns of it by the cut connection.
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const message = status >= 500 ? 'internal error' : error instanceof Error ? error.message : String(error);
    sendJson(res, { error: message }, status);
  });
  return app;
}

function statusOf(error: unknown): number {
  if (error instanceof BadRequestError) return 400;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof StoreQueryError) return 400;
  const status = (error as { status?: unknown })?.status;
  if (typeof status === 'number' && status >= 400 && status < 600) return status;
  return 500;
}
