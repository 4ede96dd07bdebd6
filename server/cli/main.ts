#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { forwardUrl } from '../../collector/forward/OtlpForwarder.js';
import { readDump } from '../../collector/otlp/dump.js';
import { toSpanRecord } from '../../collector/processor/toSpanRecord.js';
import { DEFAULT_GRPC_PORT } from '../../collector/receiver/OtlpGrpcReceiver.js';
import { BAD_VERDICTS, type SpanRecord, VERDICTS } from '../../contract/records.js';
import { isLoopback } from '../api/access.js';
import { bigintReplacer, reportJson, taskJson } from '../api/json.js';
import { judgeAtIngest, judgeTaskAlone } from '../judge/index.js';
import { parseRetention } from '../retention/RetentionSweeper.js';
import { DEFAULT_DB_PATH, DEFAULT_HOST, DEFAULT_OTLP_PORT, DEFAULT_UI_PORT, startService } from '../service.js';
import { openStore } from '../store/openStore.js';
import { isPgUrl, redactPgUrl } from '../store/PgStore.js';
import { checkSpans, formatCheckReport, parseFailOn } from './check.js';
import { ProgressBar } from './ProgressBar.js';
import { packageVersion } from './version.js';

const USAGE = `usage:
  canceltrace serve [--host H] [--otlp-port P] [--ui-port P] [--grpc-port P] [--db PATH|URL]
                    [--forward URL]... [--metrics on|off] [--retention 14d] [--trace-link TEMPLATE]
                    [--token T] [--allowed-host NAME]... [--max-memory-mib N]
  canceltrace import [--db PATH|URL] FILE...
  canceltrace check [--fail-on v1,v2] [--json] [--slow-cancel-ms N] FILE...
  canceltrace --version

serve   OTLP/HTTP receiver (POST /v1/traces) and dashboard + API on an embedded SQLite file
--grpc-port  OTLP/gRPC receiver port (default ${DEFAULT_GRPC_PORT}; 0 turns it off)
--forward    pass every span on to this OTLP/HTTP receiver (base URL; /v1/traces is appended
             unless present), plus one canceltrace.judgment span per settled shutdown; repeatable
--metrics    Prometheus metrics at GET /metrics on the UI port (default on)
--retention  delete shutdowns and spans older than this (s, m, h, d, w; e.g. 14d; also
             CANCELTRACE_RETENTION); default: keep everything
--token      require this token (Authorization: Bearer, or the dashboard's sign-in) on ingest and
             the API; CANCELTRACE_TOKEN sets it without showing it in the process list
--allowed-host  a name requests may use in Host besides the bound address and localhost; repeatable
--max-memory-mib  shed ingest with 503 + Retry-After while the process holds more than this
--db    a SQLite file path (default ${DEFAULT_DB_PATH}), or postgres://user@host:port/database
        (or postgresql://) for one PostgreSQL store shared by several serve instances
--trace-link  a URL of your tracing tool with {traceId} and {spanId}, e.g.
        http://jaeger:16686/trace/{traceId}?uiFind={spanId}: each task in the dashboard links there
import  load OTLP dumps (OTLP JSON, OTLP protobuf, collector file-exporter JSON lines) into the DB
check   judge dumps without a server; exit 1 when a task has a failing verdict
        (default: ${BAD_VERDICTS.join(', ')})

exit codes:
  0  done (check: no task with a failing verdict)
  1  check: a task has a failing verdict; import: a file was not imported (nothing of it is stored);
     serve: it could not start (port in use, database cannot be opened or reached)
  2  bad usage, or check could not read a FILE (missing, empty, not an OTLP dump)`;

/** A mistake in how the command was called: printed with the usage, exit 2. */
class UsageError extends Error {}

function port(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new UsageError(`${name} must be a port number from 0 to 65535, got '${value}'`);
  return n;
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      'otlp-port': { type: 'string' },
      'ui-port': { type: 'string' },
      'grpc-port': { type: 'string' },
      db: { type: 'string' },
      forward: { type: 'string', multiple: true },
      metrics: { type: 'string' },
      'trace-link': { type: 'string' },
      retention: { type: 'string' },
      token: { type: 'string' },
      'allowed-host': { type: 'string', multiple: true },
      'max-memory-mib': { type: 'string' },
    },
    strict: true,
  });
  const token = values.token ?? (process.env.CANCELTRACE_TOKEN || undefined);
  if (token !== undefined && token.trim() === '') throw new UsageError('--token (or CANCELTRACE_TOKEN) must not be empty');
  const maxMemory = values['max-memory-mib'];
  if (maxMemory !== undefined && (!/^\d+$/.test(maxMemory) || Number(maxMemory) < 1)) {
    throw new UsageError(`--max-memory-mib must be a whole number of MiB of at least 1, got '${maxMemory}'`);
  }
  const host = values.host ?? DEFAULT_HOST;
  if (!token && !isLoopback(host)) {
    console.error(`canceltrace: warning: listening on ${host} without a token: anyone who can reach it can read and write; set CANCELTRACE_TOKEN or --token`);
  }
  const db = values.db ?? DEFAULT_DB_PATH;
  const forward = values.forward ?? [];
  for (const url of forward) {
    try {
      forwardUrl(url);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  const retentionText = values.retention ?? process.env.CANCELTRACE_RETENTION;
  let retentionMillis: number | undefined;
  if (retentionText !== undefined && retentionText !== '') {
    try {
      retentionMillis = parseRetention(retentionText);
    } catch (error) {
      throw new UsageError(`--retention: ${(error as Error).message}`);
    }
  }
  const metrics = values.metrics ?? 'on';
  if (metrics !== 'on' && metrics !== 'off') throw new UsageError(`--metrics must be 'on' or 'off', got '${metrics}'`);
  const traceLink = values['trace-link'];
  if (traceLink !== undefined && !/^https?:\/\/\S*\{traceId\}/.test(traceLink))
    throw new UsageError(`--trace-link must be an http(s) URL containing {traceId}, got '${traceLink}'`);
  const service = await startService({
    host,
    otlpPort: port(values['otlp-port'], DEFAULT_OTLP_PORT, '--otlp-port'),
    uiPort: port(values['ui-port'], DEFAULT_UI_PORT, '--ui-port'),
    grpcPort: port(values['grpc-port'], DEFAULT_GRPC_PORT, '--grpc-port'),
    dbPath: db,
    forward,
    metrics: metrics === 'on',
    traceLink,
    retentionMillis,
    token,
    allowedHosts: values['allowed-host'],
    maxMemoryMiB: maxMemory === undefined ? undefined : Number(maxMemory),
  });
  // Handlers first: once the URLs are printed, a signal must find them.
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    // Not `once`: under `npm start`, Ctrl-C reaches this process twice (from the terminal and
    // forwarded by npm), and a second signal left to its default would kill it mid-stop.
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      process.stdout.write(`canceltrace: ${signal}, stopping\n`);
      void service.stop().then(resolve, (error) => {
        console.error('canceltrace: error while stopping:', error);
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  const grpcLine = service.grpcAddress ? `grpc: ${service.grpcAddress}\n` : '';
  // The two URLs and the database first: what a newcomer needs from `npm start`.
  process.stdout.write(`otlp: ${service.otlpUrl}\nui: ${service.uiUrl}\ndb: ${isPgUrl(db) ? redactPgUrl(db) : db}\n${grpcLine}`);
  await stopped;
  process.stdout.write('canceltrace: stopped\n');
  return 0;
}

/** Reads every file; returns its spans or prints a one-line error naming it. */
function readFiles(files: string[], report: (line: string) => void = (line) => console.error(line)): { spans: Map<string, SpanRecord[]>; failed: number } {
  const spans = new Map<string, SpanRecord[]>();
  let failed = 0;
  for (const file of files) {
    try {
      const content = readFileSync(file);
      spans.set(file, readDump(content, basename(file)).map(toSpanRecord));
    } catch (error) {
      failed++;
      const code = (error as NodeJS.ErrnoException).code;
      const message =
        code === 'ENOENT' ? `${file}: no such file` : code === 'EISDIR' ? `${file}: is a directory` : error instanceof Error ? error.message : String(error);
      report(`canceltrace: ${message.includes(basename(file)) ? message : `${file}: ${message}`}`.split('\n')[0]);
    }
  }
  return { spans, failed };
}

async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { db: { type: 'string' } }, allowPositionals: true, strict: true });
  if (positionals.length === 0) throw new UsageError('import needs at least one FILE');
  const { store } = await openStore(values.db ?? DEFAULT_DB_PATH, judgeTaskAlone, { judgmentOf: (task) => judgeAtIngest(task) });
  const bar = new ProgressBar(process.stderr, positionals.length, 'import');
  let imported = 0;
  let spanCount = 0;
  let failed = 0;
  try {
    for (const file of positionals) {
      const result = readFiles([file], (line) => bar.note(line));
      failed += result.failed;
      const spans = result.spans.get(file);
      if (spans) {
        try {
          await store.consume(spans); // one transaction per file: all of it or none of it
          imported++;
          spanCount += spans.length;
        } catch (error) {
          failed++;
          bar.note(`canceltrace: ${file}: not imported: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      bar.tick(file);
    }
  } finally {
    bar.done();
    await store.close();
  }
  process.stdout.write(`imported ${spanCount} span(s) from ${imported} file(s)${failed ? `, ${failed} file(s) failed` : ''}\n`);
  return failed > 0 ? 1 : 0;
}

async function check(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { 'fail-on': { type: 'string' }, json: { type: 'boolean' }, 'slow-cancel-ms': { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length === 0) throw new UsageError('check needs at least one FILE');
  let failOn: ReturnType<typeof parseFailOn>;
  try {
    failOn = parseFailOn(values['fail-on'], VERDICTS);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const slow = values['slow-cancel-ms'];
  if (slow !== undefined && !/^\d+$/.test(slow)) throw new UsageError(`--slow-cancel-ms must be a whole number, got '${slow}'`);
  const { spans, failed } = readFiles(positionals);
  if (failed > 0) return 2;
  const all = [...spans.values()].flat();
  const report = checkSpans(all, failOn, slow !== undefined ? { slowCancelNs: BigInt(slow) * 1_000_000n } : {});
  if (values.json) {
    const body = { shutdowns: report.shutdowns.map(reportJson), outside: report.outside.map(taskJson), failing: report.failing };
    process.stdout.write(`${JSON.stringify(body, bigintReplacer, 2)}\n`);
  } else {
    process.stdout.write(`${formatCheckReport(report, failOn)}\n`);
  }
  return report.failing > 0 ? 1 : 0;
}

/** The commands `--help` (or `-h`) after them prints the usage for, exit 0. */
const COMMANDS = new Set(['serve', 'import', 'check']);

/** Runs one CLI command and returns its exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && COMMANDS.has(command) && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    switch (command) {
      case 'serve':
        return await serve(rest);
      case 'import':
        return await importCommand(rest);
      case 'check':
        return await check(rest);
      case '--version':
      case 'version':
        process.stdout.write(`${packageVersion()}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`canceltrace: ${(error as Error).message}\n${USAGE}`);
      return 2;
    }
    const hint =
      (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
        ? ' (is another canceltrace running? pick other ports with --otlp-port/--ui-port/--grpc-port, or 0 for free ones; --grpc-port 0 turns gRPC off)'
        : '';
    console.error(`canceltrace: ${error instanceof Error ? error.message : String(error)}${hint}`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);
