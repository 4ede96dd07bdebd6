import { readFileSync } from 'node:fs';

/** Where package.json is from this file: server/cli/ when run from source, dist/server/cli/ when built. */
const PACKAGE_JSON_CANDIDATES = ['../../package.json', '../../../package.json'];

/** The version of the canceltrace package this CLI belongs to, read from its package.json. */
export function packageVersion(): string {
  for (const candidate of PACKAGE_JSON_CANDIDATES) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'canceltrace' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not at this candidate: try the next
    }
  }
  return 'unknown';
}
