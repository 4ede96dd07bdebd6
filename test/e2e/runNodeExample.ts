import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './serve.js';

/** Built Node examples (npm test builds them first, in `pretest`). */
export const NODE_EXAMPLES_DIR = join(ROOT, 'dist', 'examples', 'node');
/** Time the examples run before they send themselves SIGTERM (ms). */
export const NODE_EXAMPLE_RUN_MS = '200';
/** Longest an example may take to exit by itself (ms). */
export const EXIT_TIMEOUT_MS = 15_000;

/** How one example run ended and what it printed (stdout and stderr interleaved). */
export interface NodeRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  ms: number;
}

/**
 * Runs a built Node example unchanged as its own process, exporting to `endpoint`; with `killAfter`,
 * SIGKILLs it that long after `line` is printed. A guard SIGKILLs it after EXIT_TIMEOUT_MS.
 */
export function runNodeExample(name: string, endpoint: string, killAfter?: { line: string; ms: number }): Promise<NodeRun> {
  const started = Date.now();
  const child = spawn(process.execPath, [join(NODE_EXAMPLES_DIR, `${name}.js`)], {
    env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, EXAMPLE_RUN_MS: NODE_EXAMPLE_RUN_MS },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let killTimer: NodeJS.Timeout | undefined;
  const onData = (d: Buffer): void => {
    output += d;
    if (killAfter && !killTimer && output.includes(killAfter.line)) {
      killTimer = setTimeout(() => child.kill('SIGKILL'), killAfter.ms);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const guard = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(guard);
      clearTimeout(killTimer);
      resolve({ code, signal, output, ms: Date.now() - started });
    });
  });
}

/**
 * Runs `source` as an app of its own in a fresh temporary project that depends on canceltrace the
 * way a user's does (`node_modules/canceltrace` links to the repository, so `canceltrace/node`
 * resolves through the package's `exports` to the build). A guard SIGKILLs it after EXIT_TIMEOUT_MS.
 */
export function runConsumerScript(source: string, env: Record<string, string> = {}): Promise<NodeRun> {
  const dir = mkdtempSync(join(tmpdir(), 'canceltrace-consumer-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'canceltrace'), 'dir');
  // The app's own OpenTelemetry packages, deduplicated with canceltrace's as npm would install them.
  symlinkSync(join(ROOT, 'node_modules', '@opentelemetry'), join(dir, 'node_modules', '@opentelemetry'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  const file = join(dir, 'app.mjs');
  writeFileSync(file, source);
  const started = Date.now();
  const child = spawn(process.execPath, [file], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  const guard = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(guard);
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, signal, output, ms: Date.now() - started });
    });
  });
}
