// Cross-section config checks owned by subsystems. Each returns the problems it
// finds, naming key paths; all run after the schema and network checks pass.
import type { ConfigIssue } from './errors.js';
import type { LoadedConfig } from './load.js';

export type ConfigCheck = (c: LoadedConfig) => ConfigIssue[];

function exportNetworks(c: LoadedConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  c.config.nfs.exports.forEach((e, i) =>
    e.networks.forEach((n, j) => {
      if (!c.networkByName.has(n)) issues.push({ path: `nfs.exports[${i}].networks[${j}]`, message: `no network '${n}'` });
    }),
  );
  return issues;
}

function directorReferences(c: LoadedConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  c.config.director.services.forEach((s, i) => {
    const net = s.realServers.network;
    if (net && !c.networkByName.has(net)) issues.push({ path: `director.services[${i}].realServers.network`, message: `no network '${net}'` });
  });
  return issues;
}

export const CONFIG_CHECKS: ConfigCheck[] = [exportNetworks, directorReferences];
