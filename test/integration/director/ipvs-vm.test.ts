// The ipvs backend applied for real. This machine's kernel has no IPVS, so
// the test boots Debian's cloud kernel (which has ip_vs) in QEMU with a tiny
// RAM disk: static busybox, ipvsadm and its libraries, the ip_vs modules. Its
// init loads the modules and then serves a command channel on its second
// serial port (vmshell.ts), through which the real IpvsBackend runs its
// `ipvsadm -Sn` / `ipvsadm -R` in the guest: three states are applied (the
// first from an empty table, then one changing servers and a scheduler, then
// one that drops persistence), each time read back with the kernel's own
// `ipvsadm -Sn`, parsed by rackboot and diffed: the kernel table must be what
// rackboot rendered, and rackboot must see it as converged. A virtual service
// rackboot does not own stays through all of it and through stop.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import { diffIpvs, IpvsBackend, parseIpvsadm, renderIpvsadm } from '../../../server/director/backends/ipvs.js';
import type { DesiredState } from '../../../server/director/desired.js';
import { parseIpv4 } from '../../../server/net/ipv4.js';
import { requireLab } from '../../helpers/env.js';
import { sh } from '../../helpers/netns.js';
import { silentLogger } from '../../../server/log.js';
import { guestLoop, VmShell } from './vmshell.js';
import { ensureKernel, moduleLoadOrder } from '../../lab/kernel.js';
import { tempDir } from '../../helpers/tmp.js';

const ip = (s: string) => parseIpv4(s)!;
const server = (n: number, weight: number, port = 80) => ({ name: `blade${n}`, node: `blade${n}`, address: ip(`10.0.0.1${n}`), port, weight });
const base = { vip: ip('192.168.1.100'), vipPrefix: 24, interface: 'eth0', protocol: 'tcp' as const };
const STATE1: DesiredState = {
  masquerade: 'auto',
  inside: undefined,
  services: [
    { ...base, name: 'web', port: 80, scheduler: 'wlc', persistenceSec: 300, servers: [server(1, 1), server(2, 2), server(3, 1, 8080)] },
    { ...base, name: 'dns', port: 53, protocol: 'udp', scheduler: 'rr', persistenceSec: undefined, servers: [server(1, 1, 53)] },
    { ...base, name: 'ssh', port: 22, scheduler: 'sh', persistenceSec: undefined, servers: [server(4, 1, 22)] },
  ],
};
// blade2 left the pool, blade3's weight changed, blade5 joined (-d, -e, -a); ssh went to wrr (-E).
const STATE2: DesiredState = {
  ...STATE1,
  services: [
    { ...STATE1.services[0]!, servers: [server(1, 1), server(3, 4, 8080), server(5, 1)] },
    STATE1.services[1]!,
    { ...STATE1.services[2]!, scheduler: 'wrr' },
  ],
};
// web lost persistence: -E cannot drop it, so the service is recreated with its servers.
const STATE3: DesiredState = { ...STATE2, services: [{ ...STATE2.services[0]!, persistenceSec: undefined }, ...STATE2.services.slice(1)] };
// A virtual service someone else put in the kernel: rackboot must leave it alone.
const FOREIGN = ['-A -t 192.168.1.200:443 -s rr', '-a -t 192.168.1.200:443 -r 10.0.0.50:443 -m -w 1'];
const MODULES = ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_lc', 'ip_vs_wlc', 'ip_vs_sh'];

const lines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .sort();

describe('ipvs backend in a VM whose kernel has IPVS', () => {
  test('the real IpvsBackend applies three states through ipvsadm in the guest; the kernel table read back is what rackboot rendered and diffs as converged', { timeout: 600_000 }, async (t) => {
    if (!requireLab(t, { root: true, commands: ['qemu-system-x86_64', 'ipvsadm', 'cpio', 'gzip', 'apt-get', 'dpkg', 'depmod'] })) return;
    const kernel = ensureKernel();
    const dir = tempDir(t, 'rb-ipvs-vm-');
    let shell: VmShell | undefined;
    let vm: ReturnType<typeof spawn> | undefined;
    let consoleText = '';
    try {
      const root = join(dir, 'root');
      const put = (from: string, to = from) => {
        mkdirSync(dirname(join(root, to)), { recursive: true });
        copyFileSync(from, join(root, to));
      };
      put('/bin/busybox', '/bin/busybox');
      const ipvsadm = sh('sh', ['-c', 'command -v ipvsadm']).stdout.trim();
      put(ipvsadm, '/sbin/ipvsadm');
      // ipvsadm's shared libraries and the loader, at the paths ldd names.
      for (const m of sh('ldd', [ipvsadm]).stdout.matchAll(/(\/\S+\.so[.\d]*)/g)) put(m[1]!);
      const mods = moduleLoadOrder(kernel.modulesDir, MODULES);
      for (const m of mods) put(join(kernel.modulesDir, m), `/lib/modules/${m}`);
      writeFileSync(
        join(root, 'init'),
        [
          '#!/bin/busybox sh',
          '/bin/busybox --install -s /bin',
          'export PATH=/sbin:/bin',
          'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev',
          ...mods.map((m) => `insmod /lib/modules/${m} || echo "RB-INSMOD-FAILED ${m}"`),
          // IPVS accepts a real server only at a unicast-routed address: a director has a route to its inside network.
          'ip link set lo up; ip route add 10.0.0.0/24 dev lo',
          guestLoop('/dev/ttyS1', '/tmp'),
          'poweroff -f',
        ].join('\n') + '\n',
      );
      chmodSync(join(root, 'init'), 0o755);
      for (const d of ['proc', 'sys', 'dev', 'tmp']) mkdirSync(join(root, d));
      const initrd = join(dir, 'initrd.gz');
      sh('sh', ['-c', `cd '${root}' && find . | cpio -o -H newc --quiet | gzip -1 > '${initrd}'`]);

      // The guest's ttyS1 is connected to this socket: QEMU connects to it as a client.
      shell = await VmShell.listen(join(dir, 'ctl.sock'), 120_000);
      vm = spawn(
        'qemu-system-x86_64',
        ['-accel', 'tcg', '-m', '256', '-nographic', '-no-reboot', '-nic', 'none', '-serial', 'mon:stdio', '-serial', `unix:${join(dir, 'ctl.sock')}`,
          '-kernel', kernel.vmlinuz, '-initrd', initrd, '-append', 'console=ttyS0 panic=-1 quiet'],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      vm.stdout!.on('data', (d: Buffer) => (consoleText += d.toString()));
      vm.stderr!.on('data', (d: Buffer) => (consoleText += d.toString()));
      vm.stdin!.end();
      const exited = new Promise<number | null>((resolve) => vm!.once('exit', (code) => resolve(code)));
      const console_ = () => `\n--- VM console (tail) ---\n${consoleText.slice(-3000)}`;

      try {
        await Promise.race([shell.waitReady(300_000), exited.then(() => Promise.reject(new Error('QEMU exited before the guest was ready')))]);
        assert.doesNotMatch(consoleText, /RB-INSMOD-FAILED/);
        const guest = shell;
        const kernelTable = async () => guest.must('ipvsadm', ['-Sn']);
        await guest.must('ipvsadm', ['-R'], { input: FOREIGN.join('\n') + '\n' });

        const backend = new IpvsBackend(guest, silentLogger());
        await backend.preflight();
        let table = await kernelTable();
        assert.deepEqual(lines(table), FOREIGN.slice().sort());
        for (const [name, state] of [['STATE1', STATE1], ['STATE2', STATE2], ['STATE3', STATE3]] as const) {
          // What rackboot must do, computed from the kernel's own -Sn output...
          const want = diffIpvs(parseIpvsadm(table), state);
          assert.ok(want.length > 0, `${name}: nothing to change?`);
          // ...is what the backend's apply path (read -Sn, diff, ipvsadm -R) did.
          const r = await backend.apply(state);
          assert.deepEqual(r, { changed: true, summary: want.join('; ') }, name);
          table = await kernelTable();
          assert.deepEqual(lines(table), [...lines(renderIpvsadm(state)), ...FOREIGN].sort(), `${name}: the kernel table after ipvsadm -R`);
          assert.deepEqual(diffIpvs(parseIpvsadm(table), state), [], `${name}: rackboot reads the kernel table as converged`);
          assert.deepEqual(await backend.apply(state), { changed: false, summary: 'unchanged' }, `${name}: a second apply changes nothing`);
          if (name === 'STATE1') {
            // The diffs the kernel's table leads to, spelled out: every ipvsadm edit form is exercised for real.
            assert.deepEqual(diffIpvs(parseIpvsadm(table), STATE2), [
              '-d -t 192.168.1.100:80 -r 10.0.0.12:80',
              '-e -t 192.168.1.100:80 -r 10.0.0.13:8080 -m -w 4',
              '-a -t 192.168.1.100:80 -r 10.0.0.15:80 -m -w 1',
              '-E -t 192.168.1.100:22 -s wrr',
            ]);
          }
          if (name === 'STATE2') {
            assert.deepEqual(diffIpvs(parseIpvsadm(table), STATE3), [
              '-D -t 192.168.1.100:80',
              '-A -t 192.168.1.100:80 -s wlc',
              '-a -t 192.168.1.100:80 -r 10.0.0.11:80 -m -w 1',
              '-a -t 192.168.1.100:80 -r 10.0.0.13:8080 -m -w 4',
              '-a -t 192.168.1.100:80 -r 10.0.0.15:80 -m -w 1',
            ]);
          }
        }
        // stop removes rackboot's virtual services, and only those.
        await backend.stop(false);
        assert.deepEqual(lines(await kernelTable()), FOREIGN.slice().sort());
      } catch (e) {
        if (e instanceof Error) e.message += console_();
        throw e;
      }
      shell.quit();
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000).unref())]);
      assert.notEqual(code, 'timeout', `the guest did not power off${console_()}`);
    } finally {
      shell?.close();
      if (vm && vm.exitCode === null && vm.signalCode === null) vm.kill('SIGKILL');
    }
  });
});
