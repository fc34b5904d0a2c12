// Reading a config file: YAML -> ${ENV} substitution -> section defaults ->
// schema -> cross-checks. Every problem is collected and reported at once,
// each naming its key path: the cross-checks run on every part that passed the
// schema (parts.ts), not only when the whole file did.
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import YAML from 'yaml';
import { nicMac } from '../net/mac.js';
import { parseIpv4, type Ipv4Range } from '../net/ipv4.js';
import { SHIPPED_IMAGES, SHIPPED_TEMPLATES } from '../paths.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { nodeAddressProblem, resolveNetworks, type ResolvedNetwork } from './networks.js';
import { ConfigSchema, SECTION_DEFAULTS, TOP_DEFAULTS, type Config } from './schema.js';
import { schemaIssues } from './validate-schema.js';
import { CONFIG_CHECKS, NETWORK_CHECKS } from './checks.js';
import { FailedParts } from './parts.js';
import { databaseUrl } from '../store/url.js';
import { hostname } from 'node:os';

/** The host name as a server name (letters, digits, _ . -; at most 63). */
function hostName(): string {
  const n = hostname().replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return n || 'rackboot';
}

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

const ENV_REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replace ${VAR} and ${VAR:-default} in every string; $${ is a literal ${. */
export function substituteEnv(value: unknown, env: NodeJS.ProcessEnv = process.env): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (m, name: string | undefined, def: string | undefined) =>
      m === '$${' ? '${' : (env[name!] ?? def ?? ''),
    );
  }
  if (Array.isArray(value)) return value.map((v) => substituteEnv(v, env));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env)]));
  }
  return value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function withDefaults(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...TOP_DEFAULTS, ...raw };
  for (const [k, def] of Object.entries(SECTION_DEFAULTS)) {
    const given = raw[k];
    if (given === undefined || given === null) out[k] = { ...def };
    else if (isPlainObject(given)) out[k] = { ...def, ...given };
  }
  return out;
}

export function parseConfigText(text: string, file: string | null): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '', message: e.message.split('\n')[0]! })),
    );
  }
  return doc.toJS() ?? {};
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(e as Error).message}` }]);
  }
  return resolveConfig(parseConfigText(text, file), file, env);
}

/** Validate raw config data (already parsed) and resolve it. Throws ConfigError listing every problem. */
export function resolveConfig(raw: unknown, file: string | null = null, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  if (!isPlainObject(raw)) throw new ConfigError(file, [{ path: '', message: 'the config must be a mapping of keys' }]);
  const data = withDefaults(substituteEnv(raw, env) as Record<string, unknown>);
  const issues = schemaIssues(ConfigSchema, data);
  // The semantic checks run on every part that passed the schema, so all problems are reported at once.
  const failed = new FailedParts(issues, data);
  const config = failed.view();
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
  return loaded;
}

function finish(config: Config, file: string | null, networks: ResolvedNetwork[], env: NodeJS.ProcessEnv): LoadedConfig {
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
function seedIssues(c: LoadedConfig, failed: FailedParts): ConfigIssue[] {
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
