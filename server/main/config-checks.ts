// The semantic config checks and the resolvers, owned by the subsystems
// (each folder's config-check.ts and the resolve…() beside its schema) and
// listed here, where the server is wired. A check returns the problems it
// finds, naming key paths; the checks run after the schema on the parts that
// passed it (see config/parts.ts), so one typo does not hide other problems.
import type { ConfigIssue } from '../config/errors.js';
import type { Config, ParsedConfig, ResolvedSections } from '../config/loaded.js';
import type { NetworkConfig } from '../config/networks.js';
import { nfsConfigIssues } from '../nfs/config-check.js';
import { directorConfigIssues } from '../director/config-check.js';
import { dhcpConfigIssues, dhcpNetworkIssues } from '../dhcp/config-check.js';
import { resolveDhcp } from '../dhcp/config.js';
import { imagesConfigIssues } from '../images/config-check.js';
import { tftpConfigIssues } from '../tftp/config-check.js';
import { resolveTftp } from '../tftp/config.js';
import { storeConfigIssues } from '../store/config-check.js';
import { templatesDirIssues, templatesHttpBootIssues } from '../render/config-check.js';
import { pairConfigIssues } from '../pair/config-check.js';
import { resolvePair } from '../pair/model.js';
import { uiConfigIssues } from '../ui/config-check.js';
import { resolveUi } from '../ui/config.js';
import { powerSectionIssues, seedGroupBmcIssues, seedNodeBmcIssues } from '../power/config-check.js';
import { resolvePower } from '../power/config.js';
import { resolveDirector } from '../director/model.js';
import { resolveCore } from '../config/sections.js';

export interface ConfigCheck {
  /**
   * The top-level keys the check reads. It runs only when each of them passed
   * the schema, for a list every entry: a check that looks networks up by name
   * would otherwise report references to an entry that has a typo.
   */
  reads: ReadonlyArray<keyof Config>;
  run: (c: ParsedConfig) => ConfigIssue[];
}

export const CONFIG_CHECKS: ConfigCheck[] = [
  { reads: ['store'], run: storeConfigIssues },
  { reads: ['nfs', 'networks'], run: nfsConfigIssues },
  { reads: ['director', 'networks', 'nodes', 'groups', 'cluster'], run: directorConfigIssues },
  { reads: ['dhcp'], run: dhcpConfigIssues },
  { reads: ['tftp'], run: tftpConfigIssues },
  { reads: ['images'], run: imagesConfigIssues },
  { reads: ['templates'], run: templatesDirIssues },
  { reads: ['templates', 'nodes', 'groups'], run: templatesHttpBootIssues },
  { reads: ['pair', 'networks', 'director', 'store', 'api'], run: pairConfigIssues },
  { reads: ['ui', 'api'], run: uiConfigIssues },
  { reads: ['power'], run: powerSectionIssues },
  { reads: ['groups'], run: seedGroupBmcIssues },
  { reads: ['nodes'], run: seedNodeBmcIssues },
];

/** Checks of one network entry, run on every entry that passed the schema; `at` is "networks[i]". */
export const NETWORK_CHECKS: Array<(n: NetworkConfig, at: string) => ConfigIssue[]> = [dhcpNetworkIssues];

/**
 * Every section's resolve…(): typed values (durations in ms, addresses
 * parsed), made once from a config the checks passed; services read these.
 */
export function resolveSections(c: ParsedConfig): ResolvedSections {
  return {
    ...resolveCore(c.config),
    dhcp: resolveDhcp(c.config.dhcp),
    tftp: resolveTftp(c.config.tftp),
    ui: resolveUi(c.config.ui),
    power: resolvePower(c.config.power),
    director: resolveDirector(c.config.director, c.networks).director,
    pair: resolvePair(c).pair,
  };
}
