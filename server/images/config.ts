import { Type, type Static } from '@sinclair/typebox';
import { Name, Section, StringEnum } from '../config/types.js';

export const ImagesConfigSchema = Section({
  enabled: Type.Boolean(),
  /** Directories holding recipes (`<name>/recipe.yaml`); searched in order, then the shipped images/. */
  recipeDirs: Type.Array(Type.String()),
  /** Versions kept per image for rollback (the current one is always kept). */
  keep: Type.Integer({ minimum: 1 }),
  /** The image unknown machines boot from boot/_discover/{kernel,initrd}, its overlay carrying the discovery token; null turns discovery boots and POST /api/v1/discover off. */
  discoveryImage: Type.Union([Name, Type.Null()]),
  /** Images built when the server starts if they have no build yet. */
  buildOnStart: Type.Array(Name),
  /** Rebuild an image when its recipe directory changes (inotify). */
  watch: Type.Boolean(),
  /** Who may fetch boot/<node>/initrd (it carries the node's report token): any client, or only the node's own addresses. */
  overlayClients: StringEnum(['any', 'node']),
});
export type ImagesConfig = Static<typeof ImagesConfigSchema>;

declare module '../config/loaded.js' {
  interface Config {
    images: ImagesConfig;
  }
}
export const IMAGES_DEFAULTS: ImagesConfig = { enabled: true, recipeDirs: [], keep: 3, discoveryImage: 'discovery', buildOnStart: [], watch: false, overlayClients: 'node' };

/** Images named in the config must have a recipe (checked when the config loads). */
