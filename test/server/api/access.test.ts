import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { cookieProof, hostOf, isLoopback, LOGIN_PATH, TOKEN_COOKIE } from '../../../server/api/access.js';
import { ShutdownViews } from '../../../server/api/ShutdownViews.js';
import { type AppDeps, createApp } from '../../../server/app.js';
import { judgeTaskAlone } from '../../../server/judge/index.js';
import { SqliteStore } from '../../../server/store/SqliteStore.js';

const TOKEN = 'correct horse battery staple';
let store: SqliteStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

function app(access: AppDeps['access']) {
  const dir = mkdtempSync(join(tmpdir(), 'canceltrace-access-'));
  const webRoot = join(dir, 'web');
  mkdirSync(webRoot);
  writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>canceltrace dashboard</title>');
  store = SqliteStore.open({ path: join(dir, 'db.sqlite'), verdictOf: judgeTaskAlone });
  return createApp({ store, views: new ShutdownViews(store), webRoot, onError: () => {}, access });
}

describe('access', () => {
  describe('hostCheck', () => {
    const served = () => app({ boundHost: '127.0.0.1', allowedHosts: ['traces.internal'] });

    it.each(['127.0.0.1:8318', 'localhost:8318', 'LOCALHOST', '[::1]:8318', 'traces.internal:8318'])(
      'when Host is %s, then the request is served',
      async (host) => {
        const res = await request(served()).get('/api/health').set('Host', host);
        expect(res.status).toBe(200);
      },
    );

    it.each(['evil.example', 'evil.example:8318', '127.0.0.1.evil.example', '10.0.0.7:8318'])(
      'when Host is %s (a rebound DNS name or another address), then 421 naming --allowed-host and nothing is read',
      async (host) => {
        for (const path of ['/api/health', '/api/shutdowns', '/']) {
          const res = await request(served()).get(path).set('Host', host);
          expect(res.status).toBe(421);
          expect(res.body.error).toMatch(/--allowed-host/);
        }
      },
    );
  });

  describe('tokenGate', () => {
    const served = () => app({ boundHost: '127.0.0.1', token: TOKEN });

    it('when an API request has no token or a wrong one, then 401 with WWW-Authenticate: Bearer', async () => {
      const a = served();
      for (const auth of [undefined, 'Bearer nope', `Basic ${TOKEN}`]) {
        let req = request(a).get('/api/shutdowns');
        if (auth) req = req.set('Authorization', auth);
        const res = await req;
        expect(res.status).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer');
        expect(res.body.error).toMatch(/Authorization: Bearer/);
      }
    });

    it('when an API request has the Bearer token, then it is answered', async () => {
      const res = await request(served()).get('/api/shutdowns').set('Authorization', `Bearer ${TOKEN}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual([]);
    });

    it('when the dashboard is opened without the cookie, then it is sent to the sign-in page, a form without scripts', async () => {
      const a = served();
      const res = await request(a).get('/');
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe(LOGIN_PATH);
      const page = await request(a).get(LOGIN_PATH);
      expect(page.status).toBe(200);
      expect(page.text).toContain('<form method="post" action="/login">');
      expect(page.text).not.toContain('<script');
      expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    });

    it('when the right token is posted, then an HttpOnly SameSite=Strict cookie (not the token itself) opens the dashboard and the API', async () => {
      const a = served();
      const res = await request(a).post(LOGIN_PATH).type('form').send({ token: TOKEN });
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe('/');
      const cookie = String(res.headers['set-cookie']);
      expect(cookie).toMatch(new RegExp(`^${TOKEN_COOKIE}=`));
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      expect(cookie).not.toContain(encodeURIComponent(TOKEN));
      const jar = cookie.split(';')[0];
      expect((await request(a).get('/').set('Cookie', jar)).text).toContain('canceltrace dashboard');
      expect((await request(a).get('/api/health').set('Cookie', jar)).status).toBe(200);
    });

    it('when a wrong token is posted, then 401 with the form again and no cookie', async () => {
      const res = await request(served()).post(LOGIN_PATH).type('form').send({ token: 'guess' });
      expect(res.status).toBe(401);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.text).toContain('not the token');
    });

    it('when a cookie was made for another token, then it opens nothing', async () => {
      const res = await request(served())
        .get('/api/health')
        .set('Cookie', `${TOKEN_COOKIE}=${cookieProof('another token')}`);
      expect(res.status).toBe(401);
    });

    it('when no token is configured, then nothing asks for one', async () => {
      const res = await request(app({ boundHost: '127.0.0.1' })).get('/api/health');
      expect(res.status).toBe(200);
    });
  });

  describe('hostOf and isLoopback', () => {
    it.each([
      ['example.com:80', 'example.com'],
      ['[::1]:8318', '::1'],
      ['::1', '::1'],
      ['Example.COM', 'example.com'],
    ])('hostOf(%j) is %j', (header, host) => {
      expect(hostOf(header)).toBe(host);
    });

    it.each([
      ['127.0.0.1', true],
      ['127.1.2.3', true],
      ['::1', true],
      ['localhost', true],
      ['0.0.0.0', false],
      ['10.0.0.7', false],
      ['::', false],
    ])('isLoopback(%j) is %s', (host, loopback) => {
      expect(isLoopback(host)).toBe(loopback);
    });
  });
});
