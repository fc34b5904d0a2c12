// Who the machine behind a MAC is, and what becomes of one nobody registered:
// the DHCP server asks this, as pixiecore asks its Booter and smee its
// BackendReader, and never registers nodes itself. RegistryMachines is the
// one rackboot runs: the registry index for lookups, and with
// dhcp.discovery, an unknown MAC that took a dynamic lease registered as a
// discovered node (its next DISCOVER gets the node's address).
import type { EventRecorder } from '../events/recorder.js';
import type { Logger } from '../log.js';
import { formatIpv4 } from '../net/ipv4.js';
import type { Registry } from '../store/registry.js';
import type { KnownClient, PolicyNetwork } from './policy.js';
import { RegistryIndex } from './registry-index.js';

/** A machine without a registered interface that took a dynamic lease. */
export interface UnknownMachine {
  mac: string;
  net: PolicyNetwork;
  /** The dynamic address it was given. */
  ip: number;
  now: number;
}

export interface MachineSource {
  start(): Promise<void>;
  stop(): void;
  /** The MAC's registered interface (on any network); read on every packet, so never waits. */
  lookup(macNum: number): KnownClient | undefined;
  /** An unknown machine took a dynamic lease: the source may register it. Never throws, never waits. */
  unknownLeased(m: UnknownMachine): void;
  /** Registrations started so far are done (tests). */
  settle(): Promise<void>;
}

/** A MAC whose registration as a discovered node failed is tried again after this long. */
const DISCOVERY_RETRY_MS = 10 * 60_000;

export interface RegistryMachinesOptions {
  registry: Registry;
  events: EventRecorder;
  log: Logger;
  /** dhcp.discovery */
  discovery: boolean;
}

export class RegistryMachines implements MachineSource {
  readonly index: RegistryIndex;
  /** MAC -> its registration in flight (one at a time per MAC; settle() waits for them). */
  private readonly discovering = new Map<string, Promise<void>>();
  /** MAC -> when its registration as a discovered node failed. */
  private readonly failed = new Map<string, number>();

  constructor(private readonly o: RegistryMachinesOptions) {
    this.index = new RegistryIndex(o.registry, (err) => o.log.error({ err }, 'dhcp: registry index update failed'));
  }

  start(): Promise<void> {
    return this.index.start();
  }

  stop(): void {
    this.index.stop();
  }

  lookup(macNum: number): KnownClient | undefined {
    return this.index.get(macNum);
  }

  /**
   * dhcp.discovery, if it can succeed: the node's address comes from the network's staticRange, so
   * where there is none nothing is tried (the server said so once at start); and a MAC whose registration
   * failed is not tried again for a while (each of its renewals would otherwise cost a store write and an event).
   */
  unknownLeased(m: UnknownMachine): void {
    if (!this.o.discovery || !m.net.net.config.staticRange) return;
    const failedAt = this.failed.get(m.mac);
    if (failedAt !== undefined && m.now - failedAt < DISCOVERY_RETRY_MS) return;
    if (this.discovering.has(m.mac)) return;
    this.discovering.set(m.mac, this.register(m).finally(() => this.discovering.delete(m.mac)));
  }

  /** Register an unknown MAC that took a dynamic lease as a discovered node. */
  private async register({ mac, net, ip }: UnknownMachine): Promise<void> {
    const name = `discovered-${mac.replaceAll(':', '')}`;
    try {
      const node = await this.o.registry.createNode({
        name,
        group: null,
        discovered: true,
        interfaces: [{ name: 'eth0', mac, network: net.name }],
      });
      const addr = node.interfaces[0]?.ipv4;
      this.o.log.info(`dhcp: discovered ${mac} on '${net.name}': registered as ${name} (${addr}); its next DISCOVER gets that address`);
      this.o.events.record({ node: name, mac, kind: 'dhcp.discovered', detail: { network: net.name, address: addr, dynamicAddress: formatIpv4(ip) } });
    } catch (err) {
      const why = (err as Error).message;
      this.o.log.warn(`dhcp: could not register discovered ${mac} on '${net.name}': ${why}`);
      this.o.events.record({ node: null, mac, kind: 'dhcp.discovery-failed', detail: { network: net.name, reason: why, retryAfterSeconds: DISCOVERY_RETRY_MS / 1000 } });
      if (this.failed.size >= 10_000) this.failed.clear();
      this.failed.set(mac, Date.now());
    }
  }

  async settle(): Promise<void> {
    await Promise.all([...this.discovering.values()]);
  }
}
