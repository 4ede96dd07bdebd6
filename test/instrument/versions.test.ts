import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../e2e/serve.js';

const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const npmVersion = (path: string): string => (JSON.parse(read(path)) as { version: string }).version;

describe('package versions', () => {
  it('when the packages are released, then canceltrace, @canceltrace/node and the Python distribution carry one version', () => {
    const service = npmVersion('package.json');
    const pyproject = /^version = "([^"]+)"$/m.exec(read('instrument/python/pyproject.toml'))?.[1];
    const pythonModule = /^__version__ = "([^"]+)"$/m.exec(read('instrument/python/canceltrace/__init__.py'))?.[1];
    expect({ node: npmVersion('instrument/node/package.json'), pyproject, pythonModule }).toEqual({
      node: service,
      pyproject: service,
      pythonModule: service,
    });
  });

  it('when @canceltrace/node is installed, then its dependencies are OpenTelemetry packages only', () => {
    const pkg = JSON.parse(read('instrument/node/package.json')) as { dependencies?: object; peerDependencies?: object };
    const names = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})];
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => !name.startsWith('@opentelemetry/'))).toEqual([]);
  });
});
