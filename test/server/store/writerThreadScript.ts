import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/**
 * The writer thread's script (server/store/sqliteWriterThread.ts) bundled into one ES module, so that a
 * worker can run it from the TypeScript sources under test (a worker cannot load .ts); better-sqlite3
 * stays outside, imported by its absolute path. Returns its URL and how to remove it.
 */
export async function writerThreadScript(): Promise<{ url: URL; dispose: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'canceltrace-writer-'));
  const outfile = join(dir, 'sqliteWriterThread.mjs');
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  await build({
    entryPoints: [fileURLToPath(new URL('../../../server/store/sqliteWriterThread.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile,
    logLevel: 'silent',
    plugins: [
      {
        name: 'better-sqlite3 by path',
        setup(b) {
          b.onResolve({ filter: /^better-sqlite3$/ }, () => ({ path: pathToFileURL(sqlite).href, external: true }));
        },
      },
    ],
  });
  return { url: pathToFileURL(outfile), dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
