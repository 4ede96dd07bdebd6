/**
 * A canonical string for a JSON-like value: object keys sorted, bigints kept exact (`12n`), so two
 * equal values always give the same key whatever order their keys were built in. Used only to break
 * ties deterministically, never to serialise for the API.
 */
export function stableKey(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'bigint':
      return `${value}n`;
    case 'string':
      return JSON.stringify(value);
    case 'number':
    case 'boolean':
      return String(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(stableKey).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${stableKey(obj[k])}`).join(',')}}`;
    }
    default:
      return 'null';
  }
}
