import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningService, startService } from '../../server/service.js';
import { readableSpan } from '../doubles/readableSpans.js';

const TRACE = '7f3a2b1c4d5e6f708192a3b4c5d6e7f8';

function spans(count: number, from = 0): ReadableSpan[] {
  return Array.from({ length: count }, (_, i) =>
    readableSpan({ traceId: TRACE, spanId: (from + i + 1).toString(16).padStart(16, '0'), name: `s-${from + i}` }),
  );
}

let service: RunningService | undefined;
let lock: Database.Database | undefined;
let dir: string | undefined;
afterEach(async () => {
  lock?.close();
  lock = undefined;
  await service?.stop();
  service = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function json(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('canceltrace serve while another process holds the store write lock', () => {
  it('when a batch arrives, then 503 with Retry-After, reads keep working, health says busy, and a retrying official exporter stores everything once the lock is gone', async () => {
    dir = mkdtempSync(join(tmpdir(), 'canceltrace-busy-serve-'));
    const db = join(dir, 'c.db');
    service = await startService({ otlpPort: 0, uiPort: 0, dbPath: db, onError: () => {} });
    const url = `${service.otlpUrl}/v1/traces`;
    // What `canceltrace import` does for each file: one write transaction on another connection.
    lock = new Database(db);
    lock.exec('BEGIN IMMEDIATE');

    const refused = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: Buffer.from(ProtobufTraceSerializer.serializeRequest(spans(1, 100))!),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');

    const health = await json(`${service.uiUrl}/api/health`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'busy', store: expect.stringMatching(/^busy/) });
    expect((await json(`${service.uiUrl}/api/shutdowns`)).status).toBe(200);
    expect((await json(`${service.uiUrl}/api/tasks`)).status).toBe(200);

    const exporter = new ProtoExporter({ url });
    const exported = new Promise<{ code: ExportResultCode }>((resolve) => exporter.export(spans(20), resolve));
    // Let the exporter meet the lock at least once before the import "finishes".
    await new Promise((r) => setTimeout(r, 300));
    lock.exec('COMMIT');
    expect((await exported).code).toBe(ExportResultCode.SUCCESS);
    await exporter.shutdown();
    const trace = await json(`${service.uiUrl}/api/traces/${TRACE}`);
    expect((trace.body.spans as unknown[]).length).toBe(20);
  });
});
