import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readableSpan } from '../doubles/readableSpans.js';
import { hasChromium, launchChromium } from './browser.js';
import { CLI, type Served, startServe } from './serve.js';

const TOKEN = 'e2e-token-4f1c9a';
const TRACE = 'c0ffee00c0ffee00c0ffee00c0ffee00';

function exportWith(exporter: SpanExporter, spans: ReadableSpan[]): Promise<{ code: ExportResultCode }> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

/** GET with an explicit Host header (fetch does not let a caller choose it). */
function getWithHost(url: string, host: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { ...headers, host } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('canceltrace serve with CANCELTRACE_TOKEN and --allowed-host', () => {
  let served: Served;
  beforeAll(async () => {
    served = await startServe({ env: { CANCELTRACE_TOKEN: TOKEN }, args: ['--allowed-host', 'traces.internal'] });
  });
  afterAll(async () => {
    await served?.stop();
  });

  it.each([
    ['exporter-trace-otlp-proto', () => ProtoExporter],
    ['exporter-trace-otlp-http (JSON)', () => JsonExporter],
  ] as const)('when %s sends without the token, then the export fails; with it, the spans are stored', async (_name, Exporter) => {
    const url = `${served.otlpUrl}/v1/traces`;
    const stranger = new (Exporter())({ url });
    const span = (n: number) => readableSpan({ traceId: TRACE, spanId: n.toString(16).padStart(16, '0'), name: `span-${n}` });
    expect((await exportWith(stranger, [span(90)])).code).toBe(ExportResultCode.FAILED);
    const owner = new (Exporter())({ url, headers: { Authorization: `Bearer ${TOKEN}` } });
    expect((await exportWith(owner, [span(1)])).code).toBe(ExportResultCode.SUCCESS);
    await Promise.all([stranger.shutdown(), owner.shutdown()]);
    const res = await fetch(`${served.uiUrl}/api/traces/${TRACE}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    const names = ((await res.json()) as { spans: { name: string }[] }).spans.map((s) => s.name);
    expect(names).toContain('span-1');
    expect(names).not.toContain('span-90');
  });

  it('when the API is read without the token, then 401; with the Bearer token, then 200', async () => {
    expect((await fetch(`${served.uiUrl}/api/shutdowns`)).status).toBe(401);
    expect((await fetch(`${served.uiUrl}/api/shutdowns`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('when a request carries a Host that is not allowed (DNS rebinding), then 421 on both ports even with the token; an allowed name is served', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect(await getWithHost(`${served.uiUrl}/api/health`, 'rebind.attacker.example', auth)).toBe(421);
    expect(await getWithHost(`${served.otlpUrl}/v1/traces`, 'rebind.attacker.example', auth)).toBe(421);
    const port = new URL(served.uiUrl).port;
    expect(await getWithHost(`${served.uiUrl}/api/health`, `traces.internal:${port}`, auth)).toBe(200);
    expect(await getWithHost(`${served.uiUrl}/api/health`, `localhost:${port}`, auth)).toBe(200);
  });

  it.skipIf(!hasChromium())(
    'when the dashboard is opened in Chromium, then it asks for the token once, keeps it out of page scripts, and then loads its data',
    async () => {
      const browser = await launchChromium();
      try {
        const page = await browser.context.newPage();
        const unauthorized: string[] = [];
        page.on('response', (r) => {
          if (r.status() === 401 && r.url().includes('/api/')) unauthorized.push(r.url());
        });
        await page.goto(`${served.uiUrl}/`);
        expect(new URL(page.url()).pathname).toBe('/login');
        await page.fill('#token', TOKEN);
        await Promise.all([page.waitForURL(`${served.uiUrl}/`), page.click('button[type=submit]')]);
        await page.locator('#app').waitFor();
        const health = await page.evaluate(async () => (await fetch('/api/health')).status);
        expect(health).toBe(200);
        expect(await page.evaluate(() => document.cookie)).toBe('');
        // A second visit does not ask again.
        await page.goto(`${served.uiUrl}/`);
        expect(new URL(page.url()).pathname).toBe('/');
        expect(unauthorized).toEqual([]);
      } finally {
        await browser.close();
      }
    },
  );
});

describe('canceltrace serve on a non-loopback address without a token', () => {
  it('when started, then it prints a warning before anything else', async () => {
    // 192.0.2.1 (TEST-NET-1) is not on this machine: the bind fails after the warning, so nothing listens.
    const child = spawn(process.execPath, [CLI, 'serve', '--host', '192.0.2.1', '--otlp-port', '0', '--ui-port', '0', '--grpc-port', '0', '--db', ':memory:'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CANCELTRACE_TOKEN: '' },
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(err.split('\n')[0]).toMatch(/^canceltrace: warning: listening on 192\.0\.2\.1 without a token/);
    expect(code).toBe(1);
  });
});
