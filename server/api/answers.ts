/**
 * A settled shutdown's answers, derived once and kept in the store: the compact and columnar texts of
 * its brief report, gzipped, in chunks. Judging a million tasks and writing their text costs seconds;
 * a shutdown that has ended and settled does not change unless a span of its instance arrives (or
 * retention deletes one), which the store's generation of the instance tells. So a kept answer whose
 * generation is still the instance's is sent as it is: a read after a restart costs what reading and
 * sending the bytes costs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, constants as zlibConstants } from 'node:zlib';
import type { Request, Response } from 'express';
import type { AnswerStore, StoredAnswer } from '../store/Store.js';
import { StoreClosedError } from '../store/StoreClosedError.js';
import { boundHeap } from './heapBound.js';

/** The forms of a shutdown that are kept: `?tasks=compact` and `/timeline`. */
export type AnswerForm = 'compact' | 'columnar';
export const ANSWER_FORMS: readonly AnswerForm[] = ['compact', 'columnar'];

/** Bytes of gzip stream per stored chunk (one short write transaction each). */
export const ANSWER_CHUNK_BYTES = 1024 * 1024;
/**
 * gzip level of the kept answers: the fastest. Their text repeats itself (ids, sites, verdicts), so
 * even this level keeps a tenth or less, and a settled shutdown is written once.
 */
export const ANSWER_GZIP_LEVEL = zlibConstants.Z_BEST_SPEED;
/** Bytes of unzipped text per write to the socket for a client that does not take gzip (zlib's default is 16 KiB: thousands of writes). */
export const UNZIPPED_WRITE_BYTES = 256 * 1024;
/** Changes when the text of the forms changes: kept answers of another format are judged again. */
export const ANSWER_FORMAT = 1;

/** The response header that says whether a shutdown's answer was `kept` or `judged` for this request. */
export const ANSWER_HEADER = 'X-Canceltrace-Answer';

/** A kept answer that still stands, ready to send. */
export class KeptAnswer {
  constructor(
    private readonly answers: AnswerStore,
    private readonly shutdownId: string,
    readonly form: AnswerForm,
    readonly stored: StoredAnswer,
  ) {}

  /** The entity tag: the one the same answer has when it is judged instead of read (see {@link answerTag}). */
  get etag(): string {
    return `W/"${answerTag(this.stored.judgeKey, this.stored.generation)}-${this.form}"`;
  }

  /** The gzip stream of the text, chunk by chunk; fails when a chunk is gone (the answer was replaced meanwhile). */
  async *gzipped(): AsyncGenerator<Buffer> {
    const { answers, shutdownId, form, stored } = this;
    for (let seq = 0; seq < stored.chunks; seq++) {
      const chunk = await answers.readAnswerChunk(shutdownId, form, stored.writeId, seq);
      if (chunk === undefined) throw new Error(`canceltrace: the kept ${form} answer of shutdown ${shutdownId} was replaced while it was read`);
      yield chunk;
    }
  }
}

/**
 * The entity tag (without its form) of a report judged at `generation` of its instance with `judgeKey`:
 * the text of a form depends on nothing else, so a report judged again, or read as a kept answer, even
 * after a restart, keeps its tag, and a polling dashboard gets a 304 until a span of the instance lands.
 */
export function answerTag(judgeKey: string, generation: number): string {
  return `k${createHash('sha1').update(judgeKey).digest('hex').slice(0, 10)}-g${generation}`;
}

/** A new write id: the generation it was judged at and a random part (two writers never share one). */
export function newWriteId(generation: number): string {
  return `${generation.toString(36)}.${randomBytes(6).toString('hex')}`;
}

/**
 * Writes `text` (the chunks of one form's JSON) gzipped to the store as the chunks of write `writeId`,
 * one short transaction each; resolves with the number of chunks. The answer is not kept until
 * {@link AnswerStore.commitAnswer} names the write.
 */
export async function writeAnswerChunks(
  answers: AnswerStore,
  shutdownId: string,
  form: AnswerForm,
  writeId: string,
  text: AsyncIterable<string>,
  chunkBytes = ANSWER_CHUNK_BYTES,
): Promise<number> {
  let seq = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const put = async () => {
    boundHeap();
    const data = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await answers.writeAnswerChunk(shutdownId, form, writeId, seq++, data);
  };
  await pipeline(
    Readable.from(text),
    createGzip({ level: ANSWER_GZIP_LEVEL }),
    new Writable({
      write(data: Buffer, _encoding, done) {
        pending.push(data);
        pendingBytes += data.length;
        if (pendingBytes < chunkBytes) done();
        else put().then(() => done(), done);
      },
      final(done) {
        if (pendingBytes === 0) done();
        else put().then(() => done(), done);
      },
    }),
  );
  return seq;
}

/**
 * Sends a kept answer: its gzip stream as it is to a client that accepts gzip, else unzipped on the
 * way; 304 when the client holds this write already. A chunk that cannot be read ends the response
 * short (the client sees an incomplete body, never a wrong one).
 */
export async function sendKept(req: Request, res: Response, answer: KeptAnswer, onError: (error: unknown) => void): Promise<void> {
  res.setHeader('ETag', answer.etag);
  res.setHeader('Vary', 'Accept-Encoding');
  res.setHeader(ANSWER_HEADER, 'kept');
  if (req.headers['if-none-match'] === answer.etag) {
    res.status(304).end();
    return;
  }
  res.status(200).type('application/json');
  const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  if (gzip) res.setHeader('Content-Encoding', 'gzip');
  try {
    if (gzip) await pipeline(Readable.from(answer.gzipped()), res);
    else await pipeline(Readable.from(answer.gzipped()), createGunzip({ chunkSize: UNZIPPED_WRITE_BYTES }), res);
  } catch (error) {
    if (!res.destroyed) res.destroy();
    // A client that went away is not an error of ours; a chunk that is gone is, and is told.
    if ((error as { code?: string }).code !== 'ERR_STREAM_PREMATURE_CLOSE') onError(error);
  }
}

/** `onError` for work after a response (deriving answers): a store closed meanwhile (the service stopping) is not told. */
export function quietWhenClosed(onError: (error: unknown) => void): (error: unknown) => void {
  return (error) => {
    if (!(error instanceof StoreClosedError)) onError(error);
  };
}
