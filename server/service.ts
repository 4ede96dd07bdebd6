import { once } from 'node:events';
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { JudgmentWatcher } from '../collector/forward/JudgmentWatcher.js';
import { judgmentRequest } from '../collector/forward/judgmentSpan.js';
import { OtlpForwarder } from '../collector/forward/OtlpForwarder.js';
import { SpanRecordProcessor } from '../collector/processor/SpanRecordProcessor.js';
import { IngestBudget } from '../collector/receiver/IngestBudget.js';
import type { IngestObserver } from '../collector/receiver/IngestOutcome.js';
import { OtlpGrpcReceiver } from '../collector/receiver/OtlpGrpcReceiver.js';
import { createOtlpApp, OtlpHttpReceiver } from '../collector/receiver/OtlpHttpReceiver.js';
import type { Consumer, SpanRecord } from '../contract/records.js';
import { hostCheck } from './api/access.js';
import { DEFAULT_SHARED_CACHE_MILLIS, ShutdownViews } from './api/ShutdownViews.js';
import { type AppDeps, createApp } from './app.js';
import { type JudgeOptions, judgeAtIngest, judgeTaskAlone } from './judge/index.js';
import { judgeSettled } from './judgeSettled.js';
import { ServiceMetrics } from './metrics/ServiceMetrics.js';
import { RetentionSweeper } from './retention/RetentionSweeper.js';
import { openStore } from './store/openStore.js';
import { DEFAULT_WRITE_BUSY_TIMEOUT_MS } from './store/SqliteStore.js';
import { UiWorkerJudge } from './UiWorkerJudge.js';
import type { UiWorkerData, UiWorkerReply, UiWorkerRequest } from './uiWorkerMessages.js';

/** The default OTLP/HTTP port, as in the OTLP specification. */
export const DEFAULT_OTLP_PORT = 4318;
/** The default dashboard + API port. */
export const DEFAULT_UI_PORT = 8318;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_DB_PATH = './canceltrace.db';
/** How long a stop waits for in-flight requests before closing their connections, in milliseconds. */
export const STOP_GRACE_MILLIS = 5_000;

/** Options of {@link startService}. */
export interface ServiceOptions {
  host?: string;
  otlpPort?: number;
  uiPort?: number;
  /** OTLP/gRPC port; undefined or 0: no gRPC receiver (the CLI's default is DEFAULT_GRPC_PORT, 4317) */
  grpcPort?: number;
  /** a SQLite file path, or a `postgres://` / `postgresql://` URL for a store several instances share */
  dbPath?: string;
  maxBodyBytes?: number;
  /** downstream OTLP/HTTP receivers every accepted request (and each settled judgment) is passed on to */
  forward?: string[];
  /** serve Prometheus metrics at `GET /metrics` on the UI port (default true) */
  metrics?: boolean;
  /** delete what is older than this many milliseconds (`--retention`); undefined keeps everything */
  retentionMillis?: number;
  /** resident memory in MiB above which ingest is shed with 503 (`--max-memory-mib`); no limit when undefined */
  maxMemoryMiB?: number;
  /** when set, ingest and the API require it (`--token` / CANCELTRACE_TOKEN) */
  token?: string;
  /** names a request's Host may carry besides the bound address and localhost (`--allowed-host`) */
  allowedHosts?: string[];
  judge?: Partial<JudgeOptions>;
  /** URL template of the user's tracing tool with `{traceId}` / `{spanId}` (the dashboard links each task there) */
  traceLink?: string;
  onError?: (error: unknown) => void;
  /**
   * Where the dashboard + API run: `worker` (the default when running the built code) is a worker
   * thread with its own store connection, so judging and streaming a large shutdown never delays
   * OTLP; `inline` is the main thread (the default when running from TypeScript sources, e.g. in tests).
   */
  uiThread?: 'worker' | 'inline';
  /**
   * Where a SQLite store writes: `'thread'` on a connection of its own in a worker thread, beside the
   * thread that receives, decodes and judges (both cores busy during ingest); `'inline'` on this thread.
   * Default: the thread when running from the build (a worker cannot load TypeScript sources).
   */
  writerThread?: 'thread' | 'inline';
}

/** A running service. */
export interface RunningService {
  otlpUrl: string;
  uiUrl: string;
  /** `host:port` of the OTLP/gRPC receiver, when one runs */
  grpcAddress?: string;
  /** Stops taking requests, finishes in-flight ones, closes the store; safe to call twice. */
  stop(): Promise<void>;
}

/** The built dashboard folder (web/dist), found from this file in dist/server/ or server/. */
export function defaultWebRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const top = here.includes(`${join('dist', 'server')}`) ? join(here, '..', '..') : join(here, '..');
  return join(top, 'web', 'dist');
}

/** A listening HTTP server and the one way to stop it. */
export interface Listening {
  server: Server;
  /** Stops taking requests; in-flight ones finish (their connections close with the answer) within the grace period. */
  close(): Promise<void>;
}

/** Listens with `app` on `host:port` (0: any free port). */
export async function listen(app: RequestListener, host: string, port: number): Promise<Listening> {
  const server = createServer(app);
  // Responses still being produced, so a stop can ask their connections to close.
  const inFlight = new Set<ServerResponse>();
  let closing = false;
  server.on('request', (_req, res: ServerResponse) => {
    if (closing) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  server.listen(port, host);
  await once(server, 'listening');
  return {
    server,
    async close() {
      closing = true;
      // A keep-alive connection (every OTLP exporter uses one) whose request is in flight would otherwise
      // stay open after its answer until the grace period ends; `Connection: close` ends it with the answer.
      for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), STOP_GRACE_MILLIS);
      timer.unref();
      await closed;
      clearTimeout(timer);
    },
  };
}

/** The http URL a listening server is reached at. */
export function urlOf(server: Server, host: string): string {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return `http://${shownHost}:${port}`;
}

/**
 * Starts the collector (OTLP/HTTP receiver) and the dashboard + API on an embedded SQLite store, or
 * on PostgreSQL shared with other instances: receiver → processor → views (cache) → store.
 */
export async function startService(options: ServiceOptions = {}): Promise<RunningService> {
  const host = options.host ?? DEFAULT_HOST;
  const onError = options.onError ?? ((error: unknown) => console.error('canceltrace:', error));
  // Built first: a bad --forward URL fails before anything is opened.
  const forwarders = (options.forward ?? []).map((url) => new OtlpForwarder({ url, onError }));
  const dbPath = options.dbPath ?? DEFAULT_DB_PATH;
  const { store, shared } = await openStore(dbPath, judgeTaskAlone, {
    writeBusyTimeoutMs: DEFAULT_WRITE_BUSY_TIMEOUT_MS,
    judgmentOf: (task) => judgeAtIngest(task, options.judge),
    writerThread: (options.writerThread ?? (import.meta.url.endsWith('.js') ? 'thread' : 'inline')) === 'thread',
  });
  // Other instances' writes do not pass through these views: with a shared store only age can expire a report.
  const views = new ShutdownViews(store, options.judge, undefined, shared ? { maxAgeMillis: DEFAULT_SHARED_CACHE_MILLIS } : {});
  const retention = options.retentionMillis === undefined ? undefined : new RetentionSweeper({ store, retentionMillis: options.retentionMillis, onError });
  const metrics = options.metrics === false ? undefined : new ServiceMetrics(store, forwarders, retention);
  const uiWorkerUrl = new URL('./uiWorker.js', import.meta.url);
  const uiThread = options.uiThread ?? (import.meta.url.endsWith('.js') ? 'worker' : 'inline');
  let uiWorker: Worker | undefined;
  // With the UI in a worker, settled shutdowns are judged there too: a large one would hold up ingest here.
  const workerJudge = uiThread === 'worker' ? new UiWorkerJudge() : undefined;
  const stored: Consumer<SpanRecord> = metrics ? metrics.timedStore(views) : views;
  // Settled shutdowns: counted, and their judgment span sent downstream.
  const watcher = new JudgmentWatcher({
    // With the UI in a worker, the worker's views learn from here which instances' spans changed.
    next:
      uiThread === 'worker'
        ? {
            async consume(batch) {
              try {
                await stored.consume(batch);
              } catch (error) {
                // The worker's /api/health reports a busy store, which only this thread's writes can see.
                if (store.busy?.()) uiWorker?.postMessage({ type: 'busy', at: Date.now() } satisfies UiWorkerRequest);
                throw error;
              }
              uiWorker?.postMessage({ type: 'touched', instances: [...new Set(batch.map((s) => s.instance))] } satisfies UiWorkerRequest);
            },
          }
        : stored,
    judge: workerJudge ? (id) => workerJudge.judge(id) : (id) => judgeSettled(store, views, id, onError),
    onSettled: (judgment, settledBy) => {
      metrics?.observeJudgment(judgment, settledBy);
      if (forwarders.length === 0) return;
      const body = judgmentRequest(judgment, settledBy);
      for (const f of forwarders) f.offer({ body, encoding: 'protobuf', spans: 1 });
    },
    // A judgment span must not be lost to a stop; metrics alone do not outlive the process.
    settleOnClose: forwarders.length > 0,
    onError,
  });
  const observe: IngestObserver = (outcome) => {
    metrics?.observeIngest(outcome);
    if (!outcome.body) return;
    for (const f of forwarders) f.offer({ body: outcome.body, encoding: outcome.encoding, spans: outcome.accepted + outcome.rejected });
  };
  const processor = new SpanRecordProcessor({ next: watcher, onError });
  const budget = new IngestBudget({ maxMemoryMiB: options.maxMemoryMiB });
  const access = { boundHost: host, allowedHosts: options.allowedHosts, token: options.token };
  const receiver = new OtlpHttpReceiver({ next: processor, maxBodyBytes: options.maxBodyBytes, onError, budget, token: options.token, observe });
  const grpc = options.grpcPort
    ? new OtlpGrpcReceiver({ next: processor, maxBodyBytes: options.maxBodyBytes, onError, budget, token: options.token, observe })
    : undefined;
  let otlp: Listening | undefined;
  let ui: Listening | UiListening;
  let grpcPort: number | undefined;
  try {
    otlp = await listen(createOtlpApp(receiver, { access: hostCheck(access) }), host, options.otlpPort ?? DEFAULT_OTLP_PORT);
    if (grpc && options.grpcPort) grpcPort = await grpc.listen(host, options.grpcPort);
    if (uiThread === 'worker') {
      uiWorker = new Worker(uiWorkerUrl, {
        workerData: {
          dbPath,
          host,
          port: options.uiPort ?? DEFAULT_UI_PORT,
          webRoot: defaultWebRoot(),
          judge: options.judge,
          metrics: metrics !== undefined,
          traceLink: options.traceLink,
          access,
        } satisfies UiWorkerData,
      });
      // Attached at once: a request made before the worker listens waits in its port; its exit rejects them.
      workerJudge?.attach(uiWorker);
      ui = await uiInWorker(uiWorker, metrics);
    } else {
      ui = await listen(
        createApp({ store, views, webRoot: defaultWebRoot(), onError, metrics, traceLink: options.traceLink, access }),
        host,
        options.uiPort ?? DEFAULT_UI_PORT,
      );
    }
  } catch (error) {
    workerJudge?.stop(new Error('canceltrace: the service did not start'));
    await otlp?.close();
    await grpc?.close();
    await uiWorker?.terminate();
    await store.close();
    throw error;
  }
  retention?.start();
  let stopping: Promise<void> | undefined;
  return {
    otlpUrl: urlOf(otlp.server, host),
    uiUrl: 'url' in ui ? ui.url : urlOf(ui.server, host),
    ...(grpcPort !== undefined ? { grpcAddress: `${host.includes(':') ? `[${host}]` : host}:${grpcPort}` } : {}),
    stop() {
      stopping ??= (async () => {
        await Promise.all([otlp.close(), grpc?.close()]);
        await processor.shutdown();
        // Settling at close may judge, which the UI worker does: it stops after.
        await watcher.close();
        await ui.close();
        workerJudge?.stop(new Error('canceltrace: the service stopped'));
        await Promise.all([...forwarders.map((f) => f.close()), retention?.stop()]);
        await store.close();
      })();
      return stopping;
    },
  };
}

/** The dashboard + API running in a worker thread. */
interface UiListening {
  url: string;
  close(): Promise<void>;
}

/** Waits for the UI worker to listen (or fail, with the error's code kept, e.g. EADDRINUSE). */
async function uiInWorker(worker: Worker, metrics: AppDeps['metrics']): Promise<UiListening> {
  let onError: ((error: Error) => void) | undefined;
  let onExit: ((code: number) => void) | undefined;
  const first = await new Promise<UiWorkerReply>((resolve, reject) => {
    onError = reject;
    onExit = (code) => reject(new Error(`canceltrace: the dashboard worker exited with code ${code} before listening`));
    worker.once('message', resolve);
    worker.once('error', onError);
    worker.once('exit', onExit);
  });
  // Only its own: others (the UiWorkerJudge) listen for the exit too.
  if (onError) worker.off('error', onError);
  if (onExit) worker.off('exit', onExit);
  // An error after start-up (a bug in the worker) must not end the process that takes OTLP.
  worker.on('error', (error) => console.error('canceltrace api worker:', error));
  // The metrics live in this thread: the worker's GET /metrics asks for them.
  worker.on('message', (message: UiWorkerReply) => {
    if (message.type !== 'scrape') return;
    const answer = (reply: UiWorkerRequest) => worker.postMessage(reply);
    (metrics ? metrics.scrape() : Promise.reject(new Error('metrics are off'))).then(
      (scraped) => answer({ type: 'scraped', id: message.id, ...scraped }),
      (error: unknown) => answer({ type: 'scraped', id: message.id, error: error instanceof Error ? error.message : String(error) }),
    );
  });
  if (first.type !== 'listening') {
    await worker.terminate();
    const error: NodeJS.ErrnoException = new Error(first.type === 'failed' ? first.message : 'canceltrace: the dashboard worker stopped before listening');
    if (first.type === 'failed' && first.code !== undefined) error.code = first.code;
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    url: first.url,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => {
          worker.on('message', (m: UiWorkerReply) => m.type === 'stopped' && resolve());
          worker.once('exit', () => resolve());
        });
        worker.postMessage({ type: 'stop' } satisfies UiWorkerRequest);
        await stopped;
        await worker.terminate();
      })();
      return closing;
    },
  };
}
