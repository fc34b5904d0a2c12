// The dashboard part of loading a config (and of `rackboot config check`):
// the session TTL, and the viewer token beside the API token.
import { resolveUi, type UiConfig } from './config.js';

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
