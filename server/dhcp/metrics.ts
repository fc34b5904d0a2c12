// The DHCP server's own metrics: packets by type and result (the hot path
// counts every packet, so label sets are cached), and the lease table's
// gauges, read when Prometheus scrapes.
import { Counter, Gauge, type Registry as Metrics } from 'prom-client';
import type { LeaseTable } from './leases.js';

export class PacketCounter {
  private readonly packets: Counter<'type' | 'result'>;
  private readonly cache = new Map<string, { inc(): void }>();

  constructor(reg: Metrics) {
    this.packets = new Counter({
      name: 'rackboot_dhcp_packets_total',
      help: 'DHCP packets received, by message type and what rackboot did with them',
      labelNames: ['type', 'result'] as const,
      registers: [reg],
    });
  }

  count(type: string, result: string): void {
    const k = type + '|' + result;
    let c = this.cache.get(k);
    if (!c) this.cache.set(k, (c = this.packets.labels(type, result)));
    c.inc();
  }
}

export function leaseGauges(reg: Metrics, leases: LeaseTable): void {
  new Gauge({
    name: 'rackboot_dhcp_pending_offers',
    help: 'Dynamic-range addresses held by outstanding offers (the ones dhcp.maxPendingOffers bounds)',
    registers: [reg],
    collect() {
      this.set(leases.pendingOffers);
    },
  });
  new Gauge({
    name: 'rackboot_dhcp_leases',
    help: 'Leases in the table, by network and state',
    labelNames: ['network', 'state'] as const,
    registers: [reg],
    collect() {
      this.reset();
      const now = Date.now();
      const counts = new Map<string, number>();
      for (const l of leases.all()) {
        const state = (l.state === 'bound' || l.state === 'offered') && l.expiresAt <= now ? 'expired' : l.state;
        const k = `${l.network}\0${state}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      for (const [k, n] of counts) {
        const [network, state] = k.split('\0') as [string, string];
        this.set({ network, state }, n);
      }
    },
  });
}
