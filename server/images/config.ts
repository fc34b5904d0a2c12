import { Type, type Static } from '@sinclair/typebox';
import { Section } from '../config/types.js';

export const ImagesConfigSchema = Section({
  /** Directories holding recipes (`<name>/recipe.yaml`); searched in order, then the shipped images/. */
  recipeDirs: Type.Array(Type.String()),
  /** Old versions kept per image for rollback. */
  keep: Type.Integer({ minimum: 1 }),
});
export type ImagesConfig = Static<typeof ImagesConfigSchema>;
export const IMAGES_DEFAULTS: ImagesConfig = { recipeDirs: [], keep: 3 };
