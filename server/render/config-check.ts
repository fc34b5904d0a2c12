// The templates part of loading a config (and of `rackboot config check`):
// the user template directory, and iPXE seeds with HTTP boot off.
import { existsSync, statSync } from 'node:fs';
import type { TemplatesConfig } from './config.js';

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
