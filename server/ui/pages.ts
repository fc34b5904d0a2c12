// The two HTML documents the server writes itself: the sign-in form (works
// without JavaScript) and the shell every dashboard page loads its client
// into. A strict Content-Security-Policy: scripts only from this server, the
// inline import map by its hash.
import { createHash } from 'node:crypto';
import { ASSET_PREFIX, VENDOR } from './assets.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const IMPORT_MAP = JSON.stringify({ imports: Object.fromEntries(Object.entries(VENDOR).map(([spec, file]) => [spec, `${ASSET_PREFIX}vendor/${file}`])) });
const IMPORT_MAP_HASH = createHash('sha256').update(IMPORT_MAP).digest('base64');

export const CSP = [
  "default-src 'self'",
  `script-src 'self' 'sha256-${IMPORT_MAP_HASH}'`,
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const head = (title: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<link rel="icon" href="${ASSET_PREFIX}static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${ASSET_PREFIX}static/style.css">`;

export function signInPage(o: { cluster: string; next: string; error?: string; viewer: boolean }): string {
  return `${head(`Sign in · rackboot · ${o.cluster}`)}
</head>
<body class="signin">
<main>
<h1>rackboot <span class="cluster">${esc(o.cluster)}</span></h1>
<form method="post" action="/signin">
<p><label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus></p>
<input type="hidden" name="next" value="${esc(o.next)}">
${o.error ? `<p class="error" role="alert">${esc(o.error)}</p>` : ''}
<p><button type="submit">Sign in</button></p>
<p class="hint">The API token is <code>api.token</code> in the config, or the file the server log names (<code>&lt;dataDir&gt;/api-token</code>).${o.viewer ? ' The viewer token (<code>api.viewerToken</code>) signs in read-only.' : ''}</p>
</form>
</main>
</body>
</html>
`;
}

export function shellPage(o: { cluster: string; csrf: string; role: string; services: readonly string[]; modules: readonly string[] }): string {
  return `${head(`rackboot · ${o.cluster}`)}
<meta name="rackboot-csrf" content="${esc(o.csrf)}">
<meta name="rackboot-role" content="${esc(o.role)}">
<meta name="rackboot-services" content="${esc(o.services.join(' '))}">
<meta name="rackboot-cluster" content="${esc(o.cluster)}">
<script type="importmap">${IMPORT_MAP}</script>
${o.modules.map((m) => `<link rel="modulepreload" href="${ASSET_PREFIX}${m}">`).join('\n')}
<link rel="preload" href="/api/v1/rack" as="fetch" crossorigin="anonymous">
<script type="module" src="${ASSET_PREFIX}app/main.js"></script>
</head>
<body>
<div id="app"><p class="loading">Loading the rack…</p></div>
<noscript><p>The dashboard needs JavaScript. The API and its documentation are at <a href="/api/v1/docs">/api/v1/docs</a>.</p></noscript>
</body>
</html>
`;
}

/** A `next` that stays on this server (a path, not //host or a scheme). */
export function safeNext(v: unknown): string {
  return typeof v === 'string' && /^\/(?![/\\])[^\s]*$/.test(v) && !v.startsWith('/signin') ? v : '/';
}
