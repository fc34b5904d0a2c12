// Cross-section config checks owned by subsystems. Each returns the problems it
// finds, naming key paths; all run after the schema and network checks pass.
import type { ConfigIssue } from './errors.js';
import type { LoadedConfig } from './load.js';
import { nfsConfigIssues } from '../nfs/config-check.js';
import { directorConfigIssues } from '../director/checks.js';
import { dhcpConfigIssues } from '../dhcp/config.js';
import { imagesConfigIssues } from '../images/config.js';

export type ConfigCheck = (c: LoadedConfig) => ConfigIssue[];

export const CONFIG_CHECKS: ConfigCheck[] = [nfsConfigIssues, directorConfigIssues, dhcpConfigIssues, imagesConfigIssues];
