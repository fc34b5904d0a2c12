// Real network boots from rendered configs. iPXE: QEMU's iPXE ROM gets
// rackboot's DHCP answer (a node whose loader is iPXE), fetches its iPXE
// script from /boot/ipxe/<mac>, the kernel and RAM disk from
// /boot/<node>/..., and Linux starts with the rendered command line.
// PXELINUX: the same ROM loads pxelinux.0 over TFTP, which reads its
// rendered pxelinux.cfg/01-<mac> and boots the kernel it names. rackboot runs as `rackboot serve` inside a network
// namespace; the blade is a QEMU VM on a tap in that namespace. The kernel
// is Debian's cloud kernel (the lab's cache); it and a tiny RAM disk whose
// /init prints its command line and powers off sit in tftp.root at
// boot/<node>/..., which the static provider serves (the images service,
// whose builds the lab boots, is off here to keep this test short).
// GRUB on UEFI: OVMF's own PXE client (the NIC without option ROM, DHCP
// architecture 7) gets grubx64.efi over TFTP
// (made with grub-mknetdir, as docs/boot-flow.md tells operators), GRUB reads
// its rendered grub/grub.cfg-01-<mac> and boots the kernel from (tftp,...).
// iPXE on UEFI: the same PXE client gets ipxe.efi (Debian's ipxe, from
// tftp.loaderDirs), iPXE asks DHCP again, gets its script URL and loads the
// kernel and RAM disk over HTTP. PXELINUX on UEFI: syslinux.efi (Debian's
// syslinux-efi), ldlinux.e64 and the per-MAC config over TFTP.
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { PACKAGE_ROOT } from '../../../server/paths.js';
import { requireLab } from '../../helpers/env.js';
import { NetLab, sh } from '../../helpers/netns.js';
import { ensureKernel } from '../../lab/kernel.js';
import { tftpSent } from '../../lab/timeline.js';
import { suiteTempDir } from '../../helpers/tmp.js';

const ROM = '/usr/lib/ipxe/qemu/efi-virtio.rom'; // what virtio-net-pci loads by default
const MAC = '52:54:00:12:34:01';
const MAC2 = '52:54:00:12:34:02';
const MAC3 = '52:54:00:12:34:03';
const MAC4 = '52:54:00:12:34:04';
const IPXE_EFI = '/usr/lib/ipxe/ipxe.efi'; // package ipxe
const MAC5 = '52:54:00:12:34:05';
const SYSLINUX_EFI = '/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi'; // package syslinux-efi
const OVMF = '/usr/share/ovmf/OVMF.fd';
const GRUB_EFI = '/usr/lib/grub/x86_64-efi';
const TOKEN = 'ipxe-qemu-token';
const API = 'http://10.0.0.1:8080';

async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const tmp = suiteTempDir('rackboot-ipxe-qemu-');
describe('real network boots in QEMU from rendered configs', () => {
  let lab: NetLab | undefined;
  let srv: string;
  let server: ChildProcess | undefined;
  let serverLog = '';
  let root: string;
  /** Set by the first test once rackboot serves in the namespace; the GRUB test boots through the same. */
  let shared:
    | {
        boot: (mac: string, firmware?: string[]) => Promise<{ serial: string; cmdline: string; seconds: number }>;
        timeline: (node: string) => Promise<Array<{ kind: string; detail: Record<string, unknown> }>>;
        preview: (node: string, loader: string) => Promise<string>;
      }
    | undefined;
  after(async () => {
    await lab?.cleanup();
  });

  test('iPXE (script, kernel, RAM disk over HTTP) and PXELINUX (per-MAC config over TFTP) boot Linux with the rendered command line; an unknown machine gets pxelinux.0 and the default config', { timeout: 600_000 }, async (t) => {
    if (!requireLab(t, { root: true, commands: ['qemu-system-x86_64', 'cpio', 'busybox', 'apt-cache', 'dpkg', 'depmod'] })) return;
    if (!existsSync(ROM)) {
      requireLab(t, { commands: ['qemu-ipxe-rom-missing'] });
      return;
    }
    const kernel = ensureKernel((s) => console.log(`# ${s}`));

    // The blade's files in tftp.root (served over TFTP and HTTP by the static provider).
    root = join(tmp, 'tftpboot');
    mkdirSync(join(root, 'boot', 'blade1'), { recursive: true });
    copyFileSync(kernel.vmlinuz, join(root, 'boot', 'blade1', 'kernel'));
    const rd = join(tmp, 'initrd');
    mkdirSync(join(rd, 'bin'), { recursive: true });
    copyFileSync('/usr/bin/busybox', join(rd, 'bin', 'busybox'));
    writeFileSync(
      join(rd, 'init'),
      '#!/bin/busybox sh\n/bin/busybox mkdir -p /proc\n/bin/busybox mount -t proc proc /proc\necho "RACKBOOT-INIT $(/bin/busybox cat /proc/cmdline)"\n/bin/busybox poweroff -f\n',
    );
    chmodSync(join(rd, 'init'), 0o755);
    sh('sh', ['-c', `cd '${rd}' && find . | cpio -o -H newc --quiet > '${join(root, 'boot', 'blade1', 'initrd')}'`]);
    for (const b of ['blade2', 'blade3', 'blade4', 'blade5']) {
      mkdirSync(join(root, 'boot', b));
      for (const f of ['kernel', 'initrd']) copyFileSync(join(root, 'boot', 'blade1', f), join(root, 'boot', b, f));
    }

    const config = {
      cluster: { name: 'cgws', domain: 'cluster.local', vars: { webroot: '/var/www' } },
      dataDir: join(tmp, 'data'),
      api: { listen: '10.0.0.1:8080', token: TOKEN },
      log: { level: 'info' },
      // The dynamic range: where an unknown machine gets its lease (step 3).
      networks: [{ name: 'inside', interface: 'br0', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', staticRange: '10.0.0.10-10.0.0.199', dynamicRange: '10.0.0.200-10.0.0.210' }],
      dhcp: { enabled: true },
      tftp: { enabled: true, root },
      images: { enabled: false },
      nfs: { enabled: false },
      director: { enabled: false },
      // blade<N> at 10.0.0.1<N> with the given loader and MAC.
      nodes: ([[2, 'pxelinux', MAC2], [3, 'grub', MAC3], [5, 'pxelinux', MAC5], [4, 'ipxe', MAC4], [1, 'ipxe', MAC]] as const).map(([n, loader, mac]) => ({
        name: `blade${n}`,
        loader,
        image: 'web-blade',
        vars: { kernelArgs: 'console=ttyS0 panic=-1' },
        interfaces: [{ name: 'eth0', mac, network: 'inside', ipv4: `10.0.0.1${n}` }],
      })),
    };
    const cfgFile = join(tmp, 'rackboot.yaml');
    writeFileSync(cfgFile, YAML.stringify(config));

    lab = new NetLab('rbr');
    srv = lab.addNs('srv');
    lab.bridge(srv, 'br0', '10.0.0.1/24');
    sh('ip', ['-n', srv, 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
    lab.enslave(srv, 'tap0', 'br0');
    sh('ip', ['-n', srv, 'link', 'set', 'tap0', 'up']);

    server = lab.spawn(srv, process.execPath, [join(PACKAGE_ROOT, 'dist', 'server', 'cli', 'main.js'), 'serve', '--config', cfgFile], {
      env: { ...process.env, RACKBOOT_LOG_FORMAT: 'json' },
    });
    server.stdout!.on('data', (d: Buffer) => (serverLog += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
    const curl = (args: string[]) => lab!.exec(srv, 'curl', ['-s', ...args], { timeoutMs: 10_000 });
    await until('rackboot serve to answer', 30_000, async () => ((await curl(['-o', '/dev/null', '-w', '%{http_code}', `${API}/healthz`])).stdout === '200' ? true : undefined));

    /** Power a blade on and wait until its RAM disk's init printed the kernel command line (QEMU then exits). */
    const boot = async (mac: string, firmware: string[] = []): Promise<{ serial: string; cmdline: string; seconds: number }> => {
      let serial = '';
      const vm = lab!.spawn(srv, 'qemu-system-x86_64', [
        '-accel', 'tcg', '-m', firmware.length ? '512' : '384', '-smp', '1', '-nographic', '-no-reboot', '-boot', 'n',
        ...firmware,
        '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
        // QEMU's default virtio-net ROM is iPXE (package ipxe-qemu); under OVMF none, so its own
        // virtio driver and PXE client boot (a UEFI machine's built-in network boot).
        '-device', `virtio-net-pci,netdev=n0,mac=${mac}${firmware.length ? ',bootindex=1,romfile=' : ''}`,
      ]);
      vm.stdout!.on('data', (d: Buffer) => (serial += d.toString('latin1')));
      const exited = new Promise<void>((r) => vm.once('close', () => r()));
      const t0 = Date.now();
      await Promise.race([
        until('the RAM disk init to print its command line', 200_000, async () => {
          if (/No bootable device|No more network devices|Kernel panic|BdsDxe: No bootable option|error: (file|couldn.t|you need)/.test(serial)) throw new Error('the blade cannot boot');
          return /RACKBOOT-INIT .*\n/.test(serial) ? true : undefined;
        }),
        exited.then(() => {
          if (!/RACKBOOT-INIT/.test(serial)) throw new Error('QEMU exited before init ran');
        }),
      ]).catch((e: Error) => {
        vm.kill('SIGKILL');
        throw new Error(`${e.message}\nconsole tail:\n${serial.slice(-2500)}\nserver log tail:\n${serverLog.slice(-2500)}`);
      });
      const seconds = (Date.now() - t0) / 1000;
      await exited;
      return { serial, cmdline: /RACKBOOT-INIT (.*)/.exec(serial)![1]!.trim(), seconds };
    };
    const timeline = async (node: string) => {
      const ev = await curl(['-H', `authorization: Bearer ${TOKEN}`, `${API}/api/v1/nodes/${node}/events?limit=200`]);
      return JSON.parse(ev.stdout) as Array<{ kind: string; detail: Record<string, unknown> }>;
    };
    const preview = async (node: string, loader: string) =>
      (await curl(['-H', `authorization: Bearer ${TOKEN}`, `${API}/api/v1/nodes/${node}/render/${loader}`])).stdout;
    shared = { boot, timeline, preview };

    // 1. iPXE: DHCP hands the script URL; the script, kernel and RAM disk come over HTTP.
    const one = await boot(MAC);
    console.log(`# iPXE over HTTP: power-on to init ${one.seconds.toFixed(1)} s`);
    assert.match(one.serial, /http:\/\/10\.0\.0\.1:8080\/boot\/ipxe\/52:54:00:12:34:01/);
    for (const arg of ['BOOTIF=01-52-54-00-12-34-01', 'rackboot.node=blade1', 'rackboot.iface=eth0', `rackboot.api=${API}/api/v1`, 'rackboot.webroot=/var/www', 'console=ttyS0']) {
      assert.ok(one.cmdline.split(' ').includes(arg), `${arg} not in the booted kernel's command line: ${one.cmdline}`);
    }
    assert.ok((await preview('blade1', 'ipxe')).includes(` ${one.cmdline.replace(/^initrd=initrd /, '')} ||`), `the booted command line is the preview's: ${one.cmdline}`);
    const ev1 = await timeline('blade1');
    const kinds1 = ev1.map((e) => `${e.kind}:${String(e.detail.path ?? e.detail.file ?? '')}`);
    assert.ok(ev1.some((e) => e.kind === 'render' && e.detail.template === 'ipxe.ipxe.hbs' && e.detail.protocol === 'http'), kinds1.join('\n'));
    for (const f of ['kernel', 'initrd']) {
      const size = statSync(join(root, 'boot', 'blade1', f)).size;
      const got = ev1.filter((e) => e.kind === 'http.get' && e.detail.path === `boot/blade1/${f}`);
      assert.ok(got.reduce((n, e) => n + Number(e.detail.bytes), 0) >= size, `boot/blade1/${f} (${size} bytes) not sent whole over HTTP: ${kinds1.join('\n')}`);
    }

    // 2. PXELINUX: DHCP hands pxelinux.0 and option 209; PXELINUX reads its rendered per-MAC config over TFTP.
    const two = await boot(MAC2);
    console.log(`# PXELINUX over TFTP: power-on to init ${two.seconds.toFixed(1)} s`);
    for (const arg of ['BOOTIF=01-52-54-00-12-34-02', 'rackboot.node=blade2', `rackboot.api=${API}/api/v1`]) {
      assert.ok(two.cmdline.split(' ').includes(arg), `${arg} not in the booted kernel's command line: ${two.cmdline}`);
    }
    // PXELINUX adds BOOT_IMAGE= in front and the INITRD line as initrd= at the end.
    const appended = two.cmdline.replace(/^BOOT_IMAGE=\S+ /, '').replace(/ initrd=boot\/blade2\/initrd$/, '');
    assert.ok((await preview('blade2', 'pxelinux')).includes(`APPEND ${appended}\n`), `the booted command line is the preview's: ${two.cmdline}`);
    const ev2 = await timeline('blade2');
    const kinds2 = ev2.map((e) => `${e.kind}:${String(e.detail.path ?? e.detail.file ?? '')}`);
    assert.ok(ev2.some((e) => e.kind === 'render' && e.detail.path === 'pxelinux.cfg/01-52-54-00-12-34-02' && e.detail.protocol === 'tftp'), kinds2.join('\n'));
    assert.ok(ev2.some((e) => e.kind === 'tftp.transfer' && e.detail.file === 'pxelinux.cfg/01-52-54-00-12-34-02'), kinds2.join('\n'));

    // 3. A machine the registry does not know: its PXE ROM gets pxelinux.0 from the dynamic range,
    // PXELINUX walks past its MAC and address names to pxelinux.cfg/default, the default config
    // (local boot here: no discovery image is built), and the machine goes on to its disk (none).
    const UNKNOWN = '52:54:00:12:34:99';
    let serial3 = '';
    const vm = lab.spawn(srv, 'qemu-system-x86_64', [
      '-accel', 'tcg', '-m', '384', '-smp', '1', '-nographic', '-no-reboot', '-boot', 'n',
      '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no', '-device', `virtio-net-pci,netdev=n0,mac=${UNKNOWN}`,
    ]);
    vm.stdout!.on('data', (d: Buffer) => (serial3 += d.toString('latin1')));
    const events = async (q: string) =>
      JSON.parse((await curl(['-H', `authorization: Bearer ${TOKEN}`, `${API}/api/v1/events?${q}&limit=500`])).stdout) as Array<{ kind: string; mac: string | null; detail: Record<string, unknown> }>;
    const isDefault = (e: { kind: string; detail: Record<string, unknown> }) => e.kind === 'render' && e.detail.path === 'pxelinux.cfg/default';
    try {
      await until('the unknown machine to read pxelinux.cfg/default and leave it for the local disk', 200_000, async () => {
        if (/Kernel panic/.test(serial3)) throw new Error('it booted a kernel');
        return /No bootable device/.test(serial3) && (await events('kind=render')).some(isDefault) ? true : undefined;
      });
    } catch (e) {
      throw new Error(`${(e as Error).message}\nconsole tail:\n${serial3.slice(-2500)}\nserver log tail:\n${serverLog.slice(-2500)}`);
    } finally {
      vm.kill('SIGKILL');
    }
    const dhcp3 = await events(`mac=${UNKNOWN}`);
    const acks = dhcp3.filter((e) => e.kind === 'dhcp.ack');
    assert.ok(acks.length > 0 && acks.every((e) => e.detail.bootFile === 'pxelinux.0' && /^10\.0\.0\.2(0\d|10)$/.test(String(e.detail.address))), JSON.stringify(dhcp3));
    const rendered = (await events('kind=render')).filter(isDefault);
    assert.ok(rendered.every((e) => e.detail.discovery === true && e.detail.template === 'pxelinux-discovery.cfg.hbs'), JSON.stringify(rendered));
    assert.match(serial3, /PXELINUX/);
  });
  type Ev = { kind: string; detail: Record<string, unknown> };
  /**
   * Boots blade<n> under OVMF (its own PXE client: the NIC has no option
   * ROM) and checks what every UEFI boot must show; undefined when it
   * cannot run here (the test then skipped, with the reason).
   */
  async function uefiBoot(t: TestContext, n: number, mac: string, needs: Array<readonly [string, string]>, prepare?: () => void) {
    if (!requireLab(t, { root: true, commands: ['qemu-system-x86_64'] })) return undefined;
    for (const [path, pkg] of [[OVMF, 'ovmf'] as const, ...needs]) {
      if (!existsSync(path)) return void requireLab(t, { commands: [`${pkg}-missing`] });
    }
    if (!shared) return void t.skip('the first test did not get rackboot serving');
    prepare?.();
    const b = await shared.boot(mac, ['-bios', OVMF]);
    console.log(`# ${t.name.replace(/ \(.*/, '')}: power-on to init ${b.seconds.toFixed(1)} s`);
    assert.match(b.serial, /PXE over IPv4/, b.serial.slice(-3000));
    for (const arg of [`BOOTIF=01-${mac.replaceAll(':', '-')}`, `rackboot.node=blade${n}`, `rackboot.api=${API}/api/v1`, 'console=ttyS0']) {
      assert.ok(b.cmdline.split(' ').includes(arg), `${arg} not in the booted kernel's command line: ${b.cmdline}`);
    }
    const ev: Ev[] = await shared.timeline(`blade${n}`);
    const kinds = ev.map((e) => `${e.kind}:${String(e.detail.path ?? e.detail.file ?? e.detail.bootFile ?? '')}:${String(e.detail.arch ?? '')}`).join('\n');
    // The firmware's own DHCP: UEFI x64 (option 93 = 7), answered with the loader's UEFI file.
    const firmwareAck = (file: string) => ev.some((e) => e.kind === 'dhcp.ack' && Number(e.detail.arch) === 7 && !e.detail.ipxe && e.detail.firmware === 'efi64' && e.detail.bootFile === file);
    return { ...b, ev, kinds, firmwareAck, tftp: tftpSent(ev) };
  }

  test('GRUB on UEFI (OVMF network boot, grubx64.efi and its per-MAC config over TFTP) boots Linux with the rendered command line', { timeout: 420_000 }, async (t) => {
    const b = await uefiBoot(t, 3, MAC3, [['/usr/bin/grub-mknetdir', 'grub-common'], [GRUB_EFI, 'grub-efi-amd64-bin']], () => {
      // What docs/boot-flow.md tells an operator: a GRUB netboot directory in tftp.root, core.efi as grubx64.efi.
      sh('grub-mknetdir', [`--net-directory=${root}`, '--subdir=grub', '-d', GRUB_EFI]);
      copyFileSync(join(root, 'grub', 'x86_64-efi', 'core.efi'), join(root, 'grubx64.efi'));
    });
    if (!b) return;
    assert.doesNotMatch(b.serial, /iPXE/);
    // GRUB passes BOOT_IMAGE=<kernel path> first, then the linux line's arguments as rendered.
    const args = b.cmdline.replace(/^BOOT_IMAGE=\S+ /, '');
    const cfg = await shared!.preview('blade3', 'grub');
    assert.ok(cfg.includes(` ${args}\n`) || cfg.includes(` ${args.split(' ').map((a) => `'${a}'`).join(' ')}\n`), `the booted command line is the preview's:\n${b.cmdline}\n${cfg}`);
    assert.ok(b.firmwareAck('grubx64.efi'), b.kinds);
    assert.ok(b.ev.some((e) => e.kind === 'render' && e.detail.path === 'grub/grub.cfg-01-52-54-00-12-34-03' && e.detail.protocol === 'tftp'), b.kinds);
    for (const f of ['grubx64.efi', 'grub/grub.cfg-01-52-54-00-12-34-03', 'boot/blade3/kernel', 'boot/blade3/initrd']) assert.ok(b.tftp.includes(f), `${f} over TFTP:\n${b.kinds}`);
  });

  test('iPXE on UEFI (OVMF PXE, ipxe.efi over TFTP, then its script, kernel and RAM disk over HTTP) boots Linux with the rendered command line', { timeout: 420_000 }, async (t) => {
    const b = await uefiBoot(t, 4, MAC4, [[IPXE_EFI, 'ipxe']]);
    if (!b) return;
    // Under UEFI iPXE passes the image name first (the EFI stub's load options), then initrd=.
    assert.ok((await shared!.preview('blade4', 'ipxe')).includes(` ${b.cmdline.replace(/^(kernel )?initrd=initrd /, '')} ||`), `the booted command line is the preview's: ${b.cmdline}`);
    // First the firmware gets ipxe.efi; then iPXE itself gets its script URL.
    assert.ok(b.firmwareAck('ipxe.efi'), b.kinds);
    assert.ok(b.ev.some((e) => e.kind === 'dhcp.ack' && e.detail.ipxe === true && e.detail.bootFile === `${API}/boot/ipxe/52:54:00:12:34:04`), b.kinds);
    assert.ok(b.tftp.includes('ipxe.efi'), b.kinds);
    for (const f of ['boot/blade4/kernel', 'boot/blade4/initrd']) assert.ok(b.ev.some((e) => e.kind === 'http.get' && e.detail.path === f), `${f} over HTTP:\n${b.kinds}`);
  });

  test('PXELINUX on UEFI (OVMF PXE, syslinux.efi, ldlinux.e64 and the per-MAC config over TFTP) boots Linux with the rendered command line', { timeout: 420_000 }, async (t) => {
    const b = await uefiBoot(t, 5, MAC5, [[SYSLINUX_EFI, 'syslinux-efi']]);
    if (!b) return;
    assert.ok(b.firmwareAck('syslinux.efi'), b.kinds);
    for (const f of ['syslinux.efi', 'ldlinux.e64', 'pxelinux.cfg/01-52-54-00-12-34-05', 'boot/blade5/kernel', 'boot/blade5/initrd']) assert.ok(b.tftp.includes(f), `${f} over TFTP:\n${b.kinds}`);
  });
});
