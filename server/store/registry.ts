// The registry as callers see it: checks a node against the config (network
// exists, address inside it, MAC well-formed) before the store enforces
// uniqueness, and tells listeners (DHCP caches, the director) what changed.
import { EventEmitter } from 'node:events';
import type { LoadedConfig } from '../config/load.js';
import { cidrContains, isHostAddress, parseIpv4 } from '../net/ipv4.js';
import { canonicalMac, MAC_FORMS } from '../net/mac.js';
import {
  InvalidError,
  type GroupRecord,
  type Loader,
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

export interface EffectiveNode {
  loader: Loader;
  image: string | null;
  /** cluster vars < group vars < node vars. */
  vars: Vars;
}

export const DEFAULT_LOADER: Loader = 'pxelinux';

export class Registry extends EventEmitter<{ change: [RegistryChange] }> {
  constructor(readonly store: Store, readonly cfg: LoadedConfig) {
    super();
    this.setMaxListeners(0);
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
      const mac = canonicalMac(i.mac);
      if (!mac) throw new InvalidError(`${at}.mac`, `'${i.mac}' is not a MAC address (${MAC_FORMS})`);
      if ((parseInt(mac.slice(0, 2), 16) & 1) === 1) throw new InvalidError(`${at}.mac`, `${mac} is a multicast address, not a NIC's`);
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
        if (!cidrContains(net.cidr, ip)) throw new InvalidError(`${at}.ipv4`, `${i.ipv4} is outside network '${net.name}' (${net.config.cidr})`);
        if (!isHostAddress(net.cidr, ip)) throw new InvalidError(`${at}.ipv4`, `${i.ipv4} is the network or broadcast address of ${net.config.cidr}`);
        if (ip === net.server) throw new InvalidError(`${at}.ipv4`, `${i.ipv4} is this server's address on '${net.name}'`);
        if (ip === net.router) throw new InvalidError(`${at}.ipv4`, `${i.ipv4} is the router of '${net.name}'`);
        if (net.dynamicRange && ip >= net.dynamicRange.start && ip <= net.dynamicRange.end) {
          throw new InvalidError(`${at}.ipv4`, `${i.ipv4} is in the dynamic range of '${net.name}'`);
        }
        ipv4 = i.ipv4;
      }
      return { name: i.name, mac, network: i.network, ipv4 };
    });
  }

  async createNode(input: NewNode): Promise<NodeRecord> {
    const node = await this.store.createNode({ ...input, interfaces: this.normaliseInterfaces(input.interfaces) }, this.cfg.staticPools);
    this.emit('change', { kind: 'node-created', node });
    return node;
  }

  async updateNode(name: string, patch: NodePatch): Promise<NodeRecord> {
    const p = patch.interfaces ? { ...patch, interfaces: this.normaliseInterfaces(patch.interfaces) } : patch;
    const node = await this.store.updateNode(name, p, this.cfg.staticPools);
    this.emit('change', { kind: 'node-updated', node });
    return node;
  }

  async deleteNode(name: string): Promise<boolean> {
    const ok = await this.store.deleteNode(name);
    if (ok) this.emit('change', { kind: 'node-deleted', name });
    return ok;
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

  /** Create the config's seed groups and nodes that are not in the registry yet. */
  async seed(): Promise<{ groups: number; nodes: number }> {
    let groups = 0;
    let nodes = 0;
    for (const g of this.cfg.config.groups) {
      if (!(await this.store.getGroup(g.name))) {
        await this.store.createGroup(g);
        groups++;
      }
    }
    for (const n of this.cfg.config.nodes) {
      if (await this.store.getNode(n.name)) continue;
      const ifaces = this.normaliseInterfaces(n.interfaces, `nodes.${n.name}.interfaces`);
      // Skip a seed node whose MAC was since registered under another name.
      let taken = false;
      for (const i of ifaces) if (await this.store.findByMac(i.mac)) taken = true;
      if (taken) continue;
      await this.createNode({ ...n, interfaces: ifaces });
      nodes++;
    }
    return { groups, nodes };
  }
}
