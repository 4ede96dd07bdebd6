import { type Attributes, type HrTime, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, ROOT, startServe, waitFor, type Served } from './serve.js';
import { hasChromium, launchChromium, NO_CHROMIUM_MESSAGE } from './browser.js';

const MS = 1_000_000n;
const at = (ns: bigint): HrTime => [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
const ARTIFACTS = join(ROOT, 'test-artifacts', 'web');
/** A task name an attacker could choose: it must render as text and never run. */
const HOSTILE_NAME = 'swallower <img src=x onerror=alert(1)>';
const SERVICE = 'web-e2e';

function task(tracer: Tracer, t0: bigint, name: string, o: { endMs: number; state: string; events?: [string, number, Attributes?][]; attributes?: Attributes }): void {
  const span = tracer.startSpan(name, {
    startTime: at(t0 - 1000n * MS),
    attributes: {
      'task.kind': 'node',
      'task.id': name,
      'task.coroutine': `run_${name.split(' ')[0]}`,
      'code.filepath': `/srv/app/${name.split(' ')[0]}.ts`,
      'code.lineno': 10,
      'code.function': 'main',
      'task.final_state': o.state,
      ...o.attributes,
    },
  });
  for (const [ev, ms, attrs] of o.events ?? []) span.addEvent(ev, attrs ?? {}, at(t0 + BigInt(ms) * MS));
  span.end(at(t0 + BigInt(o.endMs) * MS));
}

/** Sends one shutdown of `instance` through the official OTLP protobuf exporter. */
async function sendShutdown(served: Served, instance: string, t0: bigint): Promise<void> {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': SERVICE, 'service.instance.id': instance }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${served.otlpUrl}/v1/traces` }))],
  });
  const tracer = provider.getTracer('canceltrace', '0.1.0');
  const shutdown = tracer.startSpan('shutdown', {
    startTime: at(t0),
    attributes: { 'shutdown.reason': 'SIGTERM', 'shutdown.drain_timeout_ms': 1500, 'shutdown.outcome': 'survivors', 'shutdown.pending_baseline': 0 },
  });
  shutdown.addEvent('shutdown.cancel_all', { 'tasks.count': 3 }, at(t0 + 5n * MS));
  for (const [ms, count] of [[0, 3], [100, 2], [200, 1], [1900, 1]] as const) shutdown.addEvent('tasks.pending', { 'tasks.pending.count': count }, at(t0 + BigInt(ms) * MS));
  const cancel = (ms: number): [string, number, Attributes] => ['task.cancel_requested', ms, { 'cancel.count': 1, 'cancel.message': '<b>shutdown</b>', 'code.filepath': '/srv/app/main.ts', 'code.lineno': 77, 'code.function': 'onSigterm' }];
  task(tracer, t0, 'polite', { endMs: 60, state: 'cancelled', events: [cancel(5), ['task.cleanup.start', 10, { 'cleanup.name': 'close-db' }], ['task.cleanup.end', 40, { 'cleanup.name': 'close-db', 'cleanup.outcome': 'ok' }]] });
  task(tracer, t0, HOSTILE_NAME, { endMs: 150, state: 'completed', events: [cancel(5)], attributes: { 'task.swallow_site': '/srv/app/swallower.ts:42 in loop' } });
  task(tracer, t0, 'zombie', { endMs: 2000, state: 'pending', events: [cancel(5), ['task.stack', 2000, { 'task.stack': 'at poll (/srv/app/zombie.ts:12)' }]], attributes: { 'task.snapshot': true } });
  shutdown.end(at(t0 + 2000n * MS));
  await provider.forceFlush();
  await provider.shutdown();
}

if (!hasChromium()) {
  if (process.env.CI === 'true') {
    describe('dashboard in a real browser', () => {
      it('has a Chromium to run in', () => {
        throw new Error(NO_CHROMIUM_MESSAGE);
      });
    });
  } else {
    console.warn(`skipping the dashboard browser tests: ${NO_CHROMIUM_MESSAGE}`);
    describe.skip(`dashboard in a real browser (skipped: ${NO_CHROMIUM_MESSAGE})`, () => {
      it('needs Chromium', () => undefined);
    });
  }
} else {
  describe('dashboard in a real browser', () => {
    let served: Served;
    let browser: Awaited<ReturnType<typeof launchChromium>>;
    let page: Page;
    let shutdownId: string;
    let swallowedSpanId: string;
    const instance = randomUUID();
    const consoleErrors: string[] = [];
    const dialogs: string[] = [];
    const t0 = BigInt(Date.now() - 120_000) * MS;

    const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      served = await startServe();
      await sendShutdown(served, instance, t0);
      const [row] = await waitFor(async () => {
        const rows = await getJson<any[]>(served, '/api/shutdowns');
        return rows.length > 0 ? rows : undefined;
      }, 15_000, 'the shutdown to be listed');
      shutdownId = row.id;
      const view = await getJson(served, `/api/shutdowns/${shutdownId}`);
      swallowedSpanId = view.tasks.find((t: any) => t.verdict === 'swallowed').spanId;
      browser = await launchChromium();
      page = await browser.context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(m.text());
      });
      page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
    }, 90_000);

    afterAll(async () => {
      await browser?.close();
      await served?.stop();
    });

    it('when the list opens, then it shows the shutdown with its service, outcome and red verdict badges', async () => {
      await page.goto(`${served.uiUrl}/#/`);
      const row = page.locator(`tr.shutdown-row[data-id="${shutdownId}"]`);
      await row.waitFor({ timeout: 15_000 });
      expect(await row.locator('td.service').textContent()).toBe(SERVICE);
      expect(await row.locator('.badge.outcome').textContent()).toBe('survivors');
      expect(await row.locator('.badge.bad[data-verdict=swallowed]').textContent()).toBe('swallowed 1');
      expect(await row.locator('.badge.bad[data-verdict=survivor]').textContent()).toBe('survivor 1');
      await shot('list');
    });

    it('when a new shutdown arrives, then the open list shows it without a reload', async () => {
      const rowsBefore = await page.locator('tr.shutdown-row').count();
      await page.evaluate(() => ((window as unknown as { __marker: number }).__marker = 1));
      await sendShutdown(served, randomUUID(), t0 + 60_000n * MS);
      await page.waitForFunction((n) => document.querySelectorAll('tr.shutdown-row').length > n, rowsBefore, { timeout: 15_000 });
      // the same document: no navigation happened
      expect(await page.evaluate(() => (window as unknown as { __marker?: number }).__marker)).toBe(1);
    });

    it('when the shutdown opens, then the timeline puts the swallowed task on top, labelled and not by colour alone', async () => {
      await page.goto(`${served.uiUrl}/#/shutdowns/${shutdownId}`);
      await page.locator('.timeline[data-first-frame]').waitFor({ timeout: 15_000 });
      const labels = page.locator('.tl-label');
      await labels.first().waitFor();
      const verdicts = await labels.evaluateAll((els) => els.map((e) => [e.getAttribute('data-verdict'), e.getBoundingClientRect().top] as const).sort((a, b) => a[1] - b[1]).map((v) => v[0]));
      expect(verdicts).toEqual(['swallowed', 'survivor', 'cancelled']);
      const top = page.locator('.tl-label[data-verdict=swallowed]');
      expect(await top.getAttribute('class')).toContain('highlight');
      expect(await top.locator('.verdict-flag').textContent()).toContain('swallowed');
      expect(await top.locator('.name').textContent()).toBe(HOSTILE_NAME);
      const drawn = await page.evaluate(() => {
        const c = document.querySelector<HTMLCanvasElement>('.tl-canvas')!;
        const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let red = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] > 180 && data[i + 1] < 80 && data[i + 2] < 80 && data[i + 3] > 200) red++;
        return red;
      });
      expect(drawn).toBeGreaterThan(50);
      await shot('timeline');
    });

    it('when the pending chart is drawn, then it shows the last pending count above its baseline', async () => {
      const pending = page.locator('.chart-pending');
      expect(await pending.locator('.chart-last').textContent()).toBe('last 1 · baseline 0');
      expect(await pending.locator('.chart-finding').textContent()).toContain('pending_not_at_baseline');
      expect(await pending.locator('path.series-pending').getAttribute('d')).toMatch(/^M[\d.-]+,[\d.-]+/);
      expect(await pending.locator('text.not-at-baseline-label').textContent()).toBe('1 > baseline 0');
    });

    it('when the swallowed task is clicked, then the panel shows its swallow site and the link is deep', async () => {
      await page.locator('.tl-label[data-verdict=swallowed]').click();
      await page.locator('.task-panel').waitFor();
      expect(new URL(page.url()).hash).toBe(`#/shutdowns/${shutdownId}/tasks/${swallowedSpanId}`);
      expect(await page.locator('.task-panel .swallow-site').textContent()).toBe('/srv/app/swallower.ts:42');
      expect(await page.locator('.task-panel .cancel-site').textContent()).toBe('/srv/app/main.ts:77');
      expect(await page.locator('.task-panel .task-name').textContent()).toBe(HOSTILE_NAME);
      expect(await page.locator('.task-panel .verdict-box .fix').textContent()).toMatch(/Re-raise/);
      await shot('task-panel');
    });

    it('when back and forward are pressed, then the panel closes and opens again', async () => {
      await page.goBack();
      await page.waitForFunction(() => document.querySelector('aside.panel')?.classList.contains('hidden'));
      await page.goForward();
      await page.locator('.task-panel .swallow-site').waitFor();
    });

    it('when a task deep link is opened in a fresh page, then the panel shows that task', async () => {
      const fresh = await browser.context.newPage();
      fresh.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
      await fresh.goto(`${served.uiUrl}/#/shutdowns/${shutdownId}/tasks/${swallowedSpanId}`);
      await fresh.locator('.task-panel .swallow-site').waitFor({ timeout: 15_000 });
      expect(await fresh.locator('.tl-label.selected').getAttribute('data-verdict')).toBe('swallowed');
      await fresh.close();
    });

    it('when the site view opens, then the swallowing site is counted', async () => {
      await page.goto(`${served.uiUrl}/#/sites`);
      const row = page.locator('tr.site-row', { hasText: 'run_swallower' });
      await row.waitFor({ timeout: 15_000 });
      expect(await row.locator('td.site').textContent()).toBe('/srv/app/swallower.ts:42');
      expect(await row.locator('td.num').first().textContent()).toBe('2');
      await shot('sites');
    });

    it('when telemetry holds markup, then no element was injected, no dialog fired and the console stayed clean', async () => {
      expect(await page.evaluate(() => document.querySelectorAll('img, b').length)).toBe(0);
      expect(dialogs).toEqual([]);
      expect(consoleErrors).toEqual([]);
    });
  });
}
