import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../e2e/serve.js';

/** How long `npm start` may take to print its URLs, in milliseconds (npm itself starts slowly on a busy machine). */
const START_TIMEOUT_MILLIS = 60_000;
/** How long it may take to stop after the signal, in milliseconds; past it the test fails (and kills what is left). */
const STOP_TIMEOUT_MILLIS = 30_000;

/** `npm start` as a newcomer runs it, on free ports and a fresh database; --ignore-scripts skips the prestart build (pretest built dist/). */
function npmStart(): { child: ChildProcess; dbPath: string; output: () => string; stdout: () => string } {
  const dbPath = join(mkdtempSync(join(tmpdir(), 'canceltrace-npm-start-')), 'canceltrace.db');
  const child = spawn(
    'npm',
    ['start', '--ignore-scripts', '--', '--host', '127.0.0.1', '--otlp-port', '0', '--ui-port', '0', '--grpc-port', '0', '--db', dbPath],
    // its own process group, so that a test can send SIGINT to all of it as a terminal's Ctrl-C does
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let out = '';
  let stdout = '';
  child.stdout?.on('data', (d) => {
    out += d;
    stdout += d;
  });
  child.stderr?.on('data', (d) => (out += d));
  return { child, dbPath, output: () => out, stdout: () => stdout };
}

function waitFor(child: ChildProcess, output: () => string, pattern: RegExp, timeoutMillis: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not printed in time: ${pattern}; output:\n${output()}`)), timeoutMillis);
    const look = () => {
      if (pattern.test(output())) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', look);
    child.once('exit', () => {
      clearTimeout(timer);
      if (pattern.test(output())) resolve();
      else reject(new Error(`exited before printing ${pattern}; output:\n${output()}`));
    });
    look();
  });
}

/** Every process below `pid` now (Linux /proc), children first. */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // the parent pid is the 4th field, after the command name in parentheses (which may hold spaces)
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // the process ended while listing
    }
  }
  const out: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of parentOf) {
      if (ppid === parent) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

/** Whether `pid` still runs (a zombie, ended but not yet reaped, does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Whether a port on 127.0.0.1 can be listened on again (nothing holds it). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Waits until npm has exited and its output pipes are closed: by then every process that held them (the server) is gone too. */
function closeOf(child: ChildProcess, output: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start or its server did not end in time; output:\n${output()}`)), STOP_TIMEOUT_MILLIS);
    child.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe('npm start', () => {
  it.each([
    ['SIGTERM sent to npm', (child: ChildProcess) => child.kill('SIGTERM')],
    ['Ctrl-C (SIGINT to the whole process group)', (child: ChildProcess) => process.kill(-(child.pid as number), 'SIGINT')],
  ])(
    'when stopped with %s, then it first printed the URLs and the database, and no server is left running',
    async (_how, signal) => {
      const { child, dbPath, output, stdout } = npmStart();
      let below: number[] = [];
      try {
        await waitFor(child, output, /^db: .*$/m, START_TIMEOUT_MILLIS);
        // npm's own banner ("> canceltrace@… start", the command) comes first; then canceltrace speaks
        const ours = stdout()
          .split('\n')
          .filter((line) => line.trim() !== '' && !line.startsWith('>'));
        expect(ours.slice(0, 3).map((line) => line.split(':')[0])).toEqual(['otlp', 'ui', 'db']);
        expect(ours[2]).toBe(`db: ${dbPath}`);
        const ports = [/^otlp: http:\/\/127\.0\.0\.1:(\d+)$/m, /^ui: http:\/\/127\.0\.0\.1:(\d+)$/m].map((re) => Number(re.exec(output())?.[1]));
        below = descendants(child.pid as number);
        expect(below.length).toBeGreaterThan(0);
        const closed = closeOf(child, output);
        signal(child);
        await closed.catch(() => undefined);
        expect(below.filter(alive)).toEqual([]);
        for (const port of ports) expect(await portFree(port)).toBe(true);
        // stopped cleanly (in-flight requests answered, the store closed), not killed by a second signal
        expect(output()).toMatch(/canceltrace: SIG(TERM|INT), stopping\ncanceltrace: stopped\n/);
      } finally {
        for (const pid of [child.pid as number, ...below]) if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
    },
    START_TIMEOUT_MILLIS + 2 * STOP_TIMEOUT_MILLIS,
  );
});
