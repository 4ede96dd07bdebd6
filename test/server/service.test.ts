import { mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningService, STOP_GRACE_MILLIS, startService } from '../../server/service.js';

describe('startService', () => {
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
  });

  it('when stop is called during a request on a keep-alive connection, then the request gets its answer and stop does not wait out the grace period', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'canceltrace-service-'));
    service = await startService({ otlpPort: 0, uiPort: 0, dbPath: join(dir, 'c.db') });
    const url = new URL(service.otlpUrl);
    // Exporters keep their connections alive; this one stays open after the answer unless the server closes it.
    const agent = new Agent({ keepAlive: true });
    const body = '{"resourceSpans":[]}';
    const req = request({
      host: url.hostname,
      port: url.port,
      path: '/v1/traces',
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    const answer = new Promise<{ status?: number; connection?: string }>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection }));
      });
      req.on('error', reject);
    });
    req.write(body.slice(0, 5));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    const stopped = service.stop();
    req.end(body.slice(5));
    expect(await answer).toEqual({ status: 200, connection: 'close' });
    await stopped;
    expect(Date.now() - started).toBeLessThan(STOP_GRACE_MILLIS / 2);
    agent.destroy();
  });
});
