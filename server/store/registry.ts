// The registry as callers see it: checks a node against the config (network
// exists, address inside it, MAC well-formed) before the store enforces
// uniqueness, and tells listeners (DHCP caches, the director) what changed.
import { EventEmitter } from 'node:events';
import type { LoadedConfig } from '../config/loaded.js';
import { nodeAddressProblem } from '../config/networks.js';
import { parseIpv4 } from '../net/ipv4.js';
import { nicMac } from '../net/mac.js';
import { BmcKeyring } from './bmc-keyring.js';
import { sealBmc, type BmcInput } from './bmc.js';
import {
  ConflictError,
  DEFAULT_LOADER,
  InvalidError,
  type GroupPatch,
  type GroupRecord,
  type Loader,
  type NewGroup,
  type NewInterface,
  type NewNode,
  type NodePatch,
  type NodeRecord,
  type Store,
  type Vars,
} from './types.js';

export type RegistryChange =
  | { kind: 'node-created' | 'node-updated'; node: NodeRecord }
  | { kind: 'node-deleted'; name: string }
  | { kind: 'group-changed'; name: string };

/** A node or group as the API and seed entries give it: the BMC with its password, sealed before it is stored. */
export type NodeInput = Omit<NewNode, 'bmc'> & { bmc?: BmcInput | null };
export type NodePatchInput = Omit<NodePatch, 'bmc'> & { bmc?: BmcInput | null };
export type GroupInput = Omit<NewGroup, 'bmc'> & { bmc?: BmcInput | null };
export type GroupPatchInput = Omit<GroupPatch, 'bmc'> & { bmc?: BmcInput | null };

export interface EffectiveNode {
  loader: Loader;
  image: string | null;
  /** cluster vars < group vars < node vars. */
  vars: Vars;
}

/**
 * 'change': one node or group changed, here or on another server sharing the
 * store. 'resync': changes may have been missed (the store's change feed was
 * lost and is back): reload whatever is cached from the registry.
 */
export class Registry extends EventEmitter<{ change: [RegistryChange]; resync: [] }> {
  /** Seals and opens BMC passwords (the key file is made on first use). */
  readonly bmcKeys: BmcKeyring;

  constructor(readonly store: Store, readonly cfg: LoadedConfig) {
    super();
    this.setMaxListeners(0);
    this.bmcKeys = new BmcKeyring(cfg.paths.bmcKeyFile);
  }

  /** Canonicalise and check interfaces; throws InvalidError naming `interfaces[i].field`. */
  normaliseInterfaces(list: NewInterface[], base = 'interfaces'): NewInterface[] {
    const names = new Set<string>();
    // Checked here: the store's "already registered to" check would name the node being written as the holder.
    const macs = new Map<string, string>();
    return list.map((i, k) => {
      const at = `${base}[${k}]`;
      if (names.has(i.name)) throw new InvalidError(`${at}.name`, `interface '${i.name}' is listed twice`);
      names.add(i.name);
      const nic = nicMac(i.mac);
      if ('problem' in nic) throw new InvalidError(`${at}.mac`, nic.problem);
      const mac = nic.mac;
      const twin = macs.get(mac);
      if (twin) throw new InvalidError(`${at}.mac`, `MAC ${mac} is also given for ${twin} in this request; each interface needs its own MAC`);
      macs.set(mac, `${at} (${i.name})`);
      const net = this.cfg.networkByName.get(i.network);
      if (!net) {
        throw new InvalidError(`${at}.network`, `no network '${i.network}' (have: ${[...this.cfg.networkByName.keys()].join(', ') || 'none'})`);
      }
      let ipv4: string | null = null;
      if (i.ipv4 !== undefined && i.ipv4 !== null && i.ipv4 !== '') {
        const ip = parseIpv4(i.ipv4);
        if (ip === undefined) throw new InvalidError(`${at}.ipv4`, `'${i.ipv4}' is not an IPv4 address`);
        const problem = nodeAddressProblem(net, ip, i.ipv4);
        if (problem) throw new InvalidError(`${at}.ipv4`, problem);
        ipv4 = i.ipv4;
      }
      return { name: i.name, mac, network: i.network, ipv4 };
    });
  }

  async createNode(input: NodeInput): Promise<NodeRecord> {
    const interfaces = this.normaliseInterfaces(input.interfaces);
    const node = await this.store.createNode({ ...input, interfaces, bmc: sealBmc(input.bmc, null, this.bmcKeys) }, this.cfg.staticPools);
    this.emit('change', { kind: 'node-created', node });
    return node;
  }

  async updateNode(name: string, patch: NodePatchInput): Promise<NodeRecord> {
    const { bmc, ...rest } = patch;
    const p: NodePatch = rest.interfaces ? { ...rest, interfaces: this.normaliseInterfaces(rest.interfaces) } : rest;
    // A BMC given without its password keeps the stored one (write-only field).
    if (bmc !== undefined) p.bmc = sealBmc(bmc, bmc ? ((await this.store.getNode(name))?.bmc ?? null) : null, this.bmcKeys);
    const node = await this.store.updateNode(name, p, this.cfg.staticPools);
    this.emit('change', { kind: 'node-updated', node });
    return node;
  }

  async deleteNode(name: string): Promise<boolean> {
    const ok = await this.store.deleteNode(name);
    if (ok) this.emit('change', { kind: 'node-deleted', name });
    return ok;
  }

  async createGroup(input: GroupInput): Promise<GroupRecord> {
    const g = await this.store.createGroup({ ...input, bmc: sealBmc(input.bmc, null, this.bmcKeys) });
    this.groupChanged(g.name);
    return g;
  }

  async updateGroup(name: string, patch: GroupPatchInput): Promise<GroupRecord> {
    const { bmc, ...rest } = patch;
    const p: GroupPatch = rest;
    if (bmc !== undefined) p.bmc = sealBmc(bmc, bmc ? ((await this.store.getGroup(name))?.bmc ?? null) : null, this.bmcKeys);
    const g = await this.store.updateGroup(name, p);
    this.groupChanged(g.name);
    return g;
  }

  groupChanged(name: string): void {
    this.emit('change', { kind: 'group-changed', name });
  }

  /** Loader, image and vars after inheritance: cluster > group > node (node wins). */
  effective(node: NodeRecord, group: GroupRecord | undefined): EffectiveNode {
    return {
      loader: node.loader ?? group?.loader ?? DEFAULT_LOADER,
      image: node.image ?? group?.image ?? null,
      vars: { ...this.cfg.config.cluster.vars, ...(group?.vars ?? {}), ...node.vars },
    };
  }

  async effectiveOf(node: NodeRecord): Promise<EffectiveNode> {
    return this.effective(node, node.group ? await this.store.getGroup(node.group) : undefined);
  }

  /**
   * Create the config's seed groups and nodes, each once: an entry is
   * created the first time a start finds it missing, and remembered (the
   * store's settings), so a node or group deleted through the API stays
   * deleted, and one changed through the API is never overwritten. A seed
   * node whose MAC is registered under another name is not created (the
   * registry's choice wins) and not remembered: the log says so at each
   * start until the MAC is free or the entry leaves the config. Entries
   * added to the config later are created at the next start.
   */
  async seed(): Promise<SeedResult> {
    const applied = await this.appliedSeeds();
    const result: SeedResult = { groups: 0, nodes: 0, skipped: [] };
    for (const g of this.cfg.config.groups) {
      if (applied.groups.has(g.name)) continue;
      if (!(await this.store.getGroup(g.name))) {
        // Another server sharing the store may create it at the same moment: then it exists, as wanted.
        if (await createdUnlessTaken(() => this.store.createGroup({ ...g, bmc: sealBmc(g.bmc, null, this.bmcKeys) }))) result.groups++;
      }
      applied.groups.add(g.name);
    }
    for (const [k, n] of this.cfg.config.nodes.entries()) {
      if (applied.nodes.has(n.name)) continue;
      if (!(await this.store.getNode(n.name))) {
        const ifaces = this.seedInterfaces(n.interfaces, k);
        const owners = [];
        for (const i of ifaces) {
          const owner = await this.store.findByMac(i.mac);
          if (owner) owners.push(`${i.mac} is ${owner.node.name}/${owner.iface.name}'s`);
        }
        if (owners.length) {
          // Not remembered: it is created at a later start once its MAC is free.
          result.skipped.push(
            `seed node '${n.name}' (nodes[${k}]) not created: ${owners.join(', ')}; tried again at each start (remove it from nodes to stop this)`,
          );
          continue;
        }
        try {
          if (await createdUnlessTaken(() => this.createNode({ ...n, interfaces: ifaces }))) result.nodes++;
        } catch (err) {
          throw seedError(err, k);
        }
      }
      applied.nodes.add(n.name);
    }
    // Written once: should a seed entry fail above, the ones created before it are in the
    // registry, and the next start remembers them as entries it finds there.
    await this.store.setSetting(SEED_SETTING, JSON.stringify({ groups: [...applied.groups], nodes: [...applied.nodes] }));
    return result;
  }

  private seedInterfaces(list: NewInterface[], k: number): NewInterface[] {
    try {
      return this.normaliseInterfaces(list);
    } catch (err) {
      throw seedError(err, k);
    }
  }

  /** Seed entries already applied; a data directory from before this was kept starts empty. */
  private async appliedSeeds(): Promise<{ groups: Set<string>; nodes: Set<string> }> {
    const raw = await this.store.getSetting(SEED_SETTING);
    let parsed: { groups?: unknown; nodes?: unknown } = {};
    try {
      parsed = raw ? (JSON.parse(raw) as typeof parsed) : {};
    } catch {
      // A damaged record: treat every entry as not applied yet; existing ones are still never overwritten.
    }
    const names = (v: unknown) => new Set(Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
    return { groups: names(parsed.groups), nodes: names(parsed.nodes) };
  }
}

const SEED_SETTING = 'seed.applied';

/** Run a create; false when the name was taken meanwhile (another server seeding the same store). */
async function createdUnlessTaken(create: () => Promise<unknown>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (err) {
    if (err instanceof ConflictError && err.field === 'name') return false;
    throw err;
  }
}

export interface SeedResult {
  groups: number;
  nodes: number;
  /** Why a seed node was not created, one line each. */
  skipped: string[];
}

/** A seed entry the registry refuses (bad, or in conflict with a registered node); `field` is its config key. */
export class SeedError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = 'SeedError';
  }
}

function seedError(err: unknown, k: number): Error {
  if (err instanceof InvalidError || err instanceof ConflictError) return new SeedError(`nodes[${k}].${err.field}`, err.message);
  return err as Error;
}
