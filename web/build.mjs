// Bundles the dashboard (web/src/main.ts) into web/dist with esbuild. Run by `npm run build`.

import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const entry = join(here, 'src', 'main.ts');
mkdirSync(join(here, 'dist'), { recursive: true });
if (existsSync(entry)) {
  await build({ entryPoints: [entry], bundle: true, minify: true, sourcemap: true, format: 'esm', target: 'es2022', outfile: join(here, 'dist', 'app.js') });
}
for (const file of ['index.html', 'style.css', 'favicon.svg']) {
  const src = join(here, 'src', file);
  if (existsSync(src)) copyFileSync(src, join(here, 'dist', file));
}
