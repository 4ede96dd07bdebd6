import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Attributes, HrTime, Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium, NO_CHROMIUM_MESSAGE } from './browser.js';
import { getJson, ROOT, type Served, startServe, waitFor } from './serve.js';

const MS = 1_000_000n;
const at = (ns: bigint): HrTime => [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
const ARTIFACTS = join(ROOT, 'test-artifacts', 'web');
/** A task name an attacker could choose: it must render as text and never run. */
const HOSTILE_NAME = 'swallower <img src=x onerror=alert(1)>';
const SERVICE = 'web-e2e';
/** A second service whose one shutdown had no task in flight. */
const IDLE_SERVICE = 'web-e2e-idle';

function task(
  tracer: Tracer,
  t0: bigint,
  name: string,
  o: { endMs: number; state: string; events?: [string, number, Attributes?][]; attributes?: Attributes },
): void {
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

/** A tracer exporting as `service`/`instance` through the official OTLP protobuf exporter. */
function tracerFor(served: Served, service: string, instance: string): { tracer: Tracer; provider: NodeTracerProvider } {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'service.instance.id': instance }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${served.otlpUrl}/v1/traces` }))],
  });
  return { tracer: provider.getTracer('canceltrace', '0.1.0'), provider };
}

/**
 * Sends one shutdown of `instance`: a polite task, a swallower (with a hostile name) and a zombie.
 * With `fixed`, the swallower re-raises (ends cancelled) and the drain is shorter: the "after" of a fix.
 */
async function sendShutdown(served: Served, instance: string, t0: bigint, opts: { fixed?: boolean } = {}): Promise<void> {
  const { tracer, provider } = tracerFor(served, SERVICE, instance);
  const shutdown = tracer.startSpan('shutdown', {
    startTime: at(t0),
    attributes: { 'shutdown.reason': 'SIGTERM', 'shutdown.drain_timeout_ms': 1500, 'shutdown.outcome': 'survivors', 'shutdown.pending_baseline': 0 },
  });
  shutdown.addEvent('shutdown.cancel_all', { 'tasks.count': 3 }, at(t0 + 5n * MS));
  for (const [ms, count] of [
    [0, 3],
    [100, 2],
    [200, 1],
    [1900, 1],
  ] as const)
    shutdown.addEvent('tasks.pending', { 'tasks.pending.count': count }, at(t0 + BigInt(ms) * MS));
  const cancel = (ms: number): [string, number, Attributes] => [
    'task.cancel_requested',
    ms,
    { 'cancel.count': 1, 'cancel.message': '<b>shutdown</b>', 'code.filepath': '/srv/app/main.ts', 'code.lineno': 77, 'code.function': 'onSigterm' },
  ];
  task(tracer, t0, 'polite', {
    endMs: 60,
    state: 'cancelled',
    events: [
      cancel(5),
      ['task.cleanup.start', 10, { 'cleanup.name': 'close-db' }],
      ['task.cleanup.end', 40, { 'cleanup.name': 'close-db', 'cleanup.outcome': 'ok' }],
    ],
  });
  if (opts.fixed) task(tracer, t0, HOSTILE_NAME, { endMs: 150, state: 'cancelled', events: [cancel(5)] });
  else
    task(tracer, t0, HOSTILE_NAME, {
      endMs: 150,
      state: 'completed',
      events: [cancel(5)],
      attributes: { 'task.swallow_site': '/srv/app/swallower.ts:42 in loop' },
    });
  const endMs = opts.fixed ? 1950 : 2000;
  task(tracer, t0, 'zombie', {
    endMs,
    state: 'pending',
    events: [cancel(5), ['task.stack', endMs, { 'task.stack': 'at poll (/srv/app/zombie.ts:12)' }]],
    attributes: { 'task.snapshot': true },
  });
  shutdown.end(at(t0 + BigInt(endMs) * MS));
  await provider.forceFlush();
  await provider.shutdown();
}

/** Sends a shutdown of another service during which no task was in flight. */
async function sendIdleShutdown(served: Served, service: string, instance: string, t0: bigint): Promise<void> {
  const { tracer, provider } = tracerFor(served, service, instance);
  const shutdown = tracer.startSpan('shutdown', {
    startTime: at(t0),
    attributes: { 'shutdown.reason': 'main_returned', 'shutdown.outcome': 'clean', 'shutdown.pending_baseline': 0 },
  });
  shutdown.addEvent('tasks.pending', { 'tasks.pending.count': 0 }, at(t0));
  shutdown.end(at(t0 + 3n * MS));
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
    let idleId: string;
    const instance = randomUUID();
    const consoleErrors: string[] = [];
    const dialogs: string[] = [];
    const t0 = BigInt(Date.now() - 120_000) * MS;

    const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      served = await startServe();
      await sendShutdown(served, instance, t0);
      const [row] = await waitFor(
        async () => {
          const rows = await getJson<any[]>(served, '/api/shutdowns');
          return rows.length > 0 ? rows : undefined;
        },
        15_000,
        'the shutdown to be listed',
      );
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
      const verdicts = await labels.evaluateAll((els) =>
        els
          .map((e) => [e.getAttribute('data-verdict'), e.getBoundingClientRect().top] as const)
          .sort((a, b) => a[1] - b[1])
          .map((v) => v[0]),
      );
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

    it('when Escape is pressed, then the panel closes and the URL names the shutdown again', async () => {
      await page.keyboard.press('Escape');
      await page.waitForFunction(() => document.querySelector('aside.panel')?.classList.contains('hidden'));
      expect(new URL(page.url()).hash).toBe(`#/shutdowns/${shutdownId}`);
      await page.goBack();
      await page.locator('.task-panel .swallow-site').waitFor();
    });

    it('when the polite task is clicked, then the panel lists its cleanup step with its outcome and the timeline draws it as a sub-bar', async () => {
      await page.locator('.tl-label[data-verdict=cancelled]').click();
      const step = page.locator('.task-panel .steps .step');
      await step.first().waitFor();
      expect(await step.count()).toBe(1);
      expect(await step.locator('.badge').textContent()).toBe('ok');
      expect(await step.textContent()).toMatch(/cleanup “close-db” 30 ms from \+10 ms/);
      expect(await page.locator('.task-panel .verdict-box .fix').textContent()).toBe('Fix: Nothing to fix.');
      // the cleanup sub-bar is drawn in its own colour (#1f4e79) inside the polite task's row
      const stepPixels = await page.evaluate(() => {
        const c = document.querySelector<HTMLCanvasElement>('.tl-canvas')!;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] === 0x1f && d[i + 1] === 0x4e && d[i + 2] === 0x79) n++;
        return n;
      });
      expect(stepPixels).toBeGreaterThan(10);
      await page.goBack();
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

    it("when the site view is switched to survivors, then only the survivor's site is listed", async () => {
      await page.selectOption('.filter-verdict', 'survivor');
      await page.locator('tr.site-row', { hasText: 'run_zombie' }).waitFor({ timeout: 15_000 });
      expect(await page.locator('tr.site-row td.coroutine').allTextContents()).toEqual(['run_zombie']);
      // the site is a link that copies file:line
      expect(await page.locator('tr.site-row td.site a.copy-site').first().textContent()).toBe('/srv/app/zombie.ts:10');
    });

    it('when the list is filtered by service, outcome and search, then only matching rows remain and the URL keeps the filters', async () => {
      const idleInstance = randomUUID();
      await sendIdleShutdown(served, IDLE_SERVICE, idleInstance, t0 + 30_000n * MS);
      idleId = (await waitFor(async () => (await getJson<any[]>(served, `/api/shutdowns?service=${IDLE_SERVICE}`))[0], 15_000, 'the idle shutdown')).id;
      await page.goto(`${served.uiUrl}/#/`);
      await page.locator(`tr.shutdown-row[data-id="${idleId}"]`).waitFor({ timeout: 15_000 });
      const services = () => page.locator('tr.shutdown-row td.service').allTextContents();
      const ids = () => page.locator('tr.shutdown-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')));

      await page.selectOption('.filter-service', IDLE_SERVICE);
      expect(await ids()).toEqual([idleId]);
      await page.selectOption('.filter-service', '');
      await page.selectOption('.filter-outcome', 'survivors');
      expect(await services()).toEqual([SERVICE, SERVICE]);
      await page.selectOption('.filter-outcome', '');
      const part = instance.slice(0, 13);
      await page.fill('.filter-search', part);
      expect(await ids()).toEqual([shutdownId]);
      expect(new URL(page.url()).hash).toBe(`#/?q=${part}`);

      // the filtered list is a link: a reload (or a colleague) gets the same rows
      await page.reload();
      await page.locator(`tr.shutdown-row[data-id="${shutdownId}"]`).waitFor({ timeout: 15_000 });
      expect(await page.locator('.filter-search').inputValue()).toBe(part);
      expect(await ids()).toEqual([shutdownId]);

      await page.fill('.filter-search', 'no-such-shutdown');
      expect(await ids()).toEqual([]);
      expect(await page.locator('.shutdown-list .empty').textContent()).toBe('No shutdown matches the filters.');
      expect(await page.locator('.shutdown-list .empty').isVisible()).toBe(true);
      await shot('list-filtered');
    });

    it('when a shutdown had no task in flight, then its timeline says so instead of staying blank', async () => {
      await page.goto(`${served.uiUrl}/#/shutdowns/${idleId}`);
      await page.locator('.timeline[data-first-frame]').waitFor({ timeout: 15_000 });
      expect(await page.locator('.tl-head .tl-label-head').textContent()).toBe('0 tasks');
      expect(await page.locator('.tl-empty').textContent()).toMatch(/^No task was in flight during this shutdown/);
      await shot('empty-shutdown');
    });

    it('when a shutdown is compared with a fixed run of its service, then the swallower shows as fixed and the drain as faster', async () => {
      const fixedInstance = randomUUID();
      await sendShutdown(served, fixedInstance, t0 + 90_000n * MS, { fixed: true });
      const fixed = await waitFor(
        async () => (await getJson<any[]>(served, `/api/shutdowns?service=${SERVICE}`)).find((r) => r.instance === fixedInstance),
        15_000,
        'the fixed shutdown',
      );
      await page.goto(`${served.uiUrl}/#/?service=${SERVICE}`);
      await page.locator(`tr.shutdown-row[data-id="${fixed.id}"]`).waitFor({ timeout: 15_000 });
      expect(await page.locator('.compare-btn').isDisabled()).toBe(true);
      await page.locator(`tr.shutdown-row[data-id="${fixed.id}"] input[type=checkbox]`).check();
      await page.locator(`tr.shutdown-row[data-id="${shutdownId}"] input[type=checkbox]`).check();
      await page.click('.compare-btn');
      await page.locator('tr.compare-row').first().waitFor({ timeout: 15_000 });
      // the older shutdown is "before", whatever the order of the ticks
      expect(new URL(page.url()).hash).toBe(`#/compare/${shutdownId}/${fixed.id}`);
      const row = (coroutine: string) => page.locator('tr.compare-row', { hasText: coroutine });
      expect(await row('run_swallower').getAttribute('class')).toContain('status-fixed');
      expect(await row('run_swallower').locator('td').allTextContents()).toEqual([
        'fixed',
        'run_swallower',
        '/srv/app/swallower.ts:10',
        'swallowed 1',
        'cancelled 1',
      ]);
      expect(await row('run_zombie').getAttribute('class')).toContain('status-same');
      expect(await page.locator('.side-before .drain').textContent()).toMatch(/^drain 2\.00 s · /);
      expect(await page.locator('.side-after .drain').textContent()).toMatch(/^drain 1\.95 s · /);
      expect(await page.locator('.compare-delta').getAttribute('class')).toContain('better');
      expect(await page.locator('.compare-delta').textContent()).toBe('drain 50 ms faster');
      await shot('compare');
    });

    it('when the URL names an unknown shutdown, then the page says it was not found, names the id and links back', async () => {
      const fresh = await browser.context.newPage();
      fresh.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
      const unknown = `${'0'.repeat(32)}-${'0'.repeat(16)}`;
      await fresh.goto(`${served.uiUrl}/#/shutdowns/${unknown}`);
      await fresh.locator('.not-found').waitFor({ timeout: 15_000 });
      expect(await fresh.locator('.not-found h1').textContent()).toBe('Shutdown not found');
      expect(await fresh.locator('.not-found .error-message').textContent()).toContain(unknown);
      // a mangled id (cut off when pasted) gets the same plain message, not a blank page
      await fresh.goto(`${served.uiUrl}/#/shutdowns/${shutdownId.slice(0, 20)}`);
      await fresh.waitForFunction((id) => document.querySelector('.not-found .error-message')?.textContent?.includes(id), shutdownId.slice(0, 20), {
        timeout: 15_000,
      });
      await fresh.screenshot({ path: join(ARTIFACTS, 'not-found.png') });
      await fresh.locator('.not-found a').click();
      await fresh.locator(`tr.shutdown-row[data-id="${shutdownId}"]`).waitFor({ timeout: 15_000 });
      await fresh.close();
    });

    it('when the window is 1000 px wide and a task is open, then the panel sits beside the timeline and the zoom survives the resize', async () => {
      await page.setViewportSize({ width: 1000, height: 800 });
      await page.goto(`${served.uiUrl}/#/shutdowns/${shutdownId}`);
      await page.locator('.timeline[data-first-frame]').waitFor({ timeout: 15_000 });
      await page.evaluate(() => (window as any).__canceltrace.view.timelineView.zoomTo(0, 200));
      await page.locator('.tl-label[data-verdict=swallowed]').click();
      await page.locator('.task-panel .swallow-site').waitFor();
      await page.waitForFunction(
        () => document.querySelector('.timeline')!.getBoundingClientRect().right <= document.querySelector('aside.panel')!.getBoundingClientRect().left,
        undefined,
        { timeout: 5_000 },
      );
      const domain = await page.evaluate(() => (window as any).__canceltrace.view.timelineView.xScale().domain() as number[]);
      expect(domain[0]).toBeCloseTo(0, 3);
      expect(domain[1]).toBeCloseTo(200, 3);
      await shot('narrow-with-panel');
      await page.setViewportSize({ width: 1400, height: 950 });
    });

    it('when telemetry holds markup, then no element was injected, no dialog fired and the console stayed clean', async () => {
      expect(await page.evaluate(() => document.querySelectorAll('img, b').length)).toBe(0);
      expect(dialogs).toEqual([]);
      expect(consoleErrors).toEqual([]);
    });
  });
}
