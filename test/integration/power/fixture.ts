// A management network for power tests: rackboot (`rackboot serve`, the
// real process) in one namespace, real BMCs (ipmi_sim, one per node, each
// powering a stand-in machine) in another, a veth between them. Nothing in
// the root namespace; everything stopped by pid and the namespaces removed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetLab, sh } from '../../helpers/netns.js';
import { NsRackboot } from '../../helpers/ns-server.js';
import { SimBmc, waitListening } from '../../helpers/ipmisim.js';

export const BMC_USER = 'admin';
export const BMC_PASSWORD = 'Sim-h21-Pw';
export const SERVER_ADDR = '10.0.2.1';
/** Nobody answers there: the BMC that does not answer. */
export const DEAD_BMC = '10.0.2.250';

export const bmcAddress = (i: number) => `10.0.2.${11 + i}`;
export const nodeName = (i: number) => `n${String(i + 1).padStart(2, '0')}`;

export interface PowerLabOptions {
  bmcs: number;
  /** The power section of each rackboot config. */
  power: Record<string, unknown>;
}

export class PowerLab {
  readonly net = new NetLab('rbpw');
  readonly work = mkdtempSync(join(tmpdir(), 'rackboot-power-'));
  readonly srv: string;
  readonly bmcNs: string;
  readonly bmcs: SimBmc[] = [];
  readonly servers: NsRackboot[] = [];

  constructor(readonly o: PowerLabOptions) {
    this.srv = this.net.addNs('srv');
    this.bmcNs = this.net.addNs('bmc');
    this.net.veth({ ns: this.srv, name: 'eth0', addr: `${SERVER_ADDR}/24` }, { ns: this.bmcNs, name: 'mgmt0', addr: `${bmcAddress(0)}/24` });
    for (let i = 1; i < o.bmcs; i++) sh('ip', ['-n', this.bmcNs, 'addr', 'add', `${bmcAddress(i)}/24`, 'dev', 'mgmt0']);
  }

  async startBmcs(): Promise<void> {
    for (let i = 0; i < this.o.bmcs; i++) {
      const b = new SimBmc({
        name: nodeName(i),
        address: bmcAddress(i),
        username: BMC_USER,
        password: BMC_PASSWORD,
        dir: join(this.work, 'bmc', nodeName(i)),
        machine: { argv: ['sleep', '3600'] },
      });
      b.start(this.bmcNs);
      this.bmcs.push(b);
    }
    await waitListening(this.bmcNs, this.bmcs);
  }

  /** A rackboot with this power section (and nothing else that needs a network) in the server namespace. */
  async startServer(tag: string, power: Record<string, unknown> = this.o.power, port = 8080): Promise<NsRackboot> {
    const rb = new NsRackboot(
      this.srv,
      join(this.work, tag),
      {
        log: { level: 'debug' },
        networks: [{ name: 'inside', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', staticRange: '10.0.0.10-10.0.0.250' }],
        dhcp: { enabled: false },
        tftp: { enabled: false },
        nfs: { enabled: false },
        images: { enabled: false },
        templates: { enabled: false },
        power,
      },
      { apiPort: port },
    );
    this.servers.push(rb);
    await rb.start();
    return rb;
  }

  /** Registers the group (BMC type and credentials) and one node per BMC (its address). */
  async register(rb: NsRackboot, count = this.o.bmcs): Promise<void> {
    await rb.api.call('POST', '/groups', { name: 'rack', bmc: { type: 'ipmi', username: BMC_USER, password: BMC_PASSWORD } });
    for (let i = 0; i < count; i++) {
      const mac = `52:54:00:00:0c:${(i + 1).toString(16).padStart(2, '0')}`;
      await rb.api.call('POST', '/nodes', { name: nodeName(i), group: 'rack', interfaces: [{ name: 'eth0', mac, network: 'inside' }], bmc: { address: bmcAddress(i) } });
    }
  }

  /** UDP packets sent to a BMC address (an nft counter in the BMC namespace). */
  countPacketsTo(address: string): () => number {
    const table = `cnt${address.replaceAll('.', '')}`;
    sh('ip', ['netns', 'exec', this.bmcNs, 'nft', `add table inet ${table}; add chain inet ${table} in { type filter hook input priority 0 ; } ; add rule inet ${table} in ip daddr ${address} udp dport 623 counter`]);
    return () => {
      const j = JSON.parse(sh('ip', ['netns', 'exec', this.bmcNs, 'nft', '-j', 'list', 'table', 'inet', table]).stdout) as { nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }> };
      for (const e of j.nftables) for (const x of e.rule?.expr ?? []) if (x.counter) return x.counter.packets;
      return 0;
    };
  }

  async close(keep = false): Promise<void> {
    for (const s of this.servers) await s.stop();
    for (const b of this.bmcs) await b.stop().catch(() => undefined);
    await this.net.cleanup();
    if (!keep) rmSync(this.work, { recursive: true, force: true });
  }
}
