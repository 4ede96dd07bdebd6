/**
 * The OTLP/HTTP trace receiver: `POST /v1/traces` → decode → `next.consume(spans)`.
 *
 * It knows only its {@link Consumer}; what happens to the spans afterwards is the next
 * stage's business. Failures are split as the OTLP spec asks: bad data is a permanent 400
 * (the exporter drops it), a stage that cannot take spans now is a 503 with Retry-After
 * (the exporter retries).
 */

import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import express from 'express';
import type { Consumer } from '../../contract/records.js';
import type { OtlpEncoding } from '../otlp/decode.js';
import { OtlpTypes, RPC_CODE } from '../otlp/schema.js';
import { bearerTokenMatches } from './bearerToken.js';
import type { IngestBudget, IngestTicket } from './IngestBudget.js';
import { IngestOverloadedError } from './IngestBudget.js';
import type { IngestObserver, IngestOutcome } from './IngestOutcome.js';
import { BodyEncodingError, BodyTooLargeError, ClientAbortedError, drainRequest, readBody } from './readBody.js';
import { ConsumerUnavailableError, type IngestResult, OtlpDecodeError, SpanIngest } from './SpanIngest.js';

/** Largest request body accepted, compressed or not (16 MiB). */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

/** What a 503 tells the exporter to wait before retrying, in seconds. */
export const DEFAULT_RETRY_AFTER_SECONDS = 5;

/** The OTLP/HTTP path for traces. */
export const OTLP_TRACES_PATH = '/v1/traces';

/** How a {@link OtlpHttpReceiver} is built. */
export interface OtlpHttpReceiverOptions {
  /** The next stage; it gets the spans of each accepted request as one batch. */
  next: Consumer<ReadableSpan>;
  /** Largest body in bytes, before and after gzip; defaults to {@link DEFAULT_MAX_BODY_BYTES}. */
  maxBodyBytes?: number;
  /** Seconds a 503 asks the exporter to wait; defaults to {@link DEFAULT_RETRY_AFTER_SECONDS}. */
  retryAfterSeconds?: number;
  /** Told about failures the sender cannot see (the next stage failing, a receiver bug). Must not throw; if it does, that is ignored. */
  onError?: (err: unknown) => void;
  /** The ingest budget shared with the process's other receivers; a default one when absent. */
  budget?: IngestBudget;
  /** When set, every request must carry `Authorization: Bearer <token>` (401 otherwise). */
  token?: string;
  /** Told about every answered export (metrics, forwarding). Must not throw; if it does, that is ignored. */
  observe?: IngestObserver;
}

const CONTENT_TYPES: Record<string, OtlpEncoding> = {
  'application/x-protobuf': 'protobuf',
  'application/json': 'json',
};

const MEDIA_TYPE: Record<OtlpEncoding, string> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

/** The content type is neither OTLP encoding, or the content encoding is not gzip: 415. */
class UnsupportedMediaError extends Error {}

/** The request carries no valid bearer token: 401. */
class UnauthorizedError extends Error {}

/** Receives OTLP/HTTP trace exports and hands their spans to the next stage. */
export class OtlpHttpReceiver {
  /** The transport-neutral path (decode → validate → budget → consume) this receiver shares with others. */
  readonly ingest: SpanIngest;
  private readonly token: string | undefined;
  private readonly maxBodyBytes: number;
  private readonly retryAfterSeconds: number;
  private readonly reportError: (err: unknown) => void;
  private readonly observe: IngestObserver | undefined;

  constructor(options: OtlpHttpReceiverOptions) {
    this.observe = options.observe;
    this.token = options.token || undefined;
    this.maxBodyBytes = positiveOr(options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES, 'maxBodyBytes');
    this.retryAfterSeconds = positiveOr(options.retryAfterSeconds, DEFAULT_RETRY_AFTER_SECONDS, 'retryAfterSeconds');
    const onError = options.onError ?? defaultOnError;
    this.reportError = (err) => {
      try {
        onError(err);
      } catch {
        // The reporter is the last resort; nothing is left to tell.
      }
    };
    this.ingest = new SpanIngest({ next: options.next, budget: options.budget, onError: this.reportError });
  }

  /** An Express router serving `POST /v1/traces` (405 for other methods there). */
  handler(): Router {
    const router = express.Router();
    router
      .route(OTLP_TRACES_PATH)
      .post((req, res) => this.receive(req, res))
      .all((_req, res) => {
        res.set('Allow', 'POST');
        sendStatus(res, 405, 'json', RPC_CODE.invalidArgument, `only POST is allowed on ${OTLP_TRACES_PATH}`);
      });
    router.use((err: unknown, req: Request, res: Response, next: NextFunction) => this.mapError(err, req, res, next));
    return router;
  }

  private async receive(req: Request, res: Response): Promise<void> {
    res.locals.otlpStarted = performance.now();
    const encoding = encodingOf(req);
    res.locals.otlpEncoding = encoding ?? 'json';
    if (this.token !== undefined && !bearerTokenMatches(req.get('authorization'), this.token)) {
      throw new UnauthorizedError('missing or wrong bearer token; send Authorization: Bearer <token>');
    }
    if (encoding === undefined) {
      throw new UnsupportedMediaError(
        `unsupported content type ${JSON.stringify(req.get('content-type') ?? '')}; use application/x-protobuf or application/json`,
      );
    }
    const contentEncoding = (req.get('content-encoding') ?? 'identity').trim().toLowerCase();
    if (contentEncoding !== 'identity' && contentEncoding !== 'gzip' && contentEncoding !== 'x-gzip' && contentEncoding !== '') {
      throw new UnsupportedMediaError(`unsupported content encoding ${JSON.stringify(contentEncoding)}; use gzip or none`);
    }
    const ticket: IngestTicket = this.ingest.admit();
    try {
      const body = await readBody(req, { gzip: contentEncoding.endsWith('gzip'), maxBytes: this.maxBodyBytes, onKeep: (n) => ticket.take(n) });
      const result = await this.ingest.ingest(body, encoding, ticket);
      sendResponse(res, encoding, result);
      this.notify(res, '200', {
        accepted: result.accepted,
        rejected: result.rejected,
        ...(result.rejected > 0 ? { reason: 'invalid' as const } : {}),
        ...(result.accepted > 0 ? { body } : {}),
      });
    } finally {
      ticket.release();
    }
  }

  /** Tells the observer how a request was answered. */
  private notify(res: Response, status: string, rest: Partial<Pick<IngestOutcome, 'accepted' | 'rejected' | 'reason' | 'body'>>): void {
    if (!this.observe || res.locals.otlpStarted === undefined) return;
    try {
      this.observe({
        protocol: 'http',
        encoding: res.locals.otlpEncoding ?? 'json',
        status,
        seconds: (performance.now() - res.locals.otlpStarted) / 1000,
        accepted: rest.accepted ?? 0,
        rejected: rest.rejected ?? 0,
        ...(rest.reason ? { reason: rest.reason } : {}),
        ...(rest.body ? { body: rest.body } : {}),
      });
    } catch {
      // An observer is told, never obeyed: its failure changes nothing for the sender.
    }
  }

  /** The one place that maps failures to OTLP responses, in the request's encoding. */
  private mapError(err: unknown, req: Request, res: Response, next: NextFunction): void {
    if (err instanceof ClientAbortedError) return;
    if (res.headersSent) {
      next(err);
      return;
    }
    // Answered before the body was read whole: read the rest away so the connection stays usable.
    drainRequest(req, res);
    const encoding: OtlpEncoding = res.locals.otlpEncoding ?? 'json';
    if (err instanceof OtlpDecodeError || err instanceof BodyEncodingError) {
      sendStatus(res, 400, encoding, RPC_CODE.invalidArgument, err.message);
      this.notify(res, '400', { reason: 'invalid' });
    } else if (err instanceof BodyTooLargeError) {
      sendStatus(res, 413, encoding, RPC_CODE.resourceExhausted, err.message);
      this.notify(res, '413', { reason: 'too_large' });
    } else if (err instanceof UnauthorizedError) {
      res.set('WWW-Authenticate', 'Bearer');
      sendStatus(res, 401, encoding, RPC_CODE.unauthenticated, err.message);
      this.notify(res, '401', { reason: 'unauthenticated' });
    } else if (err instanceof UnsupportedMediaError) {
      sendStatus(res, 415, encoding, RPC_CODE.invalidArgument, err.message);
      this.notify(res, '415', { reason: 'unsupported' });
    } else if (err instanceof IngestOverloadedError) {
      res.set('Retry-After', String(err.retryAfterSeconds));
      sendStatus(res, err.httpStatus, encoding, err.httpStatus === 429 ? RPC_CODE.resourceExhausted : RPC_CODE.unavailable, err.message);
      this.notify(res, String(err.httpStatus), { reason: 'exhausted' });
    } else if (err instanceof ConsumerUnavailableError) {
      res.set('Retry-After', String(err.retryAfterSeconds ?? this.retryAfterSeconds));
      sendStatus(res, 503, encoding, RPC_CODE.unavailable, err.message);
      this.notify(res, '503', { reason: 'unavailable' });
    } else {
      this.reportError(err);
      sendStatus(res, 500, encoding, RPC_CODE.unavailable, 'internal error in the OTLP receiver');
      this.notify(res, '500', { reason: 'internal' });
    }
  }
}

/**
 * An Express app for the OTLP port: the receiver's routes, and a JSON 404 elsewhere. It
 * does not listen; the caller does.
 */
export function createOtlpApp(receiver: OtlpHttpReceiver, options: { access?: RequestHandler } = {}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // e.g. the Host check: before anything reads the body
  if (options.access) app.use(options.access);
  app.use(receiver.handler());
  app.use((req, res) => {
    res.status(404).json({ error: `no route for ${req.method} ${req.path}; OTLP traces go to POST ${OTLP_TRACES_PATH}` });
  });
  return app;
}

function encodingOf(req: Request): OtlpEncoding | undefined {
  const type = (req.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
  return CONTENT_TYPES[type];
}

function sendResponse(res: Response, encoding: OtlpEncoding, outcome: IngestResult): void {
  const response: { partialSuccess?: { rejectedSpans: number; errorMessage: string } } = {};
  if (outcome.rejected > 0) response.partialSuccess = { rejectedSpans: outcome.rejected, errorMessage: outcome.errorMessage };
  send(res, 200, encoding, encoding === 'protobuf' ? OtlpTypes.ExportTraceServiceResponse.encode(response).finish() : response);
}

/** Writes a google.rpc.Status error body. */
function sendStatus(res: Response, httpStatus: number, encoding: OtlpEncoding, code: number, message: string): void {
  const status = { code, message };
  send(res, httpStatus, encoding, encoding === 'protobuf' ? OtlpTypes.RpcStatus.encode(status).finish() : status);
}

function send(res: Response, httpStatus: number, encoding: OtlpEncoding, body: Uint8Array | object): void {
  res.status(httpStatus).set('Content-Type', MEDIA_TYPE[encoding]);
  if (body instanceof Uint8Array) res.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  else res.end(JSON.stringify(body));
}

function positiveOr(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (Number.isFinite(value) && value > 0) return value;
  console.warn(`canceltrace OtlpHttpReceiver: ${name} must be a positive number, got ${value}; using ${fallback}`);
  return fallback;
}

function defaultOnError(err: unknown): void {
  console.error(`canceltrace OtlpHttpReceiver: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
}
