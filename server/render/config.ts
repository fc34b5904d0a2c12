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
