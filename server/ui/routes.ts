// The dashboard's public side: sign-in and sign-out, the page shell for each
// dashboard URL, and its static files. Everything a page shows comes from
// /api/v1 with the session cookie (see service.ts authenticate).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { safeEqual } from '../api/auth.js';
import type { Role } from '../service.js';
import { ASSET_PREFIX, type AssetTable } from './assets.js';
import { CSP, safeNext, shellPage, signInPage } from './pages.js';
import { csrfMatches, sessionCookie, type Sessions } from './sessions.js';

export interface UiRouteDeps {
  sessions: Sessions;
  assets: () => AssetTable;
  apiToken: string;
  viewerToken: string;
  cluster: string;
  ttlMs: number;
  secureCookie: 'auto' | 'always' | 'never';
  /** The services running, so pages of others say so instead of asking the API. */
  services: () => readonly string[];
}

/** The dashboard's pages: each serves the same shell; the client routes. */
export const PAGES = ['/', '/nodes/:name', '/director', '/images', '/content', '/networks'];

function html(reply: FastifyReply, status: number, body: string) {
  return reply
    .status(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .send(body);
}

export function uiPublicRoutes(d: UiRouteDeps): FastifyPluginAsync {
  const secure = (req: FastifyRequest) => d.secureCookie === 'always' || (d.secureCookie === 'auto' && req.protocol === 'https');
  const roleOf = (token: string): Role | undefined =>
    safeEqual(token, d.apiToken) ? 'admin' : d.viewerToken && safeEqual(token, d.viewerToken) ? 'viewer' : undefined;

  return async (app) => {
    // The sign-in and sign-out forms post urlencoded fields (the API itself takes JSON only).
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });

    app.get('/signin', { schema: { hide: true } }, async (req, reply) => {
      const next = safeNext((req.query as { next?: unknown }).next);
      if (d.sessions.of(req)) return reply.redirect(next, 303);
      return html(reply, 200, signInPage({ cluster: d.cluster, next, viewer: !!d.viewerToken }));
    });

    app.post('/signin', { schema: { hide: true } }, async (req, reply) => {
      const body = (req.body ?? {}) as { token?: unknown; next?: unknown };
      const next = safeNext(body.next);
      const token = typeof body.token === 'string' ? body.token.trim() : '';
      const role = token ? roleOf(token) : undefined;
      if (!role) {
        req.log.info({ ip: req.ip }, token ? 'ui: sign-in with a wrong token' : 'ui: sign-in without a token');
        return html(reply, 401, signInPage({ cluster: d.cluster, next, viewer: !!d.viewerToken, error: token ? 'That token is not valid.' : 'Enter the API token.' }));
      }
      const s = d.sessions.create(role);
      req.log.info({ ip: req.ip, role }, 'ui: signed in');
      return reply.header('set-cookie', sessionCookie(s.id, { maxAgeS: Math.floor(d.ttlMs / 1000), secure: secure(req) })).redirect(next, 303);
    });

    app.post('/signout', { schema: { hide: true } }, async (req, reply) => {
      const s = d.sessions.of(req);
      const given = (req.body as { csrf?: unknown } | undefined)?.csrf ?? req.headers['x-csrf-token'];
      // Without the CSRF token another site could sign an operator out: refused, the session stays.
      if (s && !csrfMatches(s, given)) return reply.status(403).send({ error: 'forbidden', message: 'sign-out needs the session CSRF token' });
      if (s) d.sessions.delete(s.id);
      return reply.header('set-cookie', sessionCookie('', { maxAgeS: 0, secure: secure(req) })).redirect('/signin', 303);
    });

    for (const page of PAGES) {
      app.get(page, { schema: { hide: true } }, async (req, reply) => {
        const s = d.sessions.of(req);
        if (!s) return reply.redirect(`/signin?next=${encodeURIComponent(req.url)}`, 303);
        const assets = d.assets();
        if (assets.problem) return html(reply, 503, `<!doctype html><title>rackboot</title><p>${assets.problem}</p>`);
        return html(reply, 200, shellPage({ cluster: d.cluster, csrf: s.csrf, role: s.role, services: d.services(), modules: assets.modules }));
      });
    }

    // Files are public: they hold no data (the pages' data needs a session).
    app.get(`${ASSET_PREFIX}*`, { schema: { hide: true } }, async (req, reply) => {
      const path = (req.params as { '*': string })['*'];
      const a = d.assets().get(path);
      if (!a) return reply.status(404).send({ error: 'not_found', message: `no dashboard file ${path}` });
      reply.header('etag', a.etag).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff');
      if (req.headers['if-none-match'] === a.etag) return reply.status(304).send();
      return reply.type(a.type).send(a.body);
    });
  };
}
