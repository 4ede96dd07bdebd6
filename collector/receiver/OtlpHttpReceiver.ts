/**
 * The OTLP/HTTP trace receiver: `POST /v1/traces` → decode → `next.consume(spans)`.
 *
 * It knows only its {@link Consumer}; what happens to the spans afterwards is the next
 * stage's business. Failures are split as the OTLP spec asks: bad data is a permanent 400
 * (the exporter drops it), a stage that cannot take spans now is a 503 with Retry-After
 * (the exporter retries).
 */

import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { NextFunction, Request, Response, Router } from 'express';
import express from 'express';
import type { Consumer } from '../../contract/records.js';
import type { DecodedRequest, OtlpEncoding } from '../otlp/decode.js';
import { decodeTraceRequest, OtlpDecodeError } from '../otlp/decode.js';
import { OtlpTypes, RPC_CODE } from '../otlp/schema.js';
import { BodyEncodingError, BodyTooLargeError, ClientAbortedError, readBody } from './readBody.js';

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

/** The next stage refused the batch: 503, retryable. */
class ConsumerUnavailableError extends Error {}

/** Longest `errorMessage` of a partial success, in characters. */
const MAX_PARTIAL_MESSAGE_CHARS = 2000;

/** Receives OTLP/HTTP trace exports and hands their spans to the next stage. */
export class OtlpHttpReceiver {
  private readonly next: Consumer<ReadableSpan>;
  private readonly maxBodyBytes: number;
  private readonly retryAfterSeconds: number;
  private readonly reportError: (err: unknown) => void;

  constructor(options: OtlpHttpReceiverOptions) {
    this.next = options.next;
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
    const encoding = encodingOf(req);
    res.locals.otlpEncoding = encoding ?? 'json';
    if (encoding === undefined) {
      throw new UnsupportedMediaError(
        `unsupported content type ${JSON.stringify(req.get('content-type') ?? '')}; use application/x-protobuf or application/json`,
      );
    }
    const contentEncoding = (req.get('content-encoding') ?? 'identity').trim().toLowerCase();
    if (contentEncoding !== 'identity' && contentEncoding !== 'gzip' && contentEncoding !== 'x-gzip' && contentEncoding !== '') {
      throw new UnsupportedMediaError(`unsupported content encoding ${JSON.stringify(contentEncoding)}; use gzip or none`);
    }
    const body = await readBody(req, { gzip: contentEncoding.endsWith('gzip'), maxBytes: this.maxBodyBytes });
    const decoded = decodeTraceRequest(body, encoding);
    if (decoded.spans.length > 0) {
      try {
        await this.next.consume(decoded.spans);
      } catch (err) {
        // A stage that refuses the data itself (e.g. a value the store cannot keep exactly) is permanent: 400, not retried.
        if ((err as { permanent?: unknown })?.permanent === true) throw new OtlpDecodeError(`spans refused: ${(err as Error).message}`);
        this.reportError(err);
        throw new ConsumerUnavailableError('the collector cannot take spans right now; retry later');
      }
    }
    sendResponse(res, encoding, decoded);
  }

  /** The one place that maps failures to OTLP responses, in the request's encoding. */
  private mapError(err: unknown, _req: Request, res: Response, next: NextFunction): void {
    if (err instanceof ClientAbortedError) return;
    if (res.headersSent) {
      next(err);
      return;
    }
    const encoding: OtlpEncoding = res.locals.otlpEncoding ?? 'json';
    if (err instanceof OtlpDecodeError || err instanceof BodyEncodingError) {
      sendStatus(res, 400, encoding, RPC_CODE.invalidArgument, err.message);
    } else if (err instanceof BodyTooLargeError) {
      // When the client is still sending beyond the limit, close rather than read it all.
      if (err.closeConnection) res.set('Connection', 'close');
      sendStatus(res, 413, encoding, RPC_CODE.resourceExhausted, err.message);
    } else if (err instanceof UnsupportedMediaError) {
      sendStatus(res, 415, encoding, RPC_CODE.invalidArgument, err.message);
    } else if (err instanceof ConsumerUnavailableError) {
      res.set('Retry-After', String(this.retryAfterSeconds));
      sendStatus(res, 503, encoding, RPC_CODE.unavailable, err.message);
    } else {
      this.reportError(err);
      sendStatus(res, 500, encoding, RPC_CODE.unavailable, 'internal error in the OTLP receiver');
    }
  }
}

/**
 * An Express app for the OTLP port: the receiver's routes, and a JSON 404 elsewhere. It
 * does not listen; the caller does.
 */
export function createOtlpApp(receiver: OtlpHttpReceiver): express.Express {
  const app = express();
  app.disable('x-powered-by');
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

function sendResponse(res: Response, encoding: OtlpEncoding, decoded: DecodedRequest): void {
  const response: { partialSuccess?: { rejectedSpans: number; errorMessage: string } } = {};
  if (decoded.rejected > 0) {
    response.partialSuccess = { rejectedSpans: decoded.rejected, errorMessage: partialMessage(decoded) };
  }
  send(res, 200, encoding, encoding === 'protobuf' ? OtlpTypes.ExportTraceServiceResponse.encode(response).finish() : response);
}

function partialMessage(decoded: DecodedRequest): string {
  const unlisted = decoded.rejected - decoded.errors.length;
  const text = decoded.errors.join('; ') + (unlisted > 0 ? `; and ${unlisted} more` : '');
  return text.length > MAX_PARTIAL_MESSAGE_CHARS ? `${text.slice(0, MAX_PARTIAL_MESSAGE_CHARS)}…` : text;
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
