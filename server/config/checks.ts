// Cross-section config checks owned by subsystems. Each returns the problems it
// finds, naming key paths; all run after the schema and network checks pass.
import type { ConfigIssue } from './errors.js';
import type { LoadedConfig } from './load.js';
import { nfsConfigIssues } from '../nfs/config-check.js';

export type ConfigCheck = (c: LoadedConfig) => ConfigIssue[];


function directorReferences(c: LoadedConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  c.config.director.services.forEach((s, i) => {
    const net = s.realServers.network;
    if (net && !c.networkByName.has(net)) issues.push({ path: `director.services[${i}].realServers.network`, message: `no network '${net}'` });
  });
  return issues;
}

export const CONFIG_CHECKS: ConfigCheck[] = [nfsConfigIssues, directorReferences];
