// What a loaded config looks like, in a file that imports no subsystem (only
// the networks' types, from config/networks.ts and net/ipv4.ts, which import
// none either), so any layer can name it without a folder cycle.
// The file's sections are declared by their owners: each subsystem's
// config.ts adds its key to `Config` (`declare module '../config/loaded.js'`),
// config/sections.ts the core ones, main/config-schema.ts log and the seeds;
// main/config-schema.ts assembles the schema from the same parts and fails
// to compile when the two disagree.
import type { Ipv4Range } from '../net/ipv4.js';
import type { NetworkConfig, ResolvedNetwork } from './networks.js';

/**
 * The validated config file, one key per section, every default filled in.
 * Only the networks are declared here; the owners add the rest (see above).
 */
export interface Config {
  networks: NetworkConfig[];
}

/**
 * The sections turned into typed values once (durations in ms, addresses
 * parsed): each subsystem's `resolve…()` adds its key, the wiring runs them
 * when loading and in `rackboot config check`.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging, one section per owner
export interface ResolvedSections {}

export interface ConfigPaths {
  dataDir: string;
  dbFile: string;
  tokenFile: string;
  /** The key that seals BMC passwords (power.keyFile). */
  bmcKeyFile: string;
  tftpRoot: string;
  shippedTemplates: string;
  userTemplates: string | null;
  recipeDirs: string[];
  imageStore: string;
}

export interface LoadedConfig {
  file: string | null;
  config: Config;
  /** Every section's `resolve…()` result. */
  resolved: ResolvedSections;
  /** server.name, or the host name made into a name. */
  serverName: string;
  /** The PostgreSQL URL (store.url, else RACKBOOT_DATABASE_URL); never log it: redactUrl(). */
  databaseUrl: string | undefined;
  networks: ResolvedNetwork[];
  networkByName: ReadonlyMap<string, ResolvedNetwork>;
  /** network name -> static range, for the registry's address allocator. */
  staticPools: ReadonlyMap<string, Ipv4Range>;
  paths: ConfigPaths;
}

/** A config as the checks and the resolvers see it: validated, before the sections are resolved. */
export type ParsedConfig = Omit<LoadedConfig, 'resolved'>;
