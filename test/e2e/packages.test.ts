/**
 * The three installs a user does, from the packed artifacts, in empty temporary directories, with the
 * npm registry and the Python package index: `@canceltrace/node` from its `npm pack` tarball into an
 * app, `canceltrace` (the service) from its tarball, and the Python recorder from the wheel `pip wheel`
 * builds. Each then runs a program. Slow (the service's install builds better-sqlite3): one file, long
 * timeouts. Needs the build (`npm test` runs it first): the service tarball is packed from it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, ROOT, type Served, startServe, waitFor } from './serve.js';

const run = promisify(execFile);

/** Installing the service compiles better-sqlite3 (about 45 s on a quiet machine, minutes on a busy one). */
const SERVICE_INSTALL_TIMEOUT_MS = 600_000;
/** Packing, installing and running the Node instrumentation or the Python recorder. */
const INSTALL_TIMEOUT_MS = 300_000;
/** How long the installed service may take to print its URLs. */
const SERVE_START_TIMEOUT_MS = 30_000;
/** What a Node service must not get when it installs the instrumentation. */
const SERVER_ONLY_PACKAGES = ['better-sqlite3', 'express', 'pg', 'd3', 'helmet'];
/** The version every package carries (the npm packages and the Python distribution move together). */
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The environment without npm's own `npm_*` variables, so a nested npm reads no config of the outer run. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.toLowerCase().startsWith('npm_')) env[key] = value;
  return { ...env, ...extra };
}

/** Runs a command to its end and returns what it printed; rejects with its output when it fails. */
async function sh(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(file, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** `npm pack` into `dir`; returns the tarball's path and the files it holds. */
async function pack(args: string[], dir: string): Promise<{ tarball: string; files: string[] }> {
  const { stdout } = await sh('npm', ['pack', '--json', '--pack-destination', dir, ...args], ROOT);
  const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  return { tarball: join(dir, info.filename), files: info.files.map((f) => f.path) };
}

/** An empty npm project in a new temporary directory. */
function emptyProject(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `canceltrace-${name}-`));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }));
  return dir;
}

async function npmInstall(dir: string, specs: string[]): Promise<void> {
  await sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...specs], dir);
}

/** Names of every package installed under `dir/node_modules`, nested ones included. */
function installedPackages(dir: string): Set<string> {
  const names = new Set<string>();
  const walk = (modules: string): void => {
    if (!existsSync(modules)) return;
    for (const entry of readdirSync(modules)) {
      if (entry.startsWith('.')) continue;
      const scoped = entry.startsWith('@');
      for (const name of scoped ? readdirSync(join(modules, entry)).map((n) => `${entry}/${n}`) : [entry]) {
        names.add(name);
        walk(join(modules, name, 'node_modules'));
      }
    }
  };
  walk(join(dir, 'node_modules'));
  return names;
}

/** The version of a package as the repository has it installed, so the app gets the same OpenTelemetry. */
function repoVersionOf(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

interface Task {
  name: string;
  verdict: string;
}

/** The tasks the collector judged for `service`, once one named `name` has arrived. */
async function taskOf(served: Served, service: string, name: string): Promise<Task> {
  return waitFor(
    async () => {
      const body = await getJson<{ tasks: Task[] }>(served, `/api/tasks?service=${encodeURIComponent(service)}`);
      return body.tasks.find((t) => t.name === name);
    },
    15_000,
    `task ${name} of ${service}`,
  );
}

const work = mkdtempSync(join(tmpdir(), 'canceltrace-packages-'));
const made: string[] = [work];
let served: Served;

beforeAll(async () => {
  served = await startServe();
});
afterAll(async () => {
  await served?.stop();
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

describe('@canceltrace/node from its npm pack tarball', () => {
  it(
    'when installed into an empty app, then it brings no server package and a program using runTask and beginShutdown reports its swallowed task',
    async () => {
      const { tarball, files } = await pack(['-w', '@canceltrace/node'], work);
      expect(files).toContain('dist/instrument/node/src/index.js');
      expect(files.filter((f) => f.startsWith('dist/contract/')).length).toBeGreaterThan(0);
      const app = emptyProject('node-app');
      made.push(app);
      await npmInstall(app, [
        tarball,
        `@opentelemetry/sdk-trace-node@${repoVersionOf('@opentelemetry/sdk-trace-node')}`,
        `@opentelemetry/api@${repoVersionOf('@opentelemetry/api')}`,
      ]);

      const installed = installedPackages(app);
      expect(installed.has('@canceltrace/node')).toBe(true);
      expect(SERVER_ONLY_PACKAGES.filter((name) => installed.has(name))).toEqual([]);

      writeFileSync(
        join(app, 'app.js'),
        `
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { SnapshotSpanProcessor, beginShutdown, nodeResource, runTask } from '@canceltrace/node';
const provider = new NodeTracerProvider({ resource: nodeResource({ 'service.name': 'packaged-node-app' }), spanProcessors: [new SnapshotSpanProcessor()] });
provider.register();
const stop = new AbortController();
const poller = runTask('packaged-poller', async (signal) => {
  try {
    await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  } catch {
    return 'stopped'; // the abort is swallowed
  }
}, { signal: stop.signal });
const shutdown = beginShutdown('manual');
stop.abort();
console.log('poller: ' + (await poller));
await shutdown.end();
await provider.shutdown();
console.log('app done');
`,
      );
      const { stdout: output } = await sh(process.execPath, ['app.js'], app, cleanEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: served.otlpUrl }));
      expect(output).toContain('poller: stopped');
      expect(output).toContain('app done');
      expect(await taskOf(served, 'packaged-node-app', 'packaged-poller')).toMatchObject({ verdict: 'swallowed' });
    },
    INSTALL_TIMEOUT_MS,
  );
});

describe('canceltrace (the service) from its npm pack tarball', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    // npx runs the CLI in a child of its own: end the whole group this test started.
    if (child?.pid && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
  });

  it(
    'when installed into an empty directory, then npx canceltrace --version prints the version and npx canceltrace serve serves the dashboard',
    async () => {
      // Packed from the build `npm test` made (prepack would rebuild dist under the other running tests).
      const { tarball, files } = await pack(['--ignore-scripts'], work);
      expect(files).toContain('dist/server/cli/main.js');
      expect(files).toContain('web/dist/index.html');
      expect(files.filter((f) => /^(test|bench|examples|dist\/examples|dist\/test|dist\/bench)\//.test(f) || f.endsWith('.map'))).toEqual([]);
      expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
      // The bin is executable in the tarball itself, as a global install links it.
      expect((await sh('tar', ['-tvzf', tarball], work)).stdout).toMatch(/^-rwxr-xr-x .* package\/dist\/server\/cli\/main\.js$/m);
      const dir = emptyProject('service');
      made.push(dir);
      await npmInstall(dir, [tarball]);

      expect((await sh('npx', ['canceltrace', '--version'], dir)).stdout.trim()).toBe(VERSION);

      const db = join(dir, 'canceltrace.db');
      const started = spawn('npx', ['canceltrace', 'serve', '--otlp-port', '0', '--ui-port', '0', '--grpc-port', '0', '--db', db], {
        cwd: dir,
        env: cleanEnv(),
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = started;
      let out = '';
      started.stdout!.on('data', (d) => (out += d));
      started.stderr!.on('data', (d) => (out += d));
      const ui = await waitFor(async () => /^ui: (\S+)$/m.exec(out)?.[1], SERVE_START_TIMEOUT_MS, `serve's URLs; output:\n${out}`);
      const page = await fetch(`${ui}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<script[^>]+app\.js/);
      expect((await fetch(`${ui}/app.js`)).status).toBe(200);
      expect((await fetch(`${ui}/api/health`)).status).toBe(200);

      process.kill(-started.pid!, 'SIGTERM');
      await new Promise((resolve) => (started.exitCode === null ? started.once('exit', resolve) : resolve(undefined)));
    },
    SERVICE_INSTALL_TIMEOUT_MS,
  );
});

describe('the Python recorder from the wheel pip builds', () => {
  it(
    'when installed into a fresh virtual environment, then python -m canceltrace and canceltrace-python run an app with no PYTHONPATH',
    async () => {
      // A copy, so the build's own files (build/, *.egg-info) stay out of the repository.
      const source = join(work, 'python-source');
      cpSync(join(ROOT, 'instrument', 'python'), source, { recursive: true, filter: (path) => !/(__pycache__|\.egg-info|\/build)$/.test(path) });
      const venv = join(work, 'venv');
      await sh('python3', ['-m', 'venv', venv], work);
      const pip = join(venv, 'bin', 'pip');
      const wheels = join(work, 'wheels');
      // The build backend (setuptools) comes from the package index into pip's isolated build environment.
      await sh(pip, ['wheel', '--no-deps', '--wheel-dir', wheels, source], work);
      const wheel = readdirSync(wheels).find((f) => f.endsWith('.whl'));
      expect(wheel).toBe(`canceltrace-${VERSION}-py3-none-any.whl`);
      await sh(pip, ['install', '--no-deps', join(wheels, wheel!)], work);

      const app = mkdtempSync(join(tmpdir(), 'canceltrace-python-app-'));
      made.push(app);
      writeFileSync(
        join(app, 'app.py'),
        `
import asyncio

async def poller():
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        return "stopped"  # the cancel is swallowed

async def main():
    task = asyncio.create_task(poller(), name="packaged-poller")
    await asyncio.sleep(0.05)
    task.cancel()
    print("poller:", await task)

asyncio.run(main())
`,
      );
      const env = cleanEnv();
      delete env.PYTHONPATH;
      const python = join(venv, 'bin', 'python');
      for (const [service, command] of [
        ['packaged-python-m', [python, '-m', 'canceltrace']],
        ['packaged-python-script', [join(venv, 'bin', 'canceltrace-python')]],
      ] as const) {
        const { stdout: output } = await sh(command[0], [...command.slice(1), '--endpoint', served.otlpUrl, '--service', service, 'app.py'], app, env);
        expect(output).toContain('poller: stopped');
        expect(await taskOf(served, service, 'packaged-poller')).toMatchObject({ verdict: 'swallowed' });
      }
    },
    INSTALL_TIMEOUT_MS,
  );
});
