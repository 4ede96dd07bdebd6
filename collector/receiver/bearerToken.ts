/**
 * The one token check of canceltrace (OTLP/HTTP, OTLP/gRPC, the API and the dashboard's cookie).
 * Both sides are hashed first, so the comparison takes the same time whatever the lengths and
 * however many leading characters match.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const BEARER = /^Bearer[ \t]+(.*?)[ \t]*$/i;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** True when `candidate` equals `token`, compared in constant time. */
export function tokenMatches(candidate: string | undefined, token: string): boolean {
  if (candidate === undefined) return false;
  return timingSafeEqual(digest(candidate), digest(token));
}

/** True when an `Authorization` header value is `Bearer <token>` with the right token. */
export function bearerTokenMatches(authorization: string | undefined, token: string): boolean {
  const match = BEARER.exec(authorization ?? '');
  return tokenMatches(match?.[1], token);
}
