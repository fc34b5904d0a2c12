// The `nfs` config section: which NFS server rackboot drives, where content
// may live, and the exports defined in the file (the API adds more).
import { Type, type Static } from '@sinclair/typebox';
import { Name, Port, Section, StringEnum } from '../config/types.js';

export const ACCESS = ['ro', 'rw'] as const;
export const SQUASH = ['root_squash', 'all_squash', 'no_root_squash'] as const;
export const LAYOUTS = ['releases', 'plain'] as const;

/** One export, as the config file and the API take it. */
export const NfsExportSchema = Section({
  name: Name,
  /** Directory to export; must lie under one of nfs.contentRoots (after symlinks are resolved). */
  path: Type.String({ minLength: 1 }),
  /** Cluster network names allowed to mount (each becomes that network's CIDR; never '*'). */
  networks: Type.Array(Name, { minItems: 1 }),
  access: Type.Optional(StringEnum(ACCESS)),
  squash: Type.Optional(StringEnum(SQUASH)),
  /** Server writes synchronously (NFS 'sync'); default true. */
  sync: Type.Optional(Type.Boolean()),
  /** rw to a whole network must be asked for explicitly. */
  allowRwNetwork: Type.Optional(Type.Boolean()),
  /** NFSv4 pseudo path (ganesha); default "/<name>". */
  pseudo: Type.Optional(Type.String({ pattern: '^(/[A-Za-z0-9][A-Za-z0-9_.-]*)+$', description: 'an absolute path like /www' })),
  /**
   * releases: the live tree is <path>/current -> releases/<id>, switched
   * atomically by `rackboot content sync`; plain: the directory as it is.
   */
  layout: Type.Optional(StringEnum(LAYOUTS)),
});

export const NfsConfigSchema = Section({
  /** false: no NFS service at all. */
  enabled: Type.Boolean(),
  backend: StringEnum(['auto', 'kernel', 'ganesha', 'none']),
  /** Export paths must lie under one of these (created when missing). */
  contentRoots: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  /** Old releases kept per export besides the current one. */
  keepReleases: Type.Integer({ minimum: 0, maximum: 100 }),
  /** A release is not deleted until this long after it stopped being live (blades may still read it). */
  releaseGraceSeconds: Type.Integer({ minimum: 0 }),
  /** Largest content upload (tar) the API takes, in bytes. */
  maxUploadBytes: Type.Integer({ minimum: 1 }),
  /**
   * Directories the server may copy content from for a server-local sync
   * (`rackboot content sync --local`): the server reads them with its own
   * rights, so only what is listed here. Empty: local syncs are refused.
   */
  localSyncRoots: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  /** Omitted: one export `www` = <contentRoots[0]>/www, read-only to the first network. [] = none. */
  exports: Type.Optional(Type.Array(NfsExportSchema)),
  /** Nested keys may be given one by one: the rest keep their defaults. */
  kernel: Type.Optional(Section({
    /** The exports file rackboot owns (written atomically). */
    exportsFile: Type.Optional(Type.String({ minLength: 1 })),
    /** The exportfs command. */
    exportfs: Type.Optional(Type.String({ minLength: 1 })),
  })),
  ganesha: Type.Optional(Section({
    /** The ganesha.nfsd binary. */
    binary: Type.Optional(Type.String({ minLength: 1 })),
    /** Address ganesha binds; 'auto': the exports' one serverAddress, else 0.0.0.0. */
    bind: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Port),
    /** NFSv3 too: 'auto' when rpcbind answers on this host. */
    nfsv3: Type.Optional(StringEnum(['auto', 'on', 'off'])),
    /** Seconds ganesha trusts cached attributes; 0 makes content switches visible at once. */
    attrCacheSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
    /** Run ganesha inside this network namespace (`ip netns exec NAME ...`). */
    netns: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })),
    /** Ganesha log level (-N). */
    logLevel: Type.Optional(StringEnum(['NIV_NULL', 'NIV_FATAL', 'NIV_MAJ', 'NIV_CRIT', 'NIV_WARN', 'NIV_EVENT', 'NIV_INFO', 'NIV_DEBUG', 'NIV_FULL_DEBUG'])),
  })),
  none: Type.Optional(Section({
    /** Where backend 'none' writes the rendered exports file; default <dataDir>/nfs/exports. */
    file: Type.Optional(Type.String({ minLength: 1 })),
  })),
});
export type NfsConfig = Static<typeof NfsConfigSchema>;

declare module '../config/loaded.js' {
  interface Config {
    nfs: NfsConfig;
  }
}
export type NfsExportConfig = Static<typeof NfsExportSchema>;

export const NFS_DEFAULTS: NfsConfig = {
  enabled: true,
  backend: 'auto',
  contentRoots: ['./var/content'],
  keepReleases: 3,
  releaseGraceSeconds: 300,
  maxUploadBytes: 4 * 1024 * 1024 * 1024,
};

export const KERNEL_DEFAULTS = { exportsFile: '/etc/exports.d/rackboot.exports', exportfs: 'exportfs' };
export const GANESHA_DEFAULTS = { binary: 'ganesha.nfsd', bind: 'auto', port: 2049, nfsv3: 'auto' as 'auto' | 'on' | 'off', attrCacheSeconds: 0, logLevel: 'NIV_EVENT', netns: undefined as string | undefined };
export type GaneshaSettings = typeof GANESHA_DEFAULTS;
export type KernelSettings = typeof KERNEL_DEFAULTS;
