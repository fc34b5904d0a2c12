import { Type, type Static } from '@sinclair/typebox';
import { Section } from '../config/types.js';

export const TemplatesConfigSchema = Section({
  /** Operator templates; a file here overrides the shipped one of the same name. */
  dir: Type.Union([Type.String(), Type.Null()]),
});
export type TemplatesConfig = Static<typeof TemplatesConfigSchema>;
export const TEMPLATES_DEFAULTS: TemplatesConfig = { dir: null };
