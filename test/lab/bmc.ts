// The lab's BMCs: each blade gets OpenIPMI's ipmi_sim with IPMI over LAN on
// a management network (director eth3 10.0.2.1/24 <-> fabric mgmt0, the
// BMCs at 10.0.2.11...), wired to its VM's KCS interface (QEMU
// -device ipmi-bmc-extern + isa-ipmi-kcs over a chardev to ipmi_sim's
// `serial` port). The BMC's chassis program starts the VM (see
// test/helpers/ipmisim.ts for why it is that program and not ipmi_sim's
// startcmd), so a power on through rackboot's API really starts it. The
// VM's serial console goes to a Unix socket the lab listens on: a
// BmcBladeVm reads the same console lines and milestones as a BladeVm that
// the lab starts itself.
import { createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { SimBmc, waitListening } from '../helpers/ipmisim.js';
import { sh } from '../helpers/netns.js';
import { LineSplitter } from './serial.js';
import type { LabApi } from './api.js';
import type { LabTopology } from './topology.js';
import { BladeVm, qemuArgs, QEMU, type VmOptions } from './vm.js';

export const MGMT = { server: '10.0.2.1', prefix: '10.0.2.', firstHost: 11, cidrBits: 24 } as const;
export const BMC_USER = 'admin';
/** The lab's BMC password: only in the lab's own files and rackboot's sealed store. */
export const BMC_PASSWORD = 'rblab-bmc';

export const bmcAddressOf = (index: number) => `${MGMT.prefix}${MGMT.firstHost + index}`;

/** QEMU's argv for a blade behind a BMC: the lab's VM with the KCS wiring, its console on a socket, the boot device from the BMC. */
export function bmcQemuArgv(blade: VmOptions['blade'], o: { memoryMb: number; vmPort: number; consoleSock: string }): string[] {
  const base = qemuArgs({ blade, memoryMb: o.memoryMb });
  const i = base.indexOf('-boot');
  if (i >= 0) base.splice(i, 2); // the boot order comes from the BMC (start.sh)
  return [
    QEMU,
    ...base,
    '-chardev',
    `socket,id=ipmi0,host=127.0.0.1,port=${o.vmPort},reconnect=10`,
    '-device',
    'ipmi-bmc-extern,id=bmc0,chardev=ipmi0',
    '-device',
    'isa-ipmi-kcs,bmc=bmc0',
    '-chardev',
    `socket,id=con0,path=${o.consoleSock}`,
    '-serial',
    'chardev:con0',
    '-monitor',
    'none',
  ];
}

/** A blade whose power is its BMC's: console lines from a Unix socket QEMU connects to at each power-on. */
export class BmcBladeVm extends BladeVm {
  readonly bmc: SimBmc;
  readonly consoleSock: string;
  private server: Server | undefined;
  private conn: Socket | undefined;
  private armed = false;

  constructor(opts: VmOptions, index: number) {
    super(opts);
    this.consoleSock = join(opts.logDir, `${opts.blade.name}.console.sock`);
    const vmPort = 9100 + index;
    this.bmc = new SimBmc({
      name: opts.blade.name,
      address: bmcAddressOf(index),
      username: BMC_USER,
      password: BMC_PASSWORD,
      dir: join(opts.logDir, 'bmc', opts.blade.name),
      vmPort,
      machine: {
        argv: bmcQemuArgv(opts.blade, { memoryMb: opts.memoryMb ?? 512, vmPort, consoleSock: this.consoleSock }),
        bootArgs: { pxe: ['-boot', 'n'], disk: ['-boot', 'c'], none: ['-boot', 'n'] },
        // QEMU runs with -no-reboot (a reset would end it): a BMC reset is a stop and a start.
        reset: 'restart',
        log: join(opts.logDir, `${opts.blade.name}.qemu.log`),
      },
    });
  }

  override get running(): boolean {
    return !!this.conn || this.bmc.machine.on;
  }

  override get pid(): number | undefined {
    return this.bmc.machine.pid;
  }

  /** Listens for the VM's console (before any power-on: QEMU needs the socket there). */
  async listen(): Promise<void> {
    rmSync(this.consoleSock, { force: true });
    this.server = createServer((s) => this.attach(s));
    await new Promise<void>((r) => this.server!.listen(this.consoleSock, r));
  }

  /** Marks the start of a boot the lab asks for; the caller then asks rackboot's API to power the blade on. */
  override powerOn(): void {
    this.beginBoot();
    this.armed = true;
  }

  private attach(s: Socket): void {
    // A start the lab did not ask for (a cycle or reset by the BMC) is a new boot from now.
    if (!this.armed) this.beginBoot();
    this.armed = false;
    this.conn = s;
    const split = new LineSplitter();
    s.on('data', (d: Buffer) => {
      for (const raw of split.push(d.toString('latin1'))) this.onLine(raw);
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      for (const raw of split.flush()) this.onLine(raw);
      if (this.conn === s) this.conn = undefined;
      this.endBoot('powered off');
    });
  }

  /** Pull the plug (SIGKILL the VM), bypassing the BMC. */
  override async kill(): Promise<void> {
    const pid = this.pid;
    if (!pid) return;
    const gone = this.conn ? new Promise((r) => this.conn!.once('close', r)) : Promise.resolve();
    process.kill(pid, 'SIGKILL');
    await gone;
  }

  async close(): Promise<void> {
    await this.bmc.stop();
    this.conn?.destroy();
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
  }
}

/** The management network: director eth3 <-> fabric mgmt0, one address per BMC on mgmt0. */
export function addManagementNetwork(topo: LabTopology): void {
  sh('ip', ['-n', topo.director, 'link', 'add', 'eth3', 'type', 'veth', 'peer', 'name', 'mgmt0', 'netns', topo.fabric]);
  sh('ip', ['-n', topo.director, 'addr', 'add', `${MGMT.server}/${MGMT.cidrBits}`, 'dev', 'eth3']);
  for (const b of topo.blades) sh('ip', ['-n', topo.fabric, 'addr', 'add', `${bmcAddressOf(b.index)}/${MGMT.cidrBits}`, 'dev', 'mgmt0']);
  sh('ip', ['-n', topo.director, 'link', 'set', 'eth3', 'up']);
  sh('ip', ['-n', topo.fabric, 'link', 'set', 'mgmt0', 'up']);
}

/** Starts every blade's BMC (ipmi_sim in the fabric namespace, where QEMU must run for its taps) and console listener. */
export async function startBmcs(topo: LabTopology, vms: readonly BmcBladeVm[]): Promise<void> {
  addManagementNetwork(topo);
  for (const vm of vms) {
    await vm.listen();
    vm.bmc.start(topo.fabric);
  }
  await waitListening(topo.fabric, vms.map((v) => v.bmc));
}

/** Tells rackboot about the BMCs: the credentials on the group, each blade's address on its node. */
export async function registerBmcs(api: LabApi, group: string, vms: readonly BmcBladeVm[]): Promise<void> {
  await api.call('PATCH', `/groups/${group}`, { bmc: { type: 'ipmi', username: BMC_USER, password: BMC_PASSWORD } });
  for (const vm of vms) await api.call('PATCH', `/nodes/${vm.name}`, { bmc: { address: vm.bmc.o.address } });
}
