import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './serve.js';

/** The Python interpreter the recorder supports (3.11+). */
export const PYTHON = 'python3';
/**
 * The interpreter of the virtual environment that holds the real libraries (aiohttp, anyio 4, httpx,
 * starlette, uvicorn); .ci/run creates it.
 */
export const VENV_PYTHON = join(ROOT, '.venv-py', 'bin', 'python');
/** The libraries the real-library programs import. */
export const REAL_LIBRARIES = ['aiohttp', 'anyio', 'httpx', 'starlette', 'uvicorn'] as const;
/** Where the canceltrace package lives (it is put on PYTHONPATH, as a user would). */
export const PYTHON_PACKAGE_DIR = join(ROOT, 'instrument', 'python');
/** The Python example programs, one per P and H row of the scenario table. */
export const PYTHON_EXAMPLES_DIR = join(ROOT, 'examples', 'python');
/** How long an example may run before the test gives up on it, in milliseconds. */
export const RUN_TIMEOUT_MILLIS = 20_000;
/** How long a SIGTERM-driven example may take to print `ready`, in milliseconds. */
export const READY_TIMEOUT_MILLIS = 10_000;

/** How one example run ended and what it printed. */
export interface PythonRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  millis: number;
}

/** How to run an example. */
export interface PythonRunOptions {
  /** run under `python -m canceltrace --endpoint <endpoint> --service <service>`; plain `python3` when absent */
  endpoint?: string;
  service?: string;
  /** send SIGTERM once the program prints `ready` */
  sigterm?: boolean;
  /** then SIGKILL this many milliseconds after the SIGTERM */
  killAfterMillis?: number;
  /** the interpreter (default {@link PYTHON}) */
  python?: string;
  /** the program's own arguments */
  args?: string[];
  /** also write the spans as OTLP JSON lines to this file (`--output`) */
  output?: string;
  /** how long the run may take before it is killed (default {@link RUN_TIMEOUT_MILLIS}) */
  runTimeoutMillis?: number;
}

/**
 * Runs one Python example program unchanged to its end (or its kill) and collects what it printed.
 * The test's own OTEL_* and CANCELTRACE_* variables are removed so that only the CLI flags configure the recorder.
 */
export function runPythonExample(file: string, opts: PythonRunOptions = {}): Promise<PythonRun> {
  const script = join(PYTHON_EXAMPLES_DIR, file);
  const program = [script, ...(opts.args ?? [])];
  const output = opts.output ? ['--output', opts.output] : [];
  const args = opts.endpoint ? ['-m', 'canceltrace', '--endpoint', opts.endpoint, '--service', opts.service ?? 'py-e2e', ...output, ...program] : program;
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: PYTHON_PACKAGE_DIR, PYTHONUNBUFFERED: '1' };
  for (const key of Object.keys(env)) if (key.startsWith('OTEL_') || key.startsWith('CANCELTRACE_')) delete env[key];
  const started = Date.now();
  const child = spawn(opts.python ?? PYTHON, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let signalled = false;
  const timers: NodeJS.Timeout[] = [];
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (opts.sigterm && !signalled && /^ready$/m.test(stdout)) {
      signalled = true;
      child.kill('SIGTERM');
      if (opts.killAfterMillis !== undefined) timers.push(setTimeout(() => child.kill('SIGKILL'), opts.killAfterMillis));
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  if (opts.sigterm) timers.push(setTimeout(() => !signalled && child.kill('SIGKILL'), READY_TIMEOUT_MILLIS));
  timers.push(setTimeout(() => child.kill('SIGKILL'), opts.runTimeoutMillis ?? RUN_TIMEOUT_MILLIS));
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      for (const t of timers) clearTimeout(t);
      resolve({ code, signal, stdout, stderr, millis: Date.now() - started });
    });
  });
}

/** The 1-based number of the first line of a Python example that `matches` (a substring or a pattern). */
export function pythonExampleLine(file: string, matches: string | RegExp): number {
  const index = readFileSync(join(PYTHON_EXAMPLES_DIR, file), 'utf8')
    .split('\n')
    .findIndex((line) => (typeof matches === 'string' ? line.includes(matches) : matches.test(line)));
  if (index < 0) throw new Error(`${String(matches)} not in ${file}`);
  return index + 1;
}
