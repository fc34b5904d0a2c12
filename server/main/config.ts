// Reading rackboot's config file: the generic machinery (config/load.ts)
// with this server's schema, then the cross-checks and the sections'
// resolve…() (main/config-checks.ts). Every problem is collected and
// reported at once, each naming its key path: the cross-checks run on every
// part that passed the schema (config/parts.ts), not only when the whole
// file did.
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError, type ConfigIssue } from '../config/errors.js';
import { readConfigFile, validateConfig } from '../config/load.js';
import type { Config, LoadedConfig, ParsedConfig } from '../config/loaded.js';
import { nodeAddressProblem, resolveNetworks, type ResolvedNetwork } from '../config/networks.js';
import type { FailedParts } from '../config/parts.js';
import { nicMac } from '../net/mac.js';
import { parseIpv4, type Ipv4Range } from '../net/ipv4.js';
import { SHIPPED_IMAGES, SHIPPED_TEMPLATES } from '../paths.js';
import { databaseUrl } from '../store/url.js';
import { CONFIG_CHECKS, NETWORK_CHECKS, resolveSections } from './config-checks.js';
import { ConfigSchema, SECTION_DEFAULTS, TOP_DEFAULTS } from './config-schema.js';

export type { LoadedConfig } from '../config/loaded.js';

const SHAPE = { schema: ConfigSchema, topDefaults: TOP_DEFAULTS, sectionDefaults: SECTION_DEFAULTS };

/** The host name as a server name (letters, digits, _ . -; at most 63). */
function hostName(): string {
  const n = hostname().replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return n || 'rackboot';
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  return resolveConfig(readConfigFile(file), file, env);
}

/** Validate raw config data (already parsed) and resolve it. Throws ConfigError listing every problem. */
export function resolveConfig(raw: unknown, file: string | null = null, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const { config, failed, issues } = validateConfig(raw, file, env, SHAPE);
  // The semantic checks run on every part that passed the schema, so all problems are reported at once.
  const { networks, issues: netIssues } = resolveNetworks(config.networks, (i) => failed.entry('networks', i));
  issues.push(...netIssues);
  config.networks.forEach((n, i) => {
    if (!failed.entry('networks', i)) for (const check of NETWORK_CHECKS) issues.push(...check(n, `networks[${i}]`));
  });
  const loaded = finish(config, file, networks, env);
  issues.push(...seedIssues(loaded, failed));
  for (const check of CONFIG_CHECKS) {
    if (!check.reads.some((key) => failed.any(key))) issues.push(...check.run(loaded));
  }
  if (issues.length) throw new ConfigError(file, issues);
  return { ...loaded, resolved: resolveSections(loaded) };
}

function finish(config: Config, file: string | null, networks: ResolvedNetwork[], env: NodeJS.ProcessEnv): ParsedConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(p));
  const dataDir = abs(config.dataDir);
  if (!config.api.token && env.RACKBOOT_API_TOKEN) config.api.token = env.RACKBOOT_API_TOKEN;
  const staticPools = new Map<string, Ipv4Range>();
  for (const n of networks) if (n.staticRange) staticPools.set(n.name, n.staticRange);
  return {
    file,
    config,
    serverName: config.server.name ?? hostName(),
    databaseUrl: databaseUrl(config.store.url, env),
    networks,
    networkByName: new Map(networks.map((n) => [n.name, n])),
    staticPools,
    paths: {
      dataDir,
      dbFile: config.store.path ? abs(config.store.path) : join(dataDir, 'rackboot.db'),
      tokenFile: join(dataDir, 'api-token'),
      bmcKeyFile: config.power.keyFile ? abs(config.power.keyFile) : join(dataDir, 'bmc-key'),
      tftpRoot: abs(config.tftp.root),
      shippedTemplates: SHIPPED_TEMPLATES,
      userTemplates: config.templates.dir ? abs(config.templates.dir) : null,
      recipeDirs: [...config.images.recipeDirs.map(abs), SHIPPED_IMAGES],
      imageStore: join(dataDir, 'images'),
    },
  };
}

/**
 * Seed groups and nodes. Entries that failed the schema are skipped, and so
 * is a reference that may point at one (failed.mayName): it is the same
 * problem, already reported.
 */
function seedIssues(c: ParsedConfig, failed: FailedParts): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const groups = new Set(c.config.groups.filter((_, i) => !failed.entry('groups', i)).map((g) => g.name));
  const seenNode = new Set<string>();
  const seenGroup = new Set<string>();
  const seenMac = new Map<string, string>();
  const seenAddr = new Map<string, string>();
  c.config.groups.forEach((g, i) => {
    if (failed.entry('groups', i)) return;
    if (seenGroup.has(g.name)) issues.push({ path: `groups[${i}].name`, message: `'${g.name}' is listed twice` });
    seenGroup.add(g.name);
  });
  c.config.nodes.forEach((n, i) => {
    if (failed.entry('nodes', i)) return;
    const at = `nodes[${i}]`;
    if (seenNode.has(n.name)) issues.push({ path: `${at}.name`, message: `'${n.name}' is listed twice` });
    seenNode.add(n.name);
    if (n.group && !groups.has(n.group) && !failed.mayName('groups', n.group)) issues.push({ path: `${at}.group`, message: `no group '${n.group}' under groups` });
    const ifaceNames = new Set<string>();
    n.interfaces.forEach((f, j) => {
      const p = `${at}.interfaces[${j}]`;
      if (ifaceNames.has(f.name)) issues.push({ path: `${p}.name`, message: `interface '${f.name}' is listed twice` });
      ifaceNames.add(f.name);
      const nic = nicMac(f.mac);
      if ('problem' in nic) issues.push({ path: `${p}.mac`, message: nic.problem });
      else if (seenMac.has(nic.mac)) issues.push({ path: `${p}.mac`, message: `${nic.mac} is also ${seenMac.get(nic.mac)}` });
      else seenMac.set(nic.mac, p);
      const net = c.networkByName.get(f.network);
      if (!net) {
        if (failed.mayName('networks', f.network)) return;
        issues.push({ path: `${p}.network`, message: `no network '${f.network}' (have: ${[...c.networkByName.keys()].join(', ') || 'none'})` });
        return;
      }
      if (f.ipv4 !== undefined) {
        const ip = parseIpv4(f.ipv4);
        const problem = ip === undefined ? `'${f.ipv4}' is not an IPv4 address` : nodeAddressProblem(net, ip, f.ipv4);
        if (problem) issues.push({ path: `${p}.ipv4`, message: problem });
        else {
          const key = `${net.name}/${ip ?? f.ipv4}`;
          if (seenAddr.has(key)) issues.push({ path: `${p}.ipv4`, message: `${f.ipv4} is also ${seenAddr.get(key)}` });
          seenAddr.set(key, p);
        }
      } else if (!net.staticRange) {
        issues.push({ path: `${p}.ipv4`, message: `is required: network '${net.name}' has no staticRange to allocate from` });
      }
    });
  });
  return issues;
}
