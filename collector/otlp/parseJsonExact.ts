/**
 * `JSON.parse` that does not lose digits of large integers.
 *
 * OTLP/JSON allows int64 and fixed64 values (timestamps in unix ns, int attributes) as
 * JSON numbers, and the spec's own example writes `1544712660000000000`. A double holds
 * only 53 bits, so `JSON.parse` would turn that into a nearby but different number.
 * Before parsing, every integer literal outside string literals that is not a safe
 * integer is wrapped in quotes, so it arrives as its exact decimal string; the OTLP
 * reader accepts both forms. Numbers with a fraction or exponent are left alone (they
 * are doubles by nature).
 */
export function parseJsonExact(text: string): unknown {
  return JSON.parse(quoteUnsafeIntegers(text));
}

/** Shortest integer literal (sign excluded) that can exceed 2^53 - 1 (9007199254740991). */
const MIN_UNSAFE_DIGITS = 16;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;

function isNumberChar(c: number): boolean {
  // digits, '.', 'e', 'E', '+', '-'
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;
}

/**
 * Returns `text` with unsafe integer literals quoted; the same string when there are none.
 * Invalid JSON is passed through unchanged in spirit: `JSON.parse` reports it afterwards.
 */
export function quoteUnsafeIntegers(text: string): string {
  const n = text.length;
  let parts: string[] | undefined;
  let copiedUpTo = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip the string literal: jump from quote to quote, and a quote counts as the end
      // only when an even number of backslashes precedes it.
      let from = i + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q < 0) {
          i = n;
          break;
        }
        let k = q - 1;
        while (text.charCodeAt(k) === BACKSLASH) k--;
        if ((q - 1 - k) % 2 === 0) {
          i = q + 1;
          break;
        }
        from = q + 1;
      }
    } else if (c === MINUS || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      i++;
      while (i < n && isNumberChar(text.charCodeAt(i))) i++;
      const digits = i - start - (c === MINUS ? 1 : 0);
      if (digits >= MIN_UNSAFE_DIGITS) {
        const token = text.slice(start, i);
        if (/^-?\d+$/.test(token) && !Number.isSafeInteger(Number(token))) {
          parts ??= [];
          parts.push(text.slice(copiedUpTo, start), '"', token, '"');
          copiedUpTo = i;
        }
      }
    } else {
      i++;
    }
  }
  if (parts === undefined) return text;
  parts.push(text.slice(copiedUpTo));
  return parts.join('');
}
