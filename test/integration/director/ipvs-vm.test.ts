// The ipvs backend's rules applied for real. This machine's kernel has no
// IPVS, so the test boots Debian's cloud kernel (which has ip_vs) in QEMU with
// a tiny RAM disk: static busybox, ipvsadm and its libraries, the ip_vs
// modules. Its init loads the modules, feeds rackboot's rendered table to
// `ipvsadm -R`, prints `ipvsadm -Sn`, then applies rackboot's diff to a second
// state and prints the table again; the test compares both with the states.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { diffIpvs, parseIpvsadm, renderIpvsadm } from '../../../server/director/backends/ipvs.js';
import type { DesiredState } from '../../../server/director/desired.js';
import { parseIpv4 } from '../../../server/net/ipv4.js';
import { requireLab } from '../../helpers/env.js';
import { run, sh } from '../../helpers/netns.js';
import { ensureKernel, moduleLoadOrder } from '../../lab/kernel.js';

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
// blade2 left the pool, blade3's weight changed, blade5 joined, web lost persistence, ssh went to wrr.
const STATE2: DesiredState = {
  ...STATE1,
  services: [
    { ...STATE1.services[0]!, persistenceSec: undefined, servers: [server(1, 1), server(3, 4, 8080), server(5, 1)] },
    STATE1.services[1]!,
    { ...STATE1.services[2]!, scheduler: 'wrr' },
  ],
};
const MODULES = ['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_lc', 'ip_vs_wlc', 'ip_vs_sh'];

const lines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .sort();

function section(out: string, name: string): string {
  const m = new RegExp(`RB-${name}-BEGIN\\r?\\n([\\s\\S]*?)RB-${name}-END`).exec(out);
  if (!m) throw new Error(`no ${name} section in the VM's console:\n${out.slice(-3000)}`);
  return m[1]!.replace(/\r/g, '');
}

describe('ipvs backend in a VM whose kernel has IPVS', () => {
  test('ipvsadm -R takes the rendered table and the diff; ipvsadm -Sn reads back both states', { timeout: 600_000 }, async (t) => {
    if (!requireLab(t, { root: true, commands: ['qemu-system-x86_64', 'ipvsadm', 'cpio', 'gzip', 'apt-get', 'dpkg', 'depmod'] })) return;
    const kernel = ensureKernel();
    const dir = mkdtempSync(join(tmpdir(), 'rb-ipvs-vm-'));
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
      writeFileSync(join(root, 'rules1'), renderIpvsadm(STATE1));
      const diff = diffIpvs(parseIpvsadm(renderIpvsadm(STATE1)), STATE2);
      writeFileSync(join(root, 'rules2'), diff.join('\n') + '\n');
      writeFileSync(
        join(root, 'init'),
        [
          '#!/bin/busybox sh',
          '/bin/busybox --install -s /bin',
          'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev',
          ...mods.map((m) => `insmod /lib/modules/${m} || echo "RB-INSMOD-FAILED ${m}"`),
          // IPVS accepts a real server only at a unicast-routed address: a director has a route to its inside network.
          'ip link set lo up; ip route add 10.0.0.0/24 dev lo',
          'echo RB-ONE-BEGIN; /sbin/ipvsadm -R < /rules1 && /sbin/ipvsadm -Sn; echo RB-ONE-END',
          'echo RB-TWO-BEGIN; /sbin/ipvsadm -R < /rules2 && /sbin/ipvsadm -Sn; echo RB-TWO-END',
          'poweroff -f',
        ].join('\n') + '\n',
      );
      chmodSync(join(root, 'init'), 0o755);
      mkdirSync(join(root, 'proc'));
      mkdirSync(join(root, 'sys'));
      mkdirSync(join(root, 'dev'));
      const initrd = join(dir, 'initrd.gz');
      sh('sh', ['-c', `cd '${root}' && find . | cpio -o -H newc --quiet | gzip -1 > '${initrd}'`]);
      const vm = await run(
        'qemu-system-x86_64',
        ['-accel', 'tcg', '-m', '256', '-nographic', '-no-reboot', '-nic', 'none', '-kernel', kernel.vmlinuz, '-initrd', initrd, '-append', 'console=ttyS0 panic=-1 quiet'],
        { timeoutMs: 300_000 },
      );
      const out = vm.stdout;
      assert.doesNotMatch(out, /RB-INSMOD-FAILED/, out.slice(-2000));
      assert.deepEqual(lines(section(out, 'ONE')), lines(renderIpvsadm(STATE1)), 'the table after ipvsadm -R of the rendered state');
      assert.deepEqual(lines(section(out, 'TWO')), lines(renderIpvsadm(STATE2)), 'the table after the diff');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
