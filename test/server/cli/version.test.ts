import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { packageVersion } from '../../../server/cli/version.js';
import { CLI, ROOT } from '../../e2e/serve.js';

const run = promisify(execFile);
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('packageVersion', () => {
  it('when read from the source tree, then it is the version in package.json', () => {
    expect(packageVersion()).toBe(VERSION);
  });
});

describe('canceltrace --version', () => {
  it('when the built CLI is asked its version, then it prints the version alone and exits 0', async () => {
    const { stdout } = await run(process.execPath, [CLI, '--version']);
    expect(stdout).toBe(`${VERSION}\n`);
  });
});
