// Config checks for the director section (registered in CONFIG_CHECKS): the
// section's own consistency, and the paper's setup tip for the seed nodes:
// every real server's DHCP router must be the NAT-router address.
import type { ConfigIssue } from '../config/errors.js';
import type { ParsedConfig } from '../config/loaded.js';
import { resolveDirector } from './model.js';
import { realServerCandidates, type DirectorNode } from './realservers.js';

/** Seed nodes with vars merged as the registry's `effective()` does. */
export function seedDirectorNodes(c: ParsedConfig): DirectorNode[] {
  const groups = new Map(c.config.groups.map((g) => [g.name, g]));
  return c.config.nodes.map((n) => ({
    name: n.name,
    group: n.group ?? null,
    interfaces: n.interfaces.map((i) => ({ name: i.name, network: i.network, ipv4: i.ipv4 ?? '' })),
    vars: { ...c.config.cluster.vars, ...(n.group ? (groups.get(n.group)?.vars ?? {}) : {}), ...(n.vars ?? {}) },
  }));
}

export function directorConfigIssues(c: ParsedConfig): ConfigIssue[] {
  const { director, issues } = resolveDirector(c.config.director, c.networks);
  if (issues.length || !director.enabled) return issues;
  const out: ConfigIssue[] = [];
  const index = new Map(director.services.map((s, i) => [s.name, i]));
  for (const cand of realServerCandidates(director, c.networks, seedDirectorNodes(c))) {
    // Only the NAT-router and weight problems are config errors: a listed node
    // missing from the seed may be registered through the API later, and a
    // seed interface without an address gets one from the static range.
    if (!cand.excluded || /no node named|has no IPv4 address/.test(cand.excluded)) continue;
    out.push({ path: `director.services[${index.get(cand.service)}].realServers`, message: cand.excluded });
  }
  return out;
}
