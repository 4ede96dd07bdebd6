import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Attributes, HrTime, Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTR, EVENT } from '../../contract/contract.js';
import { hasChromium, launchChromium, NO_CHROMIUM_MESSAGE } from './browser.js';
import { CLI, getJson, ROOT, type Served, startServe, waitFor } from './serve.js';

const run = promisify(execFile);
const MS = 1_000_000n;
const at = (ns: bigint): HrTime => [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
const ARTIFACTS = join(ROOT, 'test-artifacts', 'web-investigator');
const SERVICE = 'investigator-e2e';
/** Workers that were cancelled politely: one group of identical rows. */
const WORKERS = 6;
/** Spans the recorder says it dropped (`canceltrace.spans_dropped`). */
const DROPPED = 7;
/** An attribute value only one task carries: the search must find it through the server. */
const ORDER_ID = 'ORD-4242-unique';
const SWALLOW_LINE = '    except asyncio.CancelledError: return  # eats the cancel';
const AXE_PATH = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');
const TRACE_LINK = 'http://tracing.example/trace/{traceId}?span={spanId}';

interface TaskSpec {
  name: string;
  coroutine: string;
  endMs: number;
  state: string;
  cancelMs?: number;
  snapshot?: boolean;
  attributes?: Attributes;
  events?: [string, number, Attributes?][];
}

function sendTask(tracer: Tracer, t0: bigint, spec: TaskSpec): void {
  const span = tracer.startSpan(spec.name, {
    startTime: at(t0 - 500n * MS),
    attributes: {
      [ATTR.taskKind]: 'asyncio',
      [ATTR.taskId]: spec.name,
      [ATTR.coroutine]: spec.coroutine,
      [ATTR.codeFilepath]: `/srv/app/${spec.coroutine}.py`,
      [ATTR.codeLineno]: 20,
      [ATTR.codeFunction]: 'spawn',
      [ATTR.finalState]: spec.state,
      ...(spec.snapshot ? { [ATTR.snapshot]: true } : {}),
      ...spec.attributes,
    },
  });
  if (spec.cancelMs !== undefined)
    span.addEvent(
      EVENT.cancelRequested,
      {
        [ATTR.cancelCount]: 1,
        [ATTR.cancelMessage]: 'shutdown',
        [ATTR.codeFilepath]: '/srv/app/main.py',
        [ATTR.codeLineno]: 88,
        [ATTR.codeFunction]: 'on_sigterm',
      },
      at(t0 + BigInt(spec.cancelMs) * MS),
    );
  for (const [name, ms, attrs] of spec.events ?? []) span.addEvent(name, attrs ?? {}, at(t0 + BigInt(ms) * MS));
  span.end(at(t0 + BigInt(spec.endMs) * MS));
}

/**
 * One shutdown the process reported `clean` although a task swallowed its cancel and one survived:
 * a parent task, its swallowing child (swallow site with its source line, an order id attribute),
 * a survivor known only from a snapshot, polite workers (one with an interrupted cleanup), and
 * `canceltrace.spans_dropped` on the shutdown span.
 */
async function sendDishonestShutdown(served: Served, instance: string, t0: bigint, survivors = 1): Promise<void> {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': SERVICE, 'service.instance.id': instance }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${served.otlpUrl}/v1/traces` }))],
  });
  const tracer = provider.getTracer('canceltrace', '0.1.0');
  const shutdown = tracer.startSpan('shutdown', {
    startTime: at(t0),
    attributes: { [ATTR.shutdownReason]: 'SIGTERM', [ATTR.shutdownOutcome]: 'clean', [ATTR.pendingBaseline]: 0, [ATTR.spansDropped]: DROPPED },
  });
  shutdown.addEvent(EVENT.cancelAll, { 'tasks.count': WORKERS + 3 }, at(t0 + 2n * MS));
  // a Node-style gauge sampled on change: one sample, the value never moved
  shutdown.addEvent(EVENT.gauge, { [ATTR.resourceName]: 'active_handles', [ATTR.resourceValue]: 4 }, at(t0 + 1n * MS));
  sendTask(tracer, t0, { name: 'supervisor', coroutine: 'supervise', endMs: 40, state: 'cancelled', cancelMs: 2 });
  sendTask(tracer, t0, {
    name: 'order-sync',
    coroutine: 'sync_orders',
    endMs: 120,
    state: 'completed',
    cancelMs: 3,
    attributes: {
      [ATTR.parentId]: 'supervisor',
      [ATTR.swallowSite]: '/srv/app/sync.py:57 in sync_orders',
      [ATTR.swallowLine]: SWALLOW_LINE,
      'order.id': ORDER_ID,
    },
  });
  for (let i = 0; i < survivors; i++)
    sendTask(tracer, t0, {
      name: `zombie-${i}`,
      coroutine: 'poll_forever',
      endMs: 900,
      state: 'pending',
      cancelMs: 3,
      snapshot: true,
      events: [[EVENT.stack, 900, { [ATTR.stack]: 'File "/srv/app/poll.py", line 9, in poll_forever' }]],
    });
  for (let i = 0; i < WORKERS; i++)
    sendTask(tracer, t0, {
      name: `worker-${i}`,
      coroutine: 'work',
      endMs: 10 + i * 5,
      state: 'cancelled',
      cancelMs: 2,
      events: i === 0 ? [[EVENT.cleanupStart, 4, { [ATTR.cleanupName]: 'flush' }]] : [],
    });
  shutdown.end(at(t0 + 900n * MS));
  await provider.forceFlush();
  await provider.shutdown();
}

/** A shutdown whose process died mid-drain: only a snapshot of its span, last sent long ago. */
async function sendAbandonedShutdown(served: Served, instance: string, t0: bigint): Promise<void> {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': SERVICE, 'service.instance.id': instance }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${served.otlpUrl}/v1/traces` }))],
  });
  const tracer = provider.getTracer('canceltrace', '0.1.0');
  const shutdown = tracer.startSpan('shutdown', { startTime: at(t0), attributes: { [ATTR.shutdownReason]: 'SIGTERM', [ATTR.snapshot]: true } });
  sendTask(tracer, t0, { name: 'stuck', coroutine: 'stuck', endMs: 300, state: 'pending', cancelMs: 1, snapshot: true });
  shutdown.end(at(t0 + 300n * MS));
  await provider.forceFlush();
  await provider.shutdown();
}

/** Runs axe-core in the page and returns the serious and critical violations (rule id and first target). */
async function seriousViolations(page: Page): Promise<string[]> {
  // evaluated through the DevTools protocol: the page's CSP (script-src 'self') rightly refuses inline scripts
  await page.evaluate(readFileSync(AXE_PATH, 'utf8'));
  const result = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> };
      }
    ).axe;
    return axe.run(document, { resultTypes: ['violations'] });
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

if (!hasChromium()) {
  describe.skip(`the dashboard as an investigator's tool (skipped: ${NO_CHROMIUM_MESSAGE})`, () => {
    it('needs Chromium', () => undefined);
  });
} else {
  describe("the dashboard as an investigator's tool, in Chromium", () => {
    let served: Served;
    let browser: Awaited<ReturnType<typeof launchChromium>>;
    let page: Page;
    let shutdownId: string;
    let abandonedId: string;
    let report: any;
    const errors: string[] = [];
    const t0 = BigInt(Date.now() - 600_000) * MS;

    /** A fresh page, its errors collected; every test starts from its own URL so none depends on another's state. */
    const open = async (hash: string, colorScheme: 'light' | 'dark' = 'light'): Promise<Page> => {
      await page?.close();
      page = await browser.context.newPage();
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      await page.emulateMedia({ colorScheme });
      await page.goto(`${served.uiUrl}/${hash}`);
      return page;
    };
    const timelineReady = () => page.locator('.timeline[data-first-frame]').waitFor({ timeout: 15_000 });
    const taskOf = (name: string) => report.tasks.find((t: any) => t.name === name);

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      served = await startServe({ args: ['--trace-link', TRACE_LINK] });
      await sendDishonestShutdown(served, randomUUID(), t0);
      await sendAbandonedShutdown(served, randomUUID(), t0 - 120_000n * MS);
      const rows = await waitFor(
        async () => {
          const r = await getJson<any[]>(served, `/api/shutdowns?service=${SERVICE}`);
          return r.length >= 2 ? r : undefined;
        },
        15_000,
        'both shutdowns',
      );
      shutdownId = rows.find((r) => !r.open).id;
      abandonedId = rows.find((r) => r.open).id;
      report = await getJson(served, `/api/shutdowns/${shutdownId}`);
      browser = await launchChromium();
    }, 90_000);

    afterAll(async () => {
      await browser?.close();
      await served?.stop();
    });

    it('when a shutdown reported clean has a swallowed task, then the list shows the worst verdict and per-verdict columns, sortable', async () => {
      await open('#/');
      const row = page.locator(`tr.shutdown-row[data-id="${shutdownId}"]`);
      await row.waitFor({ timeout: 15_000 });
      expect(await row.locator('.badge.outcome').textContent()).toBe('swallowed');
      expect(await row.locator('td.count-swallowed').textContent()).toBe('1');
      expect(await row.locator('td.count-survivor').textContent()).toBe('1');
      expect(await row.locator('td.count-orphan').textContent()).toBe('0');
      await page.locator('th[data-col=swallowed] .sort-btn').click();
      expect(await page.locator('th[data-col=swallowed]').getAttribute('aria-sort')).toBe('descending');
      // most swallowed first (other tests may add shutdowns: the order, not a position, is checked)
      const counts = (await page.locator('tr.shutdown-row td.count-swallowed').allTextContents()).map(Number);
      expect(counts).toEqual([...counts].sort((a, b) => b - a));
      expect(counts[0]).toBeGreaterThan(0);
      expect(new URL(page.url()).hash).toBe('#/?sort=-swallowed');
      await page.screenshot({ path: join(ARTIFACTS, 'list.png'), fullPage: true });
    });

    it('when a process stopped sending mid-drain, then its shutdown is not called live and says when it last sent', async () => {
      await open('#/');
      const row = page.locator(`tr.shutdown-row[data-id="${abandonedId}"]`);
      await row.waitFor({ timeout: 15_000 });
      // the abandoned shutdown's survivor makes its outcome read "survivor", and it has no end
      expect(await row.locator('.badge.outcome').textContent()).toBe('survivor (no end)');
      expect(await row.locator('.liveness').textContent()).toMatch(/^ last data (1[0-2]) min ago$/);
    });

    it('when only the hash changes on the list, then its filters apply', async () => {
      await open('#/');
      await page.locator(`tr.shutdown-row[data-id="${abandonedId}"]`).waitFor({ timeout: 15_000 });
      await page.evaluate((id) => {
        location.hash = `#/?q=${id.slice(0, 12)}`;
      }, abandonedId);
      await page.waitForFunction(() => document.querySelectorAll('tr.shutdown-row').length === 1);
      expect(await page.locator('tr.shutdown-row').getAttribute('data-id')).toBe(abandonedId);
      expect(await page.locator('.filter-search').inputValue()).toBe(abandonedId.slice(0, 12));
    });

    it('when a shutdown lost spans, then a completeness banner gives the dropped and snapshot-only counts', async () => {
      await open(`#/shutdowns/${shutdownId}`);
      await timelineReady();
      const banner = page.locator('.completeness');
      expect(await banner.getAttribute('data-spans-dropped')).toBe(String(DROPPED));
      expect(await banner.getAttribute('data-snapshot-only')).toBe('1');
      expect(await banner.textContent()).toContain(`${DROPPED} spans were dropped by the recorder`);
      expect(await page.locator('.shutdown-header .badge.outcome').textContent()).toBe('swallowed');
      await open(`#/shutdowns/${abandonedId}`);
      await timelineReady();
      expect(await page.locator('.completeness').getAttribute('data-no-end')).toBe('true');
      expect(await page.locator('.completeness').textContent()).toMatch(/its process stopped sending \(last data 1[0-2] min ago\)/);
    });

    it('when a finding kind is expanded and its tasks shown, then the timeline keeps only them and the URL says so', async () => {
      await open(`#/shutdowns/${shutdownId}`);
      await timelineReady();
      const kind = page.locator('.finding-kind[data-kind=cleanup_interrupted]');
      expect(await kind.locator('summary').textContent()).toBe('cleanup_interrupted 1 task');
      await kind.locator('summary').click();
      await kind.locator('.filter-link').click();
      await page.waitForFunction(() => document.querySelectorAll('.tl-label').length === 1);
      expect(await page.locator('.tl-label .name').textContent()).toBe('worker-0');
      expect(new URL(page.url()).hash).toBe(`#/shutdowns/${shutdownId}?finding=cleanup_interrupted`);
      expect(await page.locator('.match-count').textContent()).toBe(`1 of ${report.tasks.length} tasks match`);
    });

    it('when a verdict is picked in the filter bar, then only its tasks remain and the URL says so', async () => {
      await open(`#/shutdowns/${shutdownId}`);
      await timelineReady();
      // the options are made when the select is first reached (focus), as a user's click or Tab does
      await page.locator('.task-filter-verdict').focus();
      await page.selectOption('.task-filter-verdict', 'survivor');
      await page.waitForFunction(() => document.querySelector('.match-count')?.textContent?.startsWith('1 of'));
      expect(await page.locator('.tl-label').getAttribute('data-verdict')).toBe('survivor');
      expect(new URL(page.url()).hash).toBe(`#/shutdowns/${shutdownId}?verdict=survivor`);
    });

    it('when a search matches an attribute value and the view is zoomed, then the match is marked and counted, and the URL reproduces the view', async () => {
      await open(`#/shutdowns/${shutdownId}`);
      await timelineReady();
      await page.fill('.task-search', ORDER_ID);
      await page.waitForFunction(() => document.querySelector('.match-count')?.textContent?.startsWith('1 of'));
      expect(await page.locator('.tl-label.match .name').allTextContents()).toEqual(['order-sync']);
      await page.evaluate(() => (window as any).__canceltrace.view.timelineView.zoomTo(0, 200));
      await page.waitForFunction(() => location.hash.includes('to=200'));
      const hash = new URL(page.url()).hash;
      expect(hash).toBe(`#/shutdowns/${shutdownId}?q=${ORDER_ID}&from=0&to=200`);
      await open(hash);
      await timelineReady();
      await page.waitForFunction(() => document.querySelector('.match-count')?.textContent?.startsWith('1 of'));
      expect(await page.locator('.task-search').inputValue()).toBe(ORDER_ID);
      expect(await page.locator('.tl-label.match .name').allTextContents()).toEqual(['order-sync']);
      const domain = await page.evaluate(() => (window as any).__canceltrace.view.timelineView.xScale().domain() as number[]);
      expect(domain[0]).toBeCloseTo(0, 3);
      expect(domain[1]).toBeCloseTo(200, 3);
    });

    it('when a gauge never changed, then it is drawn at its value across the drain and says so', async () => {
      await open(`#/shutdowns/${shutdownId}`);
      await timelineReady();
      const gauge = page.locator('.chart-gauge');
      expect(await gauge.locator('.chart-last').textContent()).toBe('unchanged at 4 · baseline 4');
      const d = (await gauge.locator('path.series-gauge').getAttribute('d'))!;
      const xs = [...d.matchAll(/[MLH](-?[\d.]+)/g)].map((m) => Number(m[1]));
      expect(Math.max(...xs) - Math.min(...xs)).toBeGreaterThan(200);
    });

    it('when the statistics table is read, then its numbers equal a direct count of the API, and a row filters the timeline', async () => {
      await open(`#/shutdowns/${shutdownId}`);
      await timelineReady();
      const expected = new Map<string, { count: number; verdicts: Record<string, number>; waits: number[] }>();
      for (const t of report.tasks) {
        const e = expected.get(t.coroutine) ?? { count: 0, verdicts: {}, waits: [] };
        e.count++;
        e.verdicts[t.verdict] = (e.verdicts[t.verdict] ?? 0) + 1;
        if (t.cancelRequestedAt) e.waits.push(Number(BigInt(t.endedAt) - BigInt(t.cancelRequestedAt)) / 1e6);
        expected.set(t.coroutine, e);
      }
      await page.locator('.stats-row').first().waitFor();
      const rows = await page.locator('.stats-row').evaluateAll((trs) =>
        trs.map((tr) => ({
          key: tr.getAttribute('data-key')!,
          count: tr.querySelector('.stat-count')!.textContent,
          verdicts: Object.fromEntries(Array.from(tr.querySelectorAll('.stat-verdict')).map((td) => [td.getAttribute('data-verdict'), td.textContent])),
          max: tr.querySelector('.stat-max')!.textContent,
        })),
      );
      expect(rows.map((r) => r.key).sort()).toEqual([...expected.keys()].sort());
      for (const r of rows) {
        const e = expected.get(r.key)!;
        expect(r.count).toBe(String(e.count));
        for (const [v, n] of Object.entries(r.verdicts)) expect(n).toBe(String(e.verdicts[v as string] ?? 0));
        if (r.key === 'poll_forever') expect(r.max).toBe('897 ms');
      }
      await page.screenshot({ path: join(ARTIFACTS, 'stats.png'), fullPage: true });
      await page.locator('.stats-row[data-key=work] .stats-pick').click();
      await page.waitForFunction((n) => document.querySelector('.match-count')?.textContent === `${n} of ${n + 3} tasks match`, WORKERS);
      expect(new URL(page.url()).hash).toBe(`#/shutdowns/${shutdownId}?coroutine=work`);
    });

    it('when rows are ordered by what held the drain, then the survivor comes first', async () => {
      await open(`#/shutdowns/${shutdownId}?order=held`);
      await timelineReady();
      const first = await page
        .locator('.tl-label')
        .evaluateAll((els) => els.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)[0].getAttribute('data-verdict'));
      expect(first).toBe('survivor');
      expect(await page.locator('select.tl-sort').inputValue()).toBe('held');
    });

    it('when a task opens, then focus moves into its panel, it shows the swallow line, trace link and parent link, and j/k move between tasks', async () => {
      const swallower = taskOf('order-sync');
      await open(`#/shutdowns/${shutdownId}/tasks/${swallower.spanId}`);
      await page.locator('.task-panel .swallow-line').waitFor({ timeout: 15_000 });
      expect(await page.locator('.task-panel .swallow-line').textContent()).toBe(SWALLOW_LINE);
      expect(await page.locator('.task-panel .swallow-site').textContent()).toBe('/srv/app/sync.py:57');
      expect(await page.locator('.task-panel .cancel-site').textContent()).toBe('/srv/app/main.py:88');
      expect(await page.locator('.task-panel .trace-link').getAttribute('href')).toBe(
        `http://tracing.example/trace/${swallower.traceId}?span=${swallower.spanId}`,
      );
      expect(await page.evaluate(() => document.activeElement?.closest('aside.panel') !== null)).toBe(true);
      await page.screenshot({ path: join(ARTIFACTS, 'task-panel.png'), fullPage: true });
      await page.locator('.task-panel .parent-link').click();
      await page.waitForFunction((id) => location.hash.endsWith(`/tasks/${id}`), taskOf('supervisor').spanId, { timeout: 10_000 });
      expect(await page.locator('.task-panel .task-name').textContent()).toBe('supervisor');
      // the supervisor is the last row (after the group of workers): k goes up to a worker, j comes back
      const before = new URL(page.url()).hash;
      await page.keyboard.press('k');
      await page.waitForFunction((h) => location.hash !== h, before, { timeout: 10_000 });
      await page.locator('.task-panel .task-name', { hasText: /^worker-/ }).waitFor({ timeout: 10_000 });
      await page.keyboard.press('j');
      await page.waitForFunction((h) => location.hash === h, before, { timeout: 10_000 });
      await page.locator('.task-panel .task-name', { hasText: 'supervisor' }).waitFor({ timeout: 10_000 });
    });

    it('when the URL names an unknown task, then its panel says so and closes', async () => {
      await open(`#/shutdowns/${shutdownId}/tasks/${'f'.repeat(16)}`);
      await page.locator('.unknown-task').waitFor({ timeout: 15_000 });
      await page.locator('.unknown-task .close').click();
      await page.waitForFunction(() => document.querySelector('aside.panel')?.classList.contains('hidden'));
      expect(new URL(page.url()).hash).toBe(`#/shutdowns/${shutdownId}`);
    });

    it('when a site row is opened, then its tasks are listed and each opens its panel', async () => {
      await open('#/sites');
      const row = page.locator('tr.site-row', { hasText: 'sync_orders' });
      await row.waitFor({ timeout: 15_000 });
      await row.locator('.open-site').click();
      await page.locator('tr.site-tasks .site-task').first().click();
      await page.locator('.sites-view .task-panel .swallow-site').waitFor();
      expect(await page.locator('.sites-view .task-panel .task-name').textContent()).toBe('order-sync');
    });

    it('when the shutdown is exported as OTLP JSON and imported into a fresh store, then every task gets the same verdict', async () => {
      const res = await fetch(`${served.uiUrl}/api/shutdowns/${shutdownId}/export?format=otlp`);
      expect(res.headers.get('content-disposition')).toContain('.otlp.json');
      const dir = mkdtempSync(join(tmpdir(), 'canceltrace-export-'));
      const file = join(dir, 'shutdown.otlp.json');
      writeFileSync(file, await res.text());
      const db = join(dir, 'reimported.db');
      await run(process.execPath, [CLI, 'import', '--db', db, file]);
      const again = await startServe({ db });
      try {
        const reread = await getJson(again, `/api/shutdowns/${shutdownId}`);
        const verdicts = (r: any) => Object.fromEntries(r.tasks.map((t: any) => [t.spanId, t.verdict]));
        expect(verdicts(reread)).toEqual(verdicts(report));
      } finally {
        await again.stop();
      }
      const csv = await (await fetch(`${served.uiUrl}/api/shutdowns/${shutdownId}/export?format=csv`)).text();
      const lines = csv.trim().split('\r\n');
      expect(lines[0].split(',').slice(0, 5)).toEqual(['span_id', 'trace_id', 'name', 'coroutine', 'verdict']);
      expect(lines).toHaveLength(report.tasks.length + 1);
      await open(`#/shutdowns/${shutdownId}`);
      await timelineReady();
      expect(await page.locator('.exports a.export-otlp').getAttribute('href')).toBe(`api/shutdowns/${shutdownId}/export?format=otlp`);
    });

    it('when the columnar timeline is asked again with its entity tag, then it answers 304 without a body', async () => {
      const first = await fetch(`${served.uiUrl}/api/shutdowns/${shutdownId}/timeline`);
      const body = await first.json();
      expect(body.columnar.count).toBe(report.tasks.length);
      const etag = first.headers.get('etag')!;
      expect(etag).toMatch(/^W\/".+-columnar"$/);
      const again = await fetch(`${served.uiUrl}/api/shutdowns/${shutdownId}/timeline`, { headers: { 'if-none-match': etag } });
      expect(again.status).toBe(304);
    });

    it('when the system prefers a dark scheme, then the page is dark and axe finds no serious contrast problem', async () => {
      await open(`#/shutdowns/${shutdownId}`, 'dark');
      await timelineReady();
      const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      expect(bg).toBe('rgb(20, 24, 31)');
      expect(await seriousViolations(page)).toEqual([]);
    });

    it('when axe-core checks the list, the shutdown and a task panel, then it finds no serious or critical violation', async () => {
      await open('#/');
      await page.locator(`tr.shutdown-row[data-id="${shutdownId}"]`).waitFor({ timeout: 15_000 });
      expect(await seriousViolations(page)).toEqual([]);
      await open(`#/shutdowns/${shutdownId}`);
      await timelineReady();
      expect(await seriousViolations(page)).toEqual([]);
      await open(`#/shutdowns/${shutdownId}/tasks/${taskOf('order-sync').spanId}`);
      await page.locator('.task-panel .swallow-line').waitFor({ timeout: 15_000 });
      expect(await seriousViolations(page)).toEqual([]);
    });

    it('when a later run of the service has fewer survivors, then compare calls it improved', async () => {
      const instance = randomUUID();
      await sendDishonestShutdown(served, randomUUID(), t0 + 10_000n * MS, 4);
      await sendDishonestShutdown(served, instance, t0 + 20_000n * MS, 2);
      const rows = await waitFor(
        async () => {
          const r = await getJson<any[]>(served, `/api/shutdowns?service=${SERVICE}`);
          return r.length >= 4 ? r : undefined;
        },
        15_000,
        'the two runs',
      );
      const after = rows.find((r) => r.instance === instance);
      const before = rows.find((r) => r.start === String(t0 + 10_000n * MS));
      await open(`#/compare/${before.id}/${after.id}`);
      const line = page.locator('tr.compare-row', { hasText: 'poll_forever' });
      await line.waitFor({ timeout: 15_000 });
      expect(await line.getAttribute('class')).toContain('status-improved');
      expect(await line.locator('td').first().textContent()).toBe('improved');
    });

    it('when every view has been used, then no page error or console error happened', () => {
      expect(errors).toEqual([]);
    });
  });
}
