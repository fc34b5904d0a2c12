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
