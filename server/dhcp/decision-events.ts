// What the DHCP server tells about its decisions: one event per decision on
// the node's (or MAC's) timeline, with unknown MACs' events bounded by
// dhcp.unknownEventRate (the rest counted and summed up every 10 s), and the
// operator's warnings that would otherwise repeat per packet (a stand-in
// loader, options a reply had to leave out), said once or throttled.
import { Counter, type Registry as Metrics } from 'prom-client';
import type { EventRecorder } from '../events/recorder.js';
import { LogThrottle, type Logger } from '../log.js';
import { formatIpv4 } from '../net/ipv4.js';
import type { Destination } from './addressing.js';
import { ASKER_NAMES } from './asker.js';
import { messageName } from './options.js';
import type { Decision, KnownClient, PolicyNetwork } from './policy.js';
import { MacRateLimiter } from './ratelimit.js';
import type { DhcpRequest } from './request.js';

export class DecisionEvents {
  private readonly unknownEvents: MacRateLimiter;
  private suppressed = 0;
  private readonly suppressedTotal: Counter;
  private readonly droppedLog = new LogThrottle();
  /** Nodes whose loader could not boot their machine (a stand-in did), warned about once each. */
  private readonly warnedStandIn = new Set<string>();

  /** @param unknownEventRate dhcp.unknownEventRate: events a second for all unknown MACs together */
  constructor(
    private readonly events: EventRecorder,
    private readonly log: Logger,
    metrics: Metrics,
    private readonly unknownEventRate: number,
  ) {
    // One bucket (key 0) for all unknown MACs' events.
    this.unknownEvents = new MacRateLimiter(unknownEventRate || 1e-9, Math.max(1, unknownEventRate), 1);
    this.suppressedTotal = new Counter({
      name: 'rackboot_dhcp_events_suppressed_total',
      help: 'Packets from unknown MACs not recorded as events (beyond dhcp.unknownEventRate)',
      registers: [metrics],
    });
  }

  /**
   * @param node the MAC's registered interface (on any network): whose timeline
   * @param iface the interface the request came in on
   */
  record(req: DhcpRequest, node: KnownClient | undefined, iface: string, net: PolicyNetwork, dec: Decision, dest: Destination | undefined, dropped: number[]): void {
    if (!node && !this.unknownEvents.take(0, Date.now(), true)) {
      this.suppressed++;
      this.suppressedTotal.inc();
      return;
    }
    const kind = `dhcp.${dec.outcome === 'ignored' ? 'ignored' : dec.outcome}`;
    const detail: Record<string, unknown> = {
      request: messageName(req.type),
      interface: iface,
      network: net.name,
      reason: dec.reason,
      xid: req.packet.xid,
    };
    if (dec.ip) detail.address = formatIpv4(dec.ip);
    if (req.packet.giaddr) detail.relay = formatIpv4(req.packet.giaddr);
    if (req.arch !== undefined) detail.arch = req.arch;
    if (req.isIpxe) detail.ipxe = true;
    if (req.vendorClass) detail.vendorClass = req.vendorClass;
    if (dec.who) {
      detail.client = dec.who.asker;
      if (dec.who.firmware) detail.firmware = dec.who.firmware;
    }
    // What the reply carries: no boot file for the OS's client.
    if (dec.boot) {
      if (dec.boot.file) detail.bootFile = dec.boot.file;
      if (dec.boot.reason) detail.bootProblem = dec.boot.reason;
      if (dec.boot.standIn) detail.standIn = dec.boot.standIn;
    }
    if (dest) detail.sentTo = dest.via;
    if (dropped.length) detail.droppedOptions = dropped;
    this.events.record({ node: node?.node ?? null, mac: req.mac, kind, detail });
  }

  /** The unknown MACs' packets not recorded since the last report, as one event. */
  reportSuppressed(): void {
    if (!this.suppressed) return;
    this.events.record({ node: null, mac: null, kind: 'dhcp.unknown-suppressed', detail: { packets: this.suppressed, rate: this.unknownEventRate } });
    this.suppressed = 0;
  }

  /** The node's loader cannot boot its machine and a stand-in does: said once per node. */
  standIn(node: string, dec: Decision): void {
    const boot = dec.boot;
    if (!boot?.standIn || this.warnedStandIn.has(node)) return;
    if (this.warnedStandIn.size >= 10_000) this.warnedStandIn.clear();
    this.warnedStandIn.add(node);
    this.log.warn(`dhcp: ${node} (${ASKER_NAMES[dec.who?.asker ?? 'pxe-firmware']}, ${boot.firmware}): ${boot.standIn.reason}; handed ${boot.file} (said once per node)`);
  }

  /** A reply left options out to fit what the client accepts (throttled). */
  droppedOptions(req: DhcpRequest, dec: Decision, dropped: number[]): void {
    if (!this.droppedLog.hit()) return;
    this.log.warn(
      `dhcp: the ${dec.outcome} for ${req.mac} left out option(s) ${dropped.join(', ')}: they do not fit in the ${req.maxSize} bytes the client accepts (${this.droppedLog.count} such replies so far)`,
    );
  }
}
