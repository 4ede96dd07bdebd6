import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI (npm test builds it first, in `pretest`). */
export const CLI = join(ROOT, 'dist', 'server', 'cli', 'main.js');
/** How long serve may take to print its URLs, in milliseconds. */
const START_TIMEOUT_MILLIS = 20_000;
/** How long serve may take to stop after SIGTERM before it is killed, in milliseconds. */
const STOP_TIMEOUT_MILLIS = 10_000;

/** A `canceltrace serve` process started for a test. */
export interface Served {
  otlpUrl: string;
  uiUrl: string;
  dbPath: string;
  /** `host:port` of the OTLP/gRPC receiver, when the test turned it on with `--grpc-port` */
  grpcAddress?: string;
  child: ChildProcess;
  /** everything the process printed so far */
  output(): string;
  /** SIGTERM, then wait for the exit (SIGKILL after a bound); returns the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts the real CLI on free ports and a fresh (or given) SQLite file. The OTLP/gRPC receiver is
 * off (`--grpc-port 0`) unless `args` names a port (see {@link freePort}): its default, 4317, is shared.
 */
export async function startServe(opts: { db?: string; args?: string[]; env?: Record<string, string> } = {}): Promise<Served> {
  const dbPath = opts.db ?? join(mkdtempSync(join(tmpdir(), 'canceltrace-e2e-')), 'canceltrace.db');
  const child = spawn(process.execPath, [CLI, 'serve', '--otlp-port', '0', '--ui-port', '0', '--grpc-port', '0', '--db', dbPath, ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  const urls = await new Promise<{ otlp: string; ui: string }>((resolveUrls, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in time; output:\n${out}`)), START_TIMEOUT_MILLIS);
    const look = () => {
      const otlp = /^otlp: (\S+)$/m.exec(out)?.[1];
      const ui = /^ui: (\S+)$/m.exec(out)?.[1];
      if (otlp && ui) {
        clearTimeout(timer);
        resolveUrls({ otlp, ui });
      }
    };
    child.stdout!.on('data', look);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before starting; output:\n${out}`));
    });
  });
  let stopping: Promise<number | null> | undefined;
  return {
    otlpUrl: urls.otlp,
    uiUrl: urls.ui,
    ...(/^grpc: (\S+)$/m.test(out) ? { grpcAddress: /^grpc: (\S+)$/m.exec(out)?.[1] } : {}),
    dbPath,
    child,
    output: () => out,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MILLIS);
        const code = await exited;
        clearTimeout(timer);
        return code;
      })();
      return stopping;
    },
  };
}

/** GET a JSON document from the running service's API. */
export async function getJson<T = any>(served: Pick<Served, 'uiUrl'>, path: string): Promise<T> {
  const res = await fetch(`${served.uiUrl}${path}`);
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Polls `probe` until it returns a value that is not undefined, or fails after `timeoutMillis`. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMillis = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMillis;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the store file at `dbPath` keeps both answers (compact and columnar) of shutdown `id` (server/api/answers.ts). */
export async function waitForKeptAnswers(dbPath: string, id: string, timeoutMillis = 30_000): Promise<void> {
  await waitFor(
    async () => {
      const db = new Database(dbPath, { readonly: true });
      try {
        return (db.prepare('SELECT count(*) FROM shutdown_answers WHERE shutdown_id = ?').pluck().get(id) as number) === 2 ? true : undefined;
      } finally {
        db.close();
      }
    },
    timeoutMillis,
    'the kept answers',
  );
}

/** A TCP port that was free a moment ago on 127.0.0.1 (for a listener that cannot take port 0, such as `--grpc-port`). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  return port;
}
