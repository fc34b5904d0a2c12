// The dashboard's config section and its checks (the viewer token is
// api.viewerToken: it is an API credential, usable as a bearer too).
import { Type, type Static } from '@sinclair/typebox';
import { Duration, parseDuration, Section, StringEnum } from '../config/types.js';

export const UiConfigSchema = Section({
  /** Serve the dashboard at / (sign-in, rack, nodes, director, images, content, networks). */
  enabled: Type.Boolean(),
  /** How long a sign-in lasts. */
  sessionTtl: Duration,
  /** The session cookie's Secure flag: auto = when the request came over TLS; always behind a TLS proxy. */
  secureCookie: StringEnum(['auto', 'always', 'never']),
});
export type UiConfig = Static<typeof UiConfigSchema>;

/** The ui section with its durations in ms. */
export interface ResolvedUi extends UiConfig {
  sessionTtlMs: number;
}

export function resolveUi(u: UiConfig): ResolvedUi {
  return { ...u, sessionTtlMs: parseDuration(u.sessionTtl) };
}

declare module '../config/loaded.js' {
  interface Config {
    ui: UiConfig;
  }
  interface ResolvedSections {
    ui: ResolvedUi;
  }
}
export const UI_DEFAULTS: UiConfig = { enabled: true, sessionTtl: '12h', secureCookie: 'auto' };

const MIN_TTL_MS = 60_000;
const MAX_TTL_MS = 30 * 86_400_000;

export function uiConfigIssues(c: { config: { ui: UiConfig; api: { token: string; viewerToken: string } } }): Array<{ path: string; message: string }> {
  const issues: Array<{ path: string; message: string }> = [];
  const ttl = resolveUi(c.config.ui).sessionTtlMs;
  if (ttl < MIN_TTL_MS || ttl > MAX_TTL_MS) issues.push({ path: 'ui.sessionTtl', message: `${c.config.ui.sessionTtl} is outside 1m..30d` });
  const { token, viewerToken } = c.config.api;
  if (viewerToken && viewerToken === token) issues.push({ path: 'api.viewerToken', message: 'is the same as api.token: a viewer would have every right (choose another token)' });
  if (viewerToken && viewerToken.length < 16) issues.push({ path: 'api.viewerToken', message: `is ${viewerToken.length} characters; use at least 16 (e.g. openssl rand -base64 24)` });
  return issues;
}
