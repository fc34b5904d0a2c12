import { existsSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { Section } from '../config/types.js';

export const TemplatesConfigSchema = Section({
  /** Render boot configs (PXELINUX, iPXE, GRUB, bpbatch) per node; false turns the renderer off. */
  enabled: Type.Boolean(),
  /** Operator templates; a file here overrides the shipped one of the same name (partials/ too). */
  dir: Type.Union([Type.String(), Type.Null()]),
  /** Serve /boot/* over HTTP (iPXE scripts, kernels, RAM disks, UEFI HTTP boot) without auth. */
  httpBoot: Type.Boolean(),
});
export type TemplatesConfig = Static<typeof TemplatesConfigSchema>;
export const TEMPLATES_DEFAULTS: TemplatesConfig = { enabled: true, dir: null, httpBoot: true };

/**
 * Checked at `config check` (not only when the renderer starts): a missing
 * templates.dir would leave a running server with no boot configs at all; a
 * seeded iPXE node with httpBoot off would be handed URLs that are not served.
 */
export function templatesConfigIssues(c: {
  config: { templates: TemplatesConfig; nodes: ReadonlyArray<{ name: string; loader?: string | undefined }>; groups: ReadonlyArray<{ name: string; loader?: string | undefined }> };
  paths: { userTemplates: string | null };
}): Array<{ path: string; message: string }> {
  const t = c.config.templates;
  if (!t.enabled) return [];
  const issues: Array<{ path: string; message: string }> = [];
  if (t.dir && c.paths.userTemplates && !existsSync(c.paths.userTemplates)) {
    issues.push({ path: 'templates.dir', message: `${t.dir}: no such directory (create it, or remove templates.dir to use only the shipped templates)` });
  }
  if (!t.httpBoot) {
    c.config.groups.forEach((g, i) => {
      if (g.loader === 'ipxe') issues.push({ path: `groups[${i}].loader`, message: `group ${g.name} boots iPXE over HTTP, but templates.httpBoot is false (its script would not be served)` });
    });
    c.config.nodes.forEach((n, i) => {
      if (n.loader === 'ipxe') issues.push({ path: `nodes[${i}].loader`, message: `node ${n.name} boots iPXE over HTTP, but templates.httpBoot is false (its script would not be served)` });
    });
  }
  return issues;
}
