import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readableSpan } from '../doubles/readableSpans.js';
import { type Served, startServe } from './serve.js';

/** Loops of the kill test: short in CI; CANCELTRACE_KILL_LOOPS=50 for the long setting (README). */
const KILL_LOOPS = Number(process.env.CANCELTRACE_KILL_LOOPS ?? 2);
/** Bodies of the fuzz test: short in CI; CANCELTRACE_FUZZ_RUNS=20000 for the long setting (README). */
const FUZZ_RUNS = Number(process.env.CANCELTRACE_FUZZ_RUNS ?? 300);
/** Batches sent before each kill. */
const BATCHES_PER_LOOP = 6;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

function batch(traceId: string, from: number, count: number): Buffer {
  const spans = Array.from({ length: count }, (_, i) =>
    readableSpan({ traceId, spanId: (from + i + 1).toString(16).padStart(16, '0'), name: `s-${from + i}` }),
  );
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!);
}

async function post(served: Served, body: Uint8Array, headers: Record<string, string> = {}): Promise<number> {
  try {
    const res = await fetch(`${served.otlpUrl}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', ...headers },
      body: Buffer.from(body),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0; // the connection died with the process
  }
}

describe('canceltrace serve killed with SIGKILL during ingest', () => {
  it(`when it is killed ${KILL_LOOPS} time(s) mid-ingest and restarted on the same file, then every batch it acknowledged is there`, async () => {
    const traceId = hex(16);
    const acknowledged = new Set<string>();
    let db: string | undefined;
    for (let loop = 0; loop < KILL_LOOPS; loop++) {
      const served = await startServe(db ? { db } : {});
      db = served.dbPath;
      // One batch answered for sure, then more in flight at the kill.
      const first = loop * BATCHES_PER_LOOP * 100 + 50_000;
      expect(await post(served, batch(traceId, first, 10))).toBe(200);
      for (let i = 0; i < 10; i++) acknowledged.add(`s-${first + i}`);
      const sends = Array.from({ length: BATCHES_PER_LOOP }, async (_, b) => {
        const from = (loop * BATCHES_PER_LOOP + b) * 100;
        if ((await post(served, batch(traceId, from, 100))) === 200) for (let i = 0; i < 100; i++) acknowledged.add(`s-${from + i}`);
      });
      // Kill while the batches are in flight: some answered, some not.
      await new Promise((r) => setTimeout(r, 20));
      served.child.kill('SIGKILL');
      await Promise.all(sends);
      await served.stop();
    }
    const served = await startServe({ db });
    try {
      const res = await fetch(`${served.uiUrl}/api/traces/${traceId}`);
      const stored = new Set(res.status === 200 ? ((await res.json()) as { spans: { name: string }[] }).spans.map((s) => s.name) : []);
      const lost = [...acknowledged].filter((name) => !stored.has(name));
      expect(acknowledged.size).toBeGreaterThanOrEqual(10 * KILL_LOOPS);
      expect(lost).toEqual([]);
    } finally {
      await served.stop();
    }
  }, 120_000);
});

describe('canceltrace serve fed fuzzed bodies', () => {
  let served: Served;
  beforeAll(async () => {
    served = await startServe();
  });
  afterAll(async () => {
    await served?.stop();
  });

  it(`when ${FUZZ_RUNS} corrupted, cut or random bodies arrive (plain and gzip), then each gets 200, 400 or 413, never a 5xx, and a valid batch still works after`, async () => {
    const good = batch(hex(16), 0, 5);
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 2048 }),
      fc.tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat()).map(([flips, cut]) => {
        const b = Buffer.from(good);
        for (const [at, byte] of flips) b[at % b.length] = byte;
        return b.subarray(0, cut % (b.length + 1));
      }),
    );
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async (b, gzip) => {
        const status = await post(served, gzip ? gzipSync(b) : b, gzip ? { 'content-encoding': 'gzip' } : {});
        seen.set(status, (seen.get(status) ?? 0) + 1);
        expect([200, 400, 413]).toContain(status);
      }),
      { numRuns: FUZZ_RUNS },
    );
    expect(await post(served, good)).toBe(200);
    expect(seen.get(200)).toBeGreaterThan(0);
  }, 300_000);
});
