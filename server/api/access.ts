/**
 * Who may talk to canceltrace: the Host check (against DNS rebinding) and the token (against
 * anyone else who can reach the port). Express middleware for the dashboard + API app and the
 * OTLP/HTTP app; the token itself is compared by the shared {@link bearerTokenMatches}.
 *
 * - Host: a request whose `Host` is not the bound address, a loopback name, or a name given with
 *   `--allowed-host` is refused with 421 before anything else runs. A web page the user visits can
 *   point its own DNS name at 127.0.0.1, but its requests still carry that name in `Host`.
 * - Token (`--token` / `CANCELTRACE_TOKEN`): the API and /metrics need `Authorization: Bearer <token>`
 *   or the dashboard's cookie; otherwise 401. The dashboard asks for the token once, on a small
 *   server-rendered page at {@link LOGIN_PATH}, and keeps a value derived from it in an HttpOnly,
 *   SameSite=Strict cookie, so page scripts never hold it and other sites never send it.
 */
import { createHmac } from 'node:crypto';
import { networkInterfaces, hostname as osHostname } from 'node:os';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { bearerTokenMatches, tokenMatches } from '../../collector/receiver/bearerToken.js';

/** The page where the dashboard asks for the token. */
export const LOGIN_PATH = '/login';
/** The cookie that carries the dashboard's proof of the token. */
export const TOKEN_COOKIE = 'canceltrace_token';
/** How long the dashboard's cookie lasts, in seconds (30 days). */
export const TOKEN_COOKIE_MAX_AGE_SECONDS = 30 * 24 * 3600;
/** Longest token accepted from the login form, in characters (the form body is bounded too). */
const MAX_LOGIN_TOKEN_CHARS = 4096;

/** Options of the access middleware. */
export interface AccessOptions {
  /** the address the server listens on (`--host`) */
  boundHost: string;
  /** other names a request's Host may carry (`--allowed-host`) */
  allowedHosts?: readonly string[];
  /** when set, requests must prove it (Bearer header or the dashboard cookie) */
  token?: string;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];
const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** True for an address only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

/** The host names a request may carry in Host, lower-case and without brackets or port. */
export function allowedHostNames(options: Pick<AccessOptions, 'boundHost' | 'allowedHosts'>): Set<string> {
  const names = new Set<string>(LOOPBACK_NAMES);
  const bound = options.boundHost.toLowerCase().replace(/^\[|\]$/g, '');
  if (WILDCARDS.has(bound)) {
    // Bound to every interface: any of this machine's own addresses, and its name.
    names.add(osHostname().toLowerCase());
    for (const list of Object.values(networkInterfaces())) for (const info of list ?? []) names.add(info.address.toLowerCase());
  } else {
    names.add(bound);
  }
  for (const name of options.allowedHosts ?? []) names.add(name.toLowerCase().replace(/^\[|\]$/g, ''));
  return names;
}

/** The host part of a Host header (no port, no IPv6 brackets), lower-case. */
export function hostOf(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') === -1 ? undefined : h.indexOf(']'));
  const colon = h.lastIndexOf(':');
  return colon === -1 || h.indexOf(':') !== colon ? h : h.slice(0, colon);
}

/**
 * Refuses (421) a request whose Host is not allowed. A request without Host (HTTP/1.0 tools) is let
 * through: browsers always send one, and DNS rebinding is a browser attack.
 */
export function hostCheck(options: Pick<AccessOptions, 'boundHost' | 'allowedHosts'>): RequestHandler {
  const allowed = allowedHostNames(options);
  return (req, res, next) => {
    const header = req.headers.host;
    if (header === undefined || allowed.has(hostOf(header))) {
      next();
      return;
    }
    res
      .status(421)
      .type('application/json')
      .set('Connection', 'close')
      .send(
        JSON.stringify({ error: `Host ${JSON.stringify(header)} is not served here; start canceltrace with --allowed-host ${hostOf(header)} to allow it` }),
      );
  };
}

/** The cookie value that proves the token: an HMAC of it, so the cookie never holds the token itself. */
export function cookieProof(token: string): string {
  return createHmac('sha256', token).update('canceltrace dashboard').digest('base64url');
}

function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** True when the request carries the token (Bearer) or the dashboard's cookie. */
export function hasToken(req: Request, token: string): boolean {
  return bearerTokenMatches(req.get('authorization'), token) || tokenMatches(cookieOf(req, TOKEN_COOKIE), cookieProof(token));
}

/**
 * The login page and the token check for the dashboard + API app. Without a token it does nothing.
 * API and /metrics requests without the token get 401 JSON; a page request is sent to the login page.
 */
export function tokenGate(token: string | undefined): Router {
  const router = express.Router();
  if (!token) return router;
  router.get(LOGIN_PATH, (_req, res) => {
    sendLogin(res, 200, '');
  });
  router.post(LOGIN_PATH, express.urlencoded({ extended: false, limit: '8kb' }), (req, res) => {
    const given = typeof req.body?.token === 'string' ? req.body.token.slice(0, MAX_LOGIN_TOKEN_CHARS) : '';
    if (!tokenMatches(given, token)) {
      sendLogin(res, 401, 'That is not the token this canceltrace was started with.');
      return;
    }
    res.cookie(TOKEN_COOKIE, cookieProof(token), {
      httpOnly: true,
      sameSite: 'strict',
      path: '/',
      maxAge: TOKEN_COOKIE_MAX_AGE_SECONDS * 1000,
      secure: req.secure,
    });
    res.redirect(303, '/');
  });
  router.use((req: Request, res: Response, next: NextFunction) => {
    if (hasToken(req, token)) {
      next();
      return;
    }
    if (req.path.startsWith('/api/') || req.path === '/api' || req.path === '/metrics' || req.method !== 'GET') {
      res.set('WWW-Authenticate', 'Bearer').status(401).type('application/json');
      res.send(JSON.stringify({ error: 'this canceltrace needs its token: send Authorization: Bearer <token>, or sign in at /login' }));
      return;
    }
    res.redirect(303, LOGIN_PATH);
  });
  return router;
}

function sendLogin(res: Response, status: number, problem: string): void {
  // Server-rendered, no script: the token goes from the form to an HttpOnly cookie and nowhere else.
  res
    .status(status)
    .type('text/html')
    .set('Cache-Control', 'no-store')
    .send(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>canceltrace: sign in</title><meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<main>
<h1>canceltrace</h1>
<p>This canceltrace was started with a token (<code>--token</code> or <code>CANCELTRACE_TOKEN</code>). Enter it once; this browser keeps it in a cookie.</p>
${problem ? `<p role="alert"><strong>${problem}</strong></p>` : ''}
<form method="post" action="${LOGIN_PATH}">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
`);
}
