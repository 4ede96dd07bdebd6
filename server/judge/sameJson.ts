/**
 * Whether two JSON-like values (strings, numbers, booleans, null, arrays and plain objects of them) would
 * give the same JSON text: what comparing their `JSON.stringify` texts tells, without writing the texts
 * (the judge at ingest compares a task's judgments in every window, several times per stored task).
 * Keys are compared in order, as the texts would be; an undefined property counts as absent.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = definedKeys(a as Record<string, unknown>);
  const kb = definedKeys(b as Record<string, unknown>);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i] || !sameJson((a as Record<string, unknown>)[ka[i]], (b as Record<string, unknown>)[kb[i]])) return false;
  }
  return true;
}

/** The keys JSON.stringify writes, in its order. */
function definedKeys(o: Record<string, unknown>): string[] {
  const keys = Object.keys(o);
  for (const key of keys) if (o[key] === undefined) return keys.filter((k) => o[k] !== undefined);
  return keys;
}
