// The dashboard's config section (the viewer token is api.viewerToken: it
// is an API credential, usable as a bearer too); checks in config-check.ts.
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
