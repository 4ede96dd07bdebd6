// Runs the dashboard render benchmark: bundles webRender.ts with esbuild (Node has no TypeScript
// loader here) and runs it. Usage: npm run build && node bench/web-render/run.mjs [taskCounts...]
// `--screenshots DIR` takes the README's screenshots instead (docs/img).

import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
// two folders below the root, like test/e2e/, so the bundled serve.ts finds the repository root
const outfile = join(here, '..', '..', 'dist', 'web-render-bench', 'webRender.mjs');
await build({
  entryPoints: [join(here, 'webRender.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  outfile,
  logLevel: 'warning',
});
const { main, screenshots } = await import(pathToFileURL(outfile).href);
const shotsAt = process.argv.indexOf('--screenshots');
if (shotsAt >= 0) await screenshots(process.argv[shotsAt + 1] ?? join(here, '..', '..', 'docs', 'img'));
else
  await main(
    process.argv
      .slice(2)
      .map(Number)
      .filter((n) => n > 0),
  );
