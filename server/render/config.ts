import { existsSync, statSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { Section } from '../config/types.js';

export const TemplatesConfigSchema = Section({
  /** Render boot configs (PXELINUX, iPXE, GRUB, bpbatch) per node; false turns the renderer off. */
  enabled: Type.Boolean(),
  /** Operator templates; a file here overrides the shipped one of the same name (partials/ too). */
  dir: Type.Union([Type.String(), Type.Null()]),
  /** Serve /boot/* over HTTP (iPXE scripts, kernels, RAM disks, UEFI HTTP boot) without auth. */
  httpBoot: Type.Boolean(),
  /** Send kernels and RAM disks over HTTP with sendfile(2) from native threads when the addon is built; false: Node reads and writes them. */
  httpSendfile: Type.Boolean(),
});
export type TemplatesConfig = Static<typeof TemplatesConfigSchema>;

declare module '../config/loaded.js' {
  interface Config {
    templates: TemplatesConfig;
  }
}
export const TEMPLATES_DEFAULTS: TemplatesConfig = { enabled: true, dir: null, httpBoot: true, httpSendfile: true };

/**
 * Checked at `config check`, not only when the renderer starts: a missing
 * templates.dir would leave a running server with no boot configs at all.
 */
export function templatesDirIssues(c: { config: { templates: TemplatesConfig }; paths: { userTemplates: string | null } }): Array<{ path: string; message: string }> {
  const t = c.config.templates;
  if (!t.enabled || !t.dir || !c.paths.userTemplates) return [];
  const isDir = existsSync(c.paths.userTemplates) && statSync(c.paths.userTemplates).isDirectory();
  return isDir ? [] : [{ path: 'templates.dir', message: `${t.dir}: no such directory (create it, or remove templates.dir to use only the shipped templates)` }];
}

/** A seeded group or node that boots iPXE would be handed script URLs that httpBoot false does not serve. */
export function templatesHttpBootIssues(c: {
  config: { templates: TemplatesConfig; nodes: ReadonlyArray<{ name: string; loader?: string | undefined }>; groups: ReadonlyArray<{ name: string; loader?: string | undefined }> };
}): Array<{ path: string; message: string }> {
  const t = c.config.templates;
  if (!t.enabled || t.httpBoot) return [];
  const issues: Array<{ path: string; message: string }> = [];
  const why = 'boots iPXE over HTTP, but templates.httpBoot is false (its script would not be served)';
  c.config.groups.forEach((g, i) => {
    if (g.loader === 'ipxe') issues.push({ path: `groups[${i}].loader`, message: `group ${g.name} ${why}` });
  });
  c.config.nodes.forEach((n, i) => {
    if (n.loader === 'ipxe') issues.push({ path: `nodes[${i}].loader`, message: `node ${n.name} ${why}` });
  });
  return issues;
}
