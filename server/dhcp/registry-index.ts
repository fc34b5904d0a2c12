// The registry as the DHCP hot path reads it: MAC (as a number) -> the
// registered interface with its node's effective loader. Built from the store
// at start and kept current from the Registry's change events, so a packet
// never waits for the store.
import { parseIpv4 } from '../net/ipv4.js';
import { DEFAULT_LOADER } from '../boot/loaders.js';
import type { Registry, RegistryChange } from '../store/registry.js';
import type { GroupRecord, Loader, NodeRecord } from '../store/types.js';
import type { KnownClient } from './policy.js';
import { macTextToNumber } from './request.js';

export class RegistryIndex {
  private readonly byMac = new Map<number, KnownClient>();
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly groupLoader = new Map<string, Loader | null>();
  private readonly listener = (c: RegistryChange) => void this.onChange(c);
  private readonly reload = () => void this.load().catch(this.onError);
  /** Changes applied (tests wait on this). */
  version = 0;

  constructor(private readonly registry: Registry, private readonly onError: (err: unknown) => void = () => undefined) {}

  async start(): Promise<void> {
    this.registry.on('change', this.listener);
    this.registry.on('resync', this.reload);
    await this.load();
  }

  /** Everything from the store again (at start, and after changes may have been missed). */
  private async load(): Promise<void> {
    const [groups, nodes] = await Promise.all([this.registry.store.listGroups(), this.registry.store.listNodes()]);
    this.groupLoader.clear();
    for (const g of groups) this.groupLoader.set(g.name, g.loader);
    const gone = new Set(this.nodes.keys());
    for (const n of nodes) {
      gone.delete(n.name);
      this.putNode(n);
    }
    for (const name of gone) this.dropNode(name);
    this.version++;
  }

  stop(): void {
    this.registry.off('change', this.listener);
    this.registry.off('resync', this.reload);
  }

  get(macNum: number): KnownClient | undefined {
    return this.byMac.get(macNum);
  }

  get size(): number {
    return this.byMac.size;
  }

  private loaderOf(n: NodeRecord): Loader {
    return n.loader ?? (n.group ? this.groupLoader.get(n.group) : null) ?? DEFAULT_LOADER;
  }

  private putNode(n: NodeRecord): void {
    this.dropNode(n.name);
    this.nodes.set(n.name, n);
    const loader = this.loaderOf(n);
    for (const i of n.interfaces) {
      const ip = parseIpv4(i.ipv4);
      if (ip === undefined) continue;
      this.byMac.set(macTextToNumber(i.mac), { node: n.name, iface: i.name, mac: i.mac, network: i.network, ip, loader });
    }
  }

  private dropNode(name: string): void {
    const old = this.nodes.get(name);
    if (!old) return;
    for (const i of old.interfaces) {
      const k = macTextToNumber(i.mac);
      if (this.byMac.get(k)?.node === name) this.byMac.delete(k);
    }
    this.nodes.delete(name);
  }

  private async onChange(c: RegistryChange): Promise<void> {
    try {
      switch (c.kind) {
        case 'node-created':
        case 'node-updated':
          this.putNode(c.node);
          break;
        case 'node-deleted':
          this.dropNode(c.name);
          break;
        case 'group-changed': {
          const g: GroupRecord | undefined = await this.registry.store.getGroup(c.name);
          if (g) this.groupLoader.set(g.name, g.loader);
          else this.groupLoader.delete(c.name);
          for (const n of [...this.nodes.values()]) if (n.group === c.name) this.putNode(n);
          break;
        }
      }
      this.version++;
    } catch (err) {
      this.onError(err);
    }
  }
}
