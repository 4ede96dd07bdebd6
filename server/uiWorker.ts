/**
 * The dashboard + API in a worker thread (see startService, `uiThread: 'worker'`): it opens its own
 * connection to the store and judges, reads and streams shutdowns there, so a large read never holds
 * up the event loop that takes OTLP. The main thread tells it which instances' spans changed, and
 * asks it to judge each settled shutdown (UiWorkerJudge), for the same reason.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DEFAULT_SHARED_CACHE_MILLIS, ShutdownViews } from './api/ShutdownViews.js';
import { createApp } from './app.js';
import { judgeAtIngest, judgeTaskAlone } from './judge/index.js';
import { judgeSettled } from './judgeSettled.js';
import { listen, urlOf } from './service.js';
import { openStore } from './store/openStore.js';
import { BUSY_REPORT_MS } from './store/SqliteStore.js';
import type { UiWorkerData, UiWorkerReply, UiWorkerRequest } from './uiWorkerMessages.js';

const data = workerData as UiWorkerData;
const port = parentPort;
if (!port) throw new Error('canceltrace uiWorker: must run as a worker thread');

const reply = (message: UiWorkerReply) => port.postMessage(message);
const onError = (error: unknown) => console.error('canceltrace api:', error);

try {
  const { store, shared } = await openStore(data.dbPath, judgeTaskAlone, { judgmentOf: (task) => judgeAtIngest(task, data.judge) });
  // This connection only reads; whether writes are refused is what the main thread reports.
  let lastBusyAt = Number.NEGATIVE_INFINITY;
  store.busy = () => Date.now() - lastBusyAt < BUSY_REPORT_MS;
  const views = new ShutdownViews(store, data.judge, undefined, shared ? { maxAgeMillis: DEFAULT_SHARED_CACHE_MILLIS } : {});
  // GET /metrics: the metrics live in the main thread, which answers each scrape by message.
  const scrapes = new Map<number, { resolve: (scraped: { contentType: string; text: string }) => void; reject: (error: Error) => void }>();
  let lastScrape = 0;
  const metrics = data.metrics
    ? {
        scrape: () =>
          new Promise<{ contentType: string; text: string }>((resolve, reject) => {
            const id = ++lastScrape;
            scrapes.set(id, { resolve, reject });
            reply({ type: 'scrape', id });
          }),
      }
    : undefined;
  let ui: Awaited<ReturnType<typeof listen>>;
  try {
    ui = await listen(
      createApp({ store, views, webRoot: data.webRoot, onError, metrics, traceLink: data.traceLink, access: data.access }),
      data.host,
      data.port,
    );
  } catch (error) {
    await store.close();
    throw error;
  }
  port.on('message', (message: UiWorkerRequest) => {
    if (message.type === 'touched') views.forget(message.instances);
    else if (message.type === 'busy') lastBusyAt = message.at;
    else if (message.type === 'scraped') {
      const waiting = scrapes.get(message.id);
      scrapes.delete(message.id);
      if (message.error !== undefined || message.text === undefined) waiting?.reject(new Error(`canceltrace metrics: ${message.error ?? 'no text'}`));
      else waiting?.resolve({ contentType: message.contentType ?? 'text/plain', text: message.text });
    } else if (message.type === 'judge') {
      // The `touched` of the shutdown's spans came first on this port: the views judge what was stored.
      void (async () => {
        try {
          reply({ type: 'judged', id: message.id, judgment: await judgeSettled(store, views, message.shutdownId, onError) });
        } catch (error) {
          reply({ type: 'judged', id: message.id, error: error instanceof Error ? error.message : String(error) });
        }
      })();
    } else if (message.type === 'stop') {
      void (async () => {
        try {
          await ui.close();
          await store.close();
        } finally {
          reply({ type: 'stopped' });
          port.close();
        }
      })();
    }
  });
  reply({ type: 'listening', url: urlOf(ui.server, data.host) });
} catch (error) {
  const e = error as NodeJS.ErrnoException;
  reply({ type: 'failed', message: e instanceof Error ? e.message : String(e), code: e?.code });
  port.close();
}
