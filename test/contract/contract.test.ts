import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ATTR, EVENT } from '../../contract/contract.js';

const CONVENTIONS = readFileSync(fileURLToPath(new URL('../../docs/conventions.md', import.meta.url)), 'utf8');

describe('contract names', () => {
  it.each([
    ['ATTR', ATTR],
    ['EVENT', EVENT],
  ] as const)('when %s is listed, then every name in it is documented in docs/conventions.md', (_which, names) => {
    const undocumented = Object.values(names).filter((name) => !CONVENTIONS.includes(`\`${name}\``));
    expect(undocumented).toEqual([]);
  });

  it('when ATTR and EVENT are listed, then no name is spelled twice under two keys', () => {
    for (const names of [ATTR, EVENT]) {
      const values = Object.values(names);
      expect(new Set(values).size).toBe(values.length);
    }
  });
});
