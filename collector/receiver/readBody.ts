/**
 * Reads an HTTP request body into memory with a hard size bound, inflating gzip on the way.
 *
 * The bound holds for the bytes on the wire and for the inflated bytes alike, counted while
 * streaming, so a small gzip "bomb" is stopped after `maxBytes` of output instead of being
 * inflated whole. Errors are typed so the receiver can map them to HTTP statuses.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createGunzip } from 'node:zlib';

/** The body (raw or inflated) is larger than allowed: 413. */
export class BodyTooLargeError extends Error {
  /**
   * @param closeConnection true when the client is still sending more than the limit: the
   *   connection should close instead of the server reading the rest to keep it alive.
   */
  constructor(
    message: string,
    readonly closeConnection: boolean,
  ) {
    super(message);
    this.name = 'BodyTooLargeError';
  }
}

/** The body's content encoding is broken (e.g. truncated gzip): a permanent 400. */
export class BodyEncodingError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BodyEncodingError';
  }
}

/** The client went away before the body was complete: there is nobody to answer. */
export class ClientAbortedError extends Error {
  constructor() {
    super('client closed the connection before the request body was complete');
    this.name = 'ClientAbortedError';
  }
}

/** How to read one body. */
export interface ReadBodyOptions {
  /** Inflate the body with gzip while reading. */
  gzip: boolean;
  /** Largest body accepted, in bytes, before and after inflating. */
  maxBytes: number;
  /**
   * Called with the size of each chunk kept (inflated bytes for gzip) before it is kept; a throw
   * (e.g. an ingest budget that is spent) fails the read with that error.
   */
  onKeep?: (bytes: number) => void;
}

/**
 * Reads `req`'s body.
 *
 * @throws {@link BodyTooLargeError}, {@link BodyEncodingError}, {@link ClientAbortedError} (as a rejection)
 */
export function readBody(req: IncomingMessage, options: ReadBodyOptions): Promise<Uint8Array> {
  const { maxBytes } = options;
  return new Promise<Uint8Array>((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      reject(new BodyTooLargeError(`request body of ${declared} bytes is larger than the limit of ${maxBytes} bytes`, true));
      return;
    }
    const chunks: Buffer[] = [];
    let rawBytes = 0;
    let keptBytes = 0;
    let settled = false;
    const gunzip = options.gzip ? createGunzip() : undefined;

    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onReqError);
      req.off('close', onClose);
      // Stops inflating at once; the rest of the compressed input is never expanded.
      gunzip?.destroy();
      chunks.length = 0;
    };
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      // A read paused for gzip backpressure would never resume (the inflater is gone) and stall the
      // keep-alive connection; flowing without listeners discards the rest (see drainRequest).
      req.resume();
      reject(err);
    };
    const succeed = (): void => {
      if (settled) return;
      settled = true;
      const body = Buffer.concat(chunks, keptBytes);
      cleanup();
      resolve(body);
    };
    const keep = (chunk: Buffer, what: string): void => {
      keptBytes += chunk.length;
      if (keptBytes > maxBytes) {
        fail(new BodyTooLargeError(`${what} is larger than the limit of ${maxBytes} bytes`, false));
        return;
      }
      try {
        options.onKeep?.(chunk.length);
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      chunks.push(chunk);
    };

    function onData(chunk: Buffer): void {
      rawBytes += chunk.length;
      if (rawBytes > maxBytes) {
        fail(new BodyTooLargeError(`request body is larger than the limit of ${maxBytes} bytes`, true));
        return;
      }
      if (!gunzip) {
        keep(chunk, 'request body');
        return;
      }
      if (!gunzip.write(chunk)) {
        // Backpressure: inflating is slower than the socket; do not queue compressed input.
        req.pause();
        gunzip.once('drain', () => {
          if (!settled) req.resume();
        });
      }
    }
    function onEnd(): void {
      if (gunzip) gunzip.end();
      else succeed();
    }
    function onReqError(): void {
      fail(new ClientAbortedError());
    }
    function onClose(): void {
      if (!req.complete) fail(new ClientAbortedError());
    }

    if (gunzip) {
      gunzip.on('data', (chunk: Buffer) => {
        keep(chunk, 'decompressed request body');
      });
      gunzip.on('end', succeed);
      gunzip.on('error', (err) => fail(new BodyEncodingError(`request body is not valid gzip: ${err.message}`, { cause: err })));
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onReqError);
    req.on('close', onClose);
  });
}

/** How much of a refused request body is read and discarded to keep its connection usable (32 MiB). */
export const DEFAULT_DRAIN_MAX_BYTES = 32 * 1024 * 1024;
/** How long after the answer a refused body may keep arriving before the connection is closed, in milliseconds. */
export const DEFAULT_DRAIN_MAX_MILLIS = 5_000;

/** Bounds of {@link drainRequest}. */
export interface DrainOptions {
  /** defaults to {@link DEFAULT_DRAIN_MAX_BYTES} */
  maxBytes?: number;
  /** defaults to {@link DEFAULT_DRAIN_MAX_MILLIS} */
  maxMillis?: number;
}

/**
 * Keeps the connection of a request answered before its body was read (413, 400, 401, 429…) usable.
 *
 * The rest of the body is read and discarded, so the client (still uploading) reads the answer and
 * its next request on the same keep-alive connection is parsed. Closing at once instead would send a
 * TCP reset that can destroy the answer before the client reads it. The discarding is bounded: past
 * `maxBytes`, or `maxMillis` after the answer went out, the connection is closed (by then the client
 * has had the answer; this is a lingering close).
 */
export function drainRequest(req: IncomingMessage, res: ServerResponse, options: DrainOptions = {}): void {
  if (req.complete || req.destroyed) return;
  const maxBytes = options.maxBytes ?? DEFAULT_DRAIN_MAX_BYTES;
  const maxMillis = options.maxMillis ?? DEFAULT_DRAIN_MAX_MILLIS;
  let drained = 0;
  let timer: NodeJS.Timeout | undefined;
  const close = (): void => {
    if (!req.complete) req.socket?.destroy();
  };
  const stop = (): void => {
    if (timer) clearTimeout(timer);
    req.off('data', onData);
  };
  const answered = (): boolean => res.writableFinished;
  function onData(chunk: Buffer): void {
    drained += chunk.length;
    if (drained > maxBytes && answered()) {
      stop();
      close();
    }
  }
  req.on('data', onData);
  req.once('end', stop);
  req.once('close', stop);
  res.once('finish', () => {
    if (req.complete) return;
    if (drained > maxBytes) {
      stop();
      close();
      return;
    }
    timer = setTimeout(() => {
      stop();
      close();
    }, maxMillis);
    timer.unref();
  });
  req.resume();
}
