import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../e2e/serve.js';

const at = (ms: number): [number, number] => [1_700_000_000 + Math.floor(ms / 1000), (ms % 1000) * 1_000_000];

/** Real spans from the SDK: a shutdown with one swallowed and one cancelled task. */
function shutdownSpans(opts: { swallow: boolean; instance: string }): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'ingest', 'service.instance.id': opts.instance }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('canceltrace');
  const shutdown = tracer.startSpan('shutdown', { startTime: at(0), attributes: { 'shutdown.reason': 'SIGTERM', 'shutdown.outcome': 'clean' } });
  const worker = (name: string, state: string, extra: Record<string, string | number> = {}) => {
    const span = tracer.startSpan(name, {
      startTime: at(-1000),
      attributes: {
        'task.kind': 'asyncio',
        'task.coroutine': `${name}_loop`,
        'code.filepath': '/app/main.py',
        'code.lineno': 7,
        'task.final_state': state,
        ...extra,
      },
    });
    span.addEvent('task.cancel_requested', { 'cancel.count': 1 }, at(5));
    span.end(at(50));
  };
  worker('consumer', opts.swallow ? 'completed' : 'cancelled', opts.swallow ? { 'task.swallow_site': '/app/main.py:31 in consumer_loop' } : {});
  worker('producer', 'cancelled');
  shutdown.end(at(100));
  return exporter.getFinishedSpans();
}

describe('canceltrace CLI', () => {
  let dir: string;
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
  let files: Record<string, string>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'canceltrace-cli-'));
    const bad = shutdownSpans({ swallow: true, instance: 'a' });
    const good = shutdownSpans({ swallow: false, instance: 'b' });
    const json = (spans: ReadableSpan[]) => Buffer.from(JsonTraceSerializer.serializeRequest(spans)!);
    files = {
      swallowedJson: join(dir, 'swallowed.json'),
      cleanJson: join(dir, 'clean.json'),
      swallowedPb: join(dir, 'swallowed.pb'),
      lines: join(dir, 'lines.jsonl'),
      gz: join(dir, 'clean.json.gz'),
      broken: join(dir, 'broken.json'),
    };
    writeFileSync(files.swallowedJson, json(bad));
    writeFileSync(files.cleanJson, json(good));
    writeFileSync(files.swallowedPb, ProtobufTraceSerializer.serializeRequest(bad)!);
    // the collector file exporter writes one request per line
    writeFileSync(files.lines, `${json(good.slice(0, 1)).toString()}\n${json(good.slice(1)).toString()}\n`);
    writeFileSync(files.gz, gzipSync(json(good)));
    writeFileSync(files.broken, '{"resourceSpans": [ {');
  });

  describe('check', () => {
    it('when a dump holds a swallowed cancel, then it exits 1 and names the task and its catch site', () => {
      const result = run('check', files.swallowedJson);
      expect(result.status).toBe(1);
      expect(result.stdout).toMatch(/SWALLOWED\s+consumer \(consumer_loop\)/);
      expect(result.stdout).toContain('created at /app/main.py:7');
      expect(result.stdout).toContain('caught at  /app/main.py:31 in consumer_loop');
      expect(result.stdout).not.toMatch(/SWALLOWED\s+producer/);
    });

    it('when the same spans come as protobuf, then the report is the same as for JSON', () => {
      expect(run('check', files.swallowedPb).stdout).toBe(run('check', files.swallowedJson).stdout);
    });

    it('when every task was cancelled correctly, then it exits 0', () => {
      const result = run('check', files.cleanJson);
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('OK: no task with a failing verdict');
    });

    it('when --fail-on leaves out swallowed, then a swallowed task does not fail the check', () => {
      expect(run('check', '--fail-on', 'survivor,orphan', files.swallowedJson).status).toBe(0);
      expect(run('check', '--fail-on', 'nonsense', files.swallowedJson).status).toBe(2);
    });

    it('when --json is given, then the report is JSON with verdicts per task', () => {
      const result = run('check', '--json', files.swallowedJson);
      const body = JSON.parse(result.stdout);
      expect(body.failing).toBe(1);
      const verdicts = Object.fromEntries(body.shutdowns[0].tasks.map((t: any) => [t.name, t.verdict]));
      expect(verdicts).toEqual({ consumer: 'swallowed', producer: 'cancelled' });
    });

    it('when a file is broken, then one line names the file and nothing is judged', () => {
      const result = run('check', files.cleanJson, files.broken);
      expect(result.status).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('broken.json');
      expect(result.stdout).toBe('');
    });

    it('when a file does not exist, then the error names it and says so', () => {
      const missing = join(dir, 'missing.json');
      const result = run('check', missing);
      expect(result.status).toBe(2);
      expect(result.stderr.trim()).toBe(`canceltrace: ${missing}: no such file`);
    });

    it('when JSON lines and gzip dumps are given, then they are judged like plain JSON', () => {
      for (const file of [files.lines, files.gz]) {
        const result = run('check', '--json', file);
        expect(result.status).toBe(0);
        expect(JSON.parse(result.stdout).shutdowns[0].tasks).toHaveLength(2);
      }
    });
  });

  describe('import', () => {
    it('when every format is imported, then the store holds their shutdowns, and a broken file is named and skipped', () => {
      const db = join(dir, 'import.db');
      const result = run('import', '--db', db, files.swallowedPb, files.lines, files.broken);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('broken.json');
      expect(result.stdout).toContain('imported 6 span(s) from 2 file(s), 1 file(s) failed');
      const again = run('import', '--db', db, files.gz, files.swallowedJson);
      expect(again.status).toBe(0);
      // same spans again: stored once per (trace id, span id)
      const check = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import D from 'better-sqlite3'; const d = new D(${JSON.stringify(db)}); console.log(d.prepare("select count(*) n from spans").get().n)`,
        ],
        { encoding: 'utf8', cwd: process.cwd() },
      );
      expect(check.stdout.trim()).toBe('6');
    });
  });

  it('when help is asked, then it lists the exit codes each command returns', () => {
    const help = run('help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/exit codes:\n\s+0 .*\n\s+1 .*check.*import/);
    expect(help.stdout).toMatch(/\n\s+2 +bad usage/);
  });

  describe('--help', () => {
    it.each([
      ['check', '--help'],
      ['serve', '--help'],
      ['import', '--help'],
      ['check', '-h'],
      ['help', 'check'],
    ])('when `canceltrace %s %s` is run, then it prints the usage of the command and exits 0', (command, flag) => {
      const help = run(command, flag);
      expect(help.stderr).toBe('');
      expect(help.status).toBe(0);
      const shown = command === 'help' ? flag : command;
      expect(help.stdout).toMatch(/^usage:\n/);
      expect(help.stdout).toMatch(new RegExp(`\\n  canceltrace ${shown} \\[`));
    });

    it('when --help follows other arguments of serve, then it still prints the usage and starts nothing', () => {
      const help = run('serve', '--otlp-port', '0', '--ui-port', '0', '--grpc-port', '0', '--db', join(dir, 'never.db'), '--help');
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/^usage:\n/);
      expect(help.stdout).not.toMatch(/^otlp: /m);
      expect(existsSync(join(dir, 'never.db'))).toBe(false);
    });
  });

  describe('--db where no file can be made', () => {
    it.each([
      ['serve', '--otlp-port', '0', '--ui-port', '0', '--grpc-port', '0', '--db', '/proc/x/y.db'],
      ['import', '--db', '/proc/x/y.db', 'README.md'],
    ])('when `canceltrace %s … --db /proc/x/y.db` runs, then it exits 1 at once with one line naming the path', (...args) => {
      const result = run(...args);
      expect(result.error).toBeUndefined(); // not killed by the timeout
      expect(result.status).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^canceltrace: cannot open the database \/proc\/x\/y\.db: .*ENOENT/)]);
    });
  });
});
