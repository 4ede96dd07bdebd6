import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium, NO_CHROMIUM_MESSAGE } from './browser.js';
import { type NodeRun, runNodeExample } from './runNodeExample.js';
import { type PythonRun, pythonExampleLine, runPythonExample } from './runPythonExample.js';
import { getJson, ROOT, type Served, startServe, waitFor } from './serve.js';

const ARTIFACTS = join(ROOT, 'test-artifacts', 'web-programs');
const P1_FILE = 'p01_swallow_return.py';
const P8_FILE = 'p08_survivor_loop.py';
/** P14 registers a `db.pool.in_use` gauge and leaks one connection per swallowed cancel. */
const P14_FILE = 'p14_pool_leak.py';
/** P15: 1,000 identical, well-behaved workers. */
const P15_FILE = 'p15_clean_1000.py';
const P15_WORKERS = 1000;
/** The built Node example and the service name it gives itself. */
const N1_NAME = 'n1-swallow';
const N1_SERVICE = 'example-n1-swallow';
/** P8's own watchdog ends the process with this code 3 s after SIGTERM, as a supervisor would. */
const P8_WATCHDOG_EXIT_CODE = 3;
/** How long the collected shutdowns may take to show up in the API, in milliseconds. */
const ARRIVAL_TIMEOUT_MILLIS = 20_000;
/** How long the dashboard may take to render a view, in milliseconds. */
const RENDER_TIMEOUT_MILLIS = 15_000;

type Site = { filepath?: string; lineno?: number; function?: string; stack?: string };
type Task = { spanId: string; name: string; verdict: string; swallowSite?: Site; code: Site; events: { name: string; attributes: Record<string, unknown> }[] };
type Summary = { id: string; service: string; open: boolean; counts: Record<string, number> };
type View = { tasks: Task[]; pending: { t: string; count: number }[]; pendingBaseline: number };

/** One example program's run and the shutdown the service recorded for it. */
interface Recorded {
  service: string;
  shutdownId: string;
  /** the task the program is about (the swallowed worker, the survivor) */
  task: Task;
  view: View;
}

/** Polls the API until a shutdown of `service` holds a task named `taskName` with `verdict`. */
async function recordedShutdown(served: Served, service: string, taskName: string, verdict: string): Promise<Recorded> {
  return waitFor(
    async () => {
      const list = await getJson<Summary[]>(served, `/api/shutdowns?service=${encodeURIComponent(service)}`);
      for (const summary of list) {
        const view = await getJson<View>(served, `/api/shutdowns/${summary.id}`);
        const task = view.tasks.find((t) => t.name === taskName && t.verdict === verdict);
        if (task) return { service, shutdownId: summary.id, task, view };
      }
      return undefined;
    },
    ARRIVAL_TIMEOUT_MILLIS,
    `a shutdown of ${service} with ${taskName} ${verdict}`,
  );
}

/** The verdicts of the timeline's labels from top to bottom, as laid out on screen. */
function labelVerdictsTopDown(page: Page): Promise<(string | null)[]> {
  return page.locator('.tl-label').evaluateAll((els) =>
    els
      .map((e) => [e.getAttribute('data-verdict'), e.getBoundingClientRect().top] as const)
      .sort((a, b) => a[1] - b[1])
      .map((v) => v[0]),
  );
}

/** The computed background of an element as [r, g, b]. */
async function backgroundRgb(page: Page, selector: string): Promise<number[]> {
  const css = await page.locator(selector).evaluate((e) => getComputedStyle(e).backgroundColor);
  return (css.match(/\d+/g) ?? []).slice(0, 3).map(Number);
}

if (!hasChromium()) {
  if (process.env.CI === 'true') {
    describe('dashboard fed by real example programs', () => {
      it('has a Chromium to run in', () => {
        throw new Error(NO_CHROMIUM_MESSAGE);
      });
    });
  } else {
    console.warn(`skipping the dashboard browser tests on real programs: ${NO_CHROMIUM_MESSAGE}`);
    describe.skip(`dashboard fed by real example programs (skipped: ${NO_CHROMIUM_MESSAGE})`, () => {
      it('needs Chromium', () => undefined);
    });
  }
} else {
  describe('dashboard fed by real example programs', () => {
    let served: Served;
    let browser: Awaited<ReturnType<typeof launchChromium>>;
    let page: Page;
    let runs: { p1: PythonRun; p8: PythonRun; n1: NodeRun; p14: PythonRun; p15: PythonRun };
    let p1: Recorded;
    let p8: Recorded;
    let n1: Recorded;
    let p14: Recorded;
    let p15: Recorded;
    const p1Service = `web-p1-${randomUUID().slice(0, 8)}`;
    const p8Service = `web-p8-${randomUUID().slice(0, 8)}`;
    const p14Service = `web-p14-${randomUUID().slice(0, 8)}`;
    const p15Service = `web-p15-${randomUUID().slice(0, 8)}`;
    const consoleErrors: string[] = [];
    // the catch site, read from the example itself: the line of its `except asyncio.CancelledError` clause
    const p1CatchLine = pythonExampleLine(P1_FILE, /^\s*except asyncio\.CancelledError\b/);

    const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    const openShutdown = async (id: string) => {
      await page.goto(`${served.uiUrl}/#/shutdowns/${id}`);
      await page.locator('.timeline[data-first-frame]').waitFor({ timeout: RENDER_TIMEOUT_MILLIS });
      await page.locator('.tl-label').first().waitFor();
    };

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      served = await startServe();
      const [p1Run, p8Run, n1Run, p14Run, p15Run] = await Promise.all([
        runPythonExample(P1_FILE, { endpoint: served.otlpUrl, service: p1Service }),
        runPythonExample(P8_FILE, { endpoint: served.otlpUrl, service: p8Service, sigterm: true }),
        runNodeExample(N1_NAME, served.otlpUrl),
        runPythonExample(P14_FILE, { endpoint: served.otlpUrl, service: p14Service }),
        runPythonExample(P15_FILE, { endpoint: served.otlpUrl, service: p15Service, sigterm: true }),
      ]);
      runs = { p1: p1Run, p8: p8Run, n1: n1Run, p14: p14Run, p15: p15Run };
      [p1, p8, n1, p14, p15] = await Promise.all([
        recordedShutdown(served, p1Service, 'queue-worker', 'swallowed'),
        recordedShutdown(served, p8Service, 'poller', 'survivor'),
        recordedShutdown(served, N1_SERVICE, 'queue-poller', 'swallowed'),
        recordedShutdown(served, p14Service, 'leaky-0', 'swallowed'),
        recordedShutdown(served, p15Service, 'worker-999', 'cancelled'),
      ]);
      browser = await launchChromium();
      page = await browser.context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(m.text());
      });
      page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await served?.stop();
    });

    it('when the programs ran under their instrumentation, then they ended as they do on their own', () => {
      expect(runs.p1.code, runs.p1.stderr).toBe(0);
      expect(runs.p1.stdout).toContain('worker: stopping after 3');
      expect(runs.p8.code, runs.p8.stderr).toBe(P8_WATCHDOG_EXIT_CODE);
      expect(runs.p8.stdout).toContain('watchdog: shutdown did not finish, exiting');
      expect(runs.n1.code, runs.n1.output).toBe(0);
      expect(runs.n1.output).toContain('poller resolved with: stopped');
    });

    it('when the list opens, then each program has its shutdown with red verdict badges', async () => {
      await page.goto(`${served.uiUrl}/#/`);
      const expected = [
        [p1, p1Service, 'swallowed'],
        [p8, p8Service, 'survivor'],
        [n1, N1_SERVICE, 'swallowed'],
      ] as const;
      for (const [recorded, service, verdict] of expected) {
        const row = page.locator(`tr.shutdown-row[data-id="${recorded.shutdownId}"]`);
        await row.waitFor({ timeout: RENDER_TIMEOUT_MILLIS });
        expect(await row.locator('td.service').textContent()).toBe(service);
        const badge = `tr.shutdown-row[data-id="${recorded.shutdownId}"] .badge.bad[data-verdict=${verdict}]`;
        expect(await page.locator(badge).textContent()).toBe(`${verdict} 1`);
        const [r, g, b] = await backgroundRgb(page, badge);
        expect(r).toBeGreaterThan(150);
        expect(g).toBeLessThan(100);
        expect(b).toBeLessThan(100);
      }
      await shot('list');
    });

    it('when P1 swallowed its cancel, then the API names the except clause of the example as the swallow site', () => {
      expect(p1.task.swallowSite?.filepath).toMatch(/p01_swallow_return\.py$/);
      expect(p1.task.swallowSite?.lineno).toBe(p1CatchLine);
      expect(p1.task.swallowSite?.function).toBe('worker');
    });

    it("when P1's shutdown opens, then the swallowed worker is the top row, labelled swallowed", async () => {
      await openShutdown(p1.shutdownId);
      expect((await labelVerdictsTopDown(page))[0]).toBe('swallowed');
      const top = page.locator('.tl-label[data-verdict=swallowed]');
      expect(await top.getAttribute('data-span-id')).toBe(p1.task.spanId);
      expect(await top.getAttribute('class')).toContain('highlight');
      expect(await top.locator('.verdict-flag').textContent()).toContain('swallowed');
      expect(await top.locator('.name').textContent()).toBe('queue-worker');
      await page.locator('.chart-pending').waitFor();
      await shot('p1-timeline');
    });

    it('when the swallowed worker is clicked, then the panel shows the swallow site in p01_swallow_return.py', async () => {
      await page.locator('.tl-label[data-verdict=swallowed]').click();
      await page.locator('.task-panel .swallow-site').waitFor();
      expect(new URL(page.url()).hash).toBe(`#/shutdowns/${p1.shutdownId}/tasks/${p1.task.spanId}`);
      const site = await page.locator('.task-panel .swallow-site').textContent();
      expect(site).toMatch(new RegExp(`p01_swallow_return\\.py:${p1CatchLine}$`));
      expect(site).toBe(`${p1.task.swallowSite?.filepath}:${p1.task.swallowSite?.lineno}`);
      expect(await page.locator('.task-panel .verdict-box .badge').textContent()).toBe('swallowed');
      expect(await page.locator('.task-panel .task-name').textContent()).toBe('queue-worker');
      await shot('p1-task-panel');
    });

    it("when P8's shutdown opens, then the survivor is highlighted on top and the panel shows where it is stuck now", async () => {
      await openShutdown(p8.shutdownId);
      expect((await labelVerdictsTopDown(page))[0]).toBe('survivor');
      const top = page.locator('.tl-label[data-verdict=survivor]');
      expect(await top.getAttribute('class')).toContain('highlight');
      expect(await top.locator('.name').textContent()).toBe('poller');
      await top.click();
      const stack = page.locator('.task-panel section.stack');
      await stack.locator('pre').waitFor();
      expect(await stack.locator('h3').textContent()).toBe('Where it is stuck now');
      // the panel's stack is the one the recorder took at its last snapshot
      const apiStack = p8.task.events.filter((e) => e.name === 'task.stack').at(-1)?.attributes['task.stack'];
      expect(String(apiStack)).toContain('in poller');
      await page.waitForFunction((want) => document.querySelector('.task-panel section.stack pre')?.textContent === want, String(apiStack), {
        timeout: RENDER_TIMEOUT_MILLIS,
      });
      expect(await stack.locator('pre').textContent()).toMatch(/p08_survivor_loop\.py", line \d+, in poller/);
      await shot('p8-survivor');
    });

    it("when P8's pending chart is drawn, then the pending count stays above its baseline", async () => {
      const pending = page.locator('.chart-pending');
      expect(p8.view.pending.at(-1)?.count).toBe(1);
      expect(await pending.locator('.chart-last').textContent()).toBe(`last 1 · baseline ${p8.view.pendingBaseline}`);
      expect(await pending.locator('.chart-finding').textContent()).toContain('pending_not_at_baseline');
      expect(await pending.locator('path.series-pending').getAttribute('d')).toMatch(/^M[\d.-]+,[\d.-]+/);
    });

    it("when N1's shutdown opens, then the Node task that swallowed its abort is the top row", async () => {
      await openShutdown(n1.shutdownId);
      expect((await labelVerdictsTopDown(page))[0]).toBe('swallowed');
      expect(await page.locator('.tl-label[data-verdict=swallowed] .name').textContent()).toBe('queue-poller');
      await page.locator('.chart-pending').waitFor();
      await shot('n1-timeline');
    });

    it("when P14's shutdown opens, then the pool gauge chart shows resource_not_released where the line stays above its baseline", async () => {
      expect(runs.p14.code, runs.p14.stderr).toBe(0);
      await openShutdown(p14.shutdownId);
      const gauge = page.locator('.chart-gauge', { has: page.locator('.chart-name', { hasText: 'db.pool.in_use' }) });
      await gauge.waitFor();
      expect(await gauge.locator('.chart-finding').textContent()).toContain('resource_not_released');
      expect(await gauge.locator('.chart-last').textContent()).toBe('last 3 · baseline 0');
      expect(await gauge.locator('text.not-at-baseline-label').textContent()).toBe('3 > baseline 0');
      expect(await gauge.locator('circle.not-at-baseline').count()).toBe(1);
      // the leaking handlers are one collapsed row of three, on top
      const top = page.locator('.tl-label').first();
      expect(await top.getAttribute('data-verdict')).toBe('swallowed');
      expect(await top.locator('.count').textContent()).toBe('×3');
      await shot('p14-pool-gauge');
    });

    it("when P15's 1,000 workers are shown, then they collapse into one row that expands on click and collapses again", async () => {
      expect(runs.p15.code, runs.p15.stderr).toBe(0);
      await openShutdown(p15.shutdownId);
      expect(p15.view.tasks.filter((t) => t.verdict === 'cancelled')).toHaveLength(P15_WORKERS);
      const group = page.locator('.tl-label.kind-group', { hasText: 'worker' });
      expect(await group.locator('.count').textContent()).toBe(`×${P15_WORKERS.toLocaleString()}`);
      expect(await page.locator('.tl-label').count()).toBeLessThan(5);
      await group.click();
      await page.locator('.tl-label.kind-member').first().waitFor();
      // only the rows in view are in the DOM, not 1,000
      const members = await page.locator('.tl-label.kind-member').count();
      expect(members).toBeGreaterThan(10);
      expect(members).toBeLessThan(60);
      expect(await page.evaluate(() => (window as any).__canceltrace.view.timelineView.currentRows().length)).toBe(P15_WORKERS + 2);
      await shot('p15-expanded');
      await page.click('.tl-collapse');
      await page.waitForFunction(() => document.querySelectorAll('.tl-label.kind-member').length === 0);
      // and from the keyboard: the group row is a button
      expect(await group.getAttribute('aria-expanded')).toBe('false');
      await group.focus();
      await page.keyboard.press('Enter');
      await page.locator('.tl-label.kind-member').first().waitFor();
      expect(await group.getAttribute('aria-expanded')).toBe('true');
      // a live refresh (as polling does for an open shutdown) keeps the expanded group and the zoom
      await page.evaluate(() => (window as any).__canceltrace.view.timelineView.zoomTo(1, 5));
      await page.evaluate(async (id) => {
        const report = await (await fetch(`api/shutdowns/${id}`)).json();
        (window as any).__canceltrace.view.update({ report });
      }, p15.shutdownId);
      await page.locator('.tl-label.kind-member').first().waitFor({ timeout: 5_000 });
      expect(await page.locator('.tl-label.kind-group').getAttribute('aria-expanded')).toBe('true');
      const domain = await page.evaluate(() => (window as any).__canceltrace.view.timelineView.xScale().domain() as number[]);
      expect(domain[0]).toBeCloseTo(1, 3);
      expect(domain[1]).toBeCloseTo(5, 3);
    });

    it('when every view has been shown, then the console stayed clean', () => {
      expect(consoleErrors).toEqual([]);
    });
  });
}
