import { Type, type Static } from '@sinclair/typebox';
import { Name, Section, StringEnum } from '../config/types.js';

export const NfsExportSchema = Section({
  name: Name,
  path: Type.String({ minLength: 1 }),
  /** Cluster network names allowed to mount. */
  networks: Type.Array(Name, { minItems: 1 }),
  access: Type.Optional(StringEnum(['ro', 'rw'])),
  squash: Type.Optional(StringEnum(['root_squash', 'all_squash', 'no_root_squash'])),
  sync: Type.Optional(Type.Boolean()),
  /** rw to a whole network must be asked for explicitly. */
  allowRwNetwork: Type.Optional(Type.Boolean()),
});

export const NfsConfigSchema = Section({
  backend: StringEnum(['auto', 'kernel', 'ganesha', 'none']),
  /** Export paths must lie under one of these. */
  contentRoots: Type.Array(Type.String()),
  exports: Type.Array(NfsExportSchema),
});
export type NfsConfig = Static<typeof NfsConfigSchema>;
export type NfsExportConfig = Static<typeof NfsExportSchema>;
export const NFS_DEFAULTS: NfsConfig = { backend: 'auto', contentRoots: ['./var/content'], exports: [] };
