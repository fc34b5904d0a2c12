// The reference boot server: dnsmasq's DHCP + TFTP in the director namespace
// instead of rackboot, serving the same PXELINUX, kernel and RAM disk to the
// same blades. Used by `npm run lab -- --server dnsmasq` and bench/boot.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADDR, type BladeAddr } from './topology.js';

export const PXELINUX_DIRS = { pxelinux: '/usr/lib/PXELINUX/pxelinux.0', ldlinux: '/usr/lib/syslinux/modules/bios/ldlinux.c32' };

export interface ReferenceFiles {
  kernel: string;
  initrd: string;
  /** Kernel command line (console=ttyS0 is added). */
  cmdline?: string;
}

/** A TFTP root as an operator would lay it out for dnsmasq: pxelinux.0, ldlinux.c32, one default config. */
export function writeReferenceTftpRoot(dir: string, files: ReferenceFiles, macs: string[] = []): void {
  mkdirSync(join(dir, 'pxelinux.cfg'), { recursive: true });
  for (const f of Object.values(PXELINUX_DIRS)) {
    if (!existsSync(f)) throw new Error(`${f} is missing: install the Debian packages pxelinux and syslinux-common`);
  }
  copyFileSync(PXELINUX_DIRS.pxelinux, join(dir, 'pxelinux.0'));
  copyFileSync(PXELINUX_DIRS.ldlinux, join(dir, 'ldlinux.c32'));
  copyFileSync(files.kernel, join(dir, 'vmlinuz'));
  copyFileSync(files.initrd, join(dir, 'initrd.img'));
  const append = ['console=ttyS0,115200', files.cmdline ?? ''].join(' ').trim();
  const cfg = `DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  INITRD initrd.img\n  APPEND ${append}\n`;
  writeFileSync(join(dir, 'pxelinux.cfg', 'default'), cfg);
  // A server that names the config file in DHCP option 209 (rackboot does) makes PXELINUX ask for exactly that name.
  for (const mac of macs) writeFileSync(join(dir, 'pxelinux.cfg', `01-${mac.toLowerCase().replaceAll(':', '-')}`), cfg);
}

export function dnsmasqArgs(o: { tftpRoot: string; workDir: string; blades: BladeAddr[]; dhcpOnly?: boolean }): string[] {
  const args = [
    '--no-daemon',
    '--conf-file=/dev/null',
    '--port=0', // no DNS
    '--bind-interfaces',
    '--interface=eth1',
    '--interface=eth2',
    '--except-interface=lo',
    `--dhcp-leasefile=${join(o.workDir, 'dnsmasq.leases')}`,
    `--pid-file=${join(o.workDir, 'dnsmasq.pid')}`,
    `--dhcp-range=${ADDR.inside.server.replace(/\.1$/, '.0')},static,255.255.255.0`,
    `--dhcp-range=${ADDR.inside2.server.replace(/\.1$/, '.0')},static,255.255.255.0`,
    `--dhcp-option=tag:eth1,option:router,${ADDR.inside.router}`,
    // DHCP only: the boot files come from another TFTP server at the same address (rackboot's).
    ...(o.dhcpOnly ? [`--dhcp-boot=pxelinux.0,,${ADDR.inside.server}`] : ['--enable-tftp', `--tftp-root=${o.tftpRoot}`, '--dhcp-boot=pxelinux.0']),
    '--log-dhcp',
  ];
  for (const b of o.blades) {
    args.push(`--dhcp-host=${b.macs[0]},${b.ipv4[0]},${b.name}`);
    args.push(`--dhcp-host=${b.macs[1]},${b.ipv4[1]},${b.name}`);
  }
  return args;
}

export class DnsmasqReference {
  private child: ChildProcess | undefined;
  readonly tftpRoot: string;

  constructor(readonly o: { directorNs: string; workDir: string; blades: BladeAddr[]; files: ReferenceFiles; dhcpOnly?: boolean }) {
    this.tftpRoot = join(o.workDir, 'dnsmasq-tftp');
  }

  get logFile(): string {
    return join(this.o.workDir, 'dnsmasq.log');
  }

  async start(): Promise<void> {
    if (!this.o.dhcpOnly) writeReferenceTftpRoot(this.tftpRoot, this.o.files);
    const args = dnsmasqArgs({ tftpRoot: this.tftpRoot, workDir: this.o.workDir, blades: this.o.blades, dhcpOnly: this.o.dhcpOnly });
    const log = createWriteStream(this.logFile);
    const child = spawn('ip', ['netns', 'exec', this.o.directorNs, 'dnsmasq', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    // dnsmasq prints "started" then binds; a bind failure exits at once.
    await new Promise<void>((resolve, reject) => {
      let text = '';
      const onData = (d: Buffer) => {
        text += d.toString();
        const ready = this.o.dhcpOnly ? /leases only on 10\.0\.0\.0/.test(text) && /leases only on 10\.0\.1\.0/.test(text) : /TFTP root is/.test(text);
        if (ready) (cleanup(), resolve());
      };
      const onExit = (code: number | null) => (cleanup(), reject(new Error(`dnsmasq exited (${code}) at start: ${text.trim()}`)));
      const timer = setTimeout(() => (cleanup(), reject(new Error(`dnsmasq did not start within 10 s: ${text.trim()}`))), 10_000);
      const cleanup = () => {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        child.off('exit', onExit);
      };
      child.stderr!.on('data', onData);
      child.on('exit', onExit);
    });
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const closed = new Promise((r) => c.once('close', r));
    c.kill('SIGTERM');
    await closed;
  }
}
