// A small busybox RAM disk made the classic way (`find | cpio -o -H newc |
// gzip`), for the dnsmasq reference boot when no rackboot image is at hand.
// Its init loads the virtio NIC driver, takes DHCP on eth0 and eth1 and says
// so on the console ("rblab: eth0 10.0.0.11/24"), starts busybox httpd with a
// page naming the blade ("served by blade1"), then says "rblab: up".
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { sh } from '../helpers/netns.js';
import { moduleLoadOrder, type Kernel } from './kernel.js';

const BUSYBOX = '/bin/busybox';

export const NIC_MODULES = ['virtio_pci', 'virtio_net'];

function initScript(modules: string[]): string {
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "rblab: init"
for m in ${modules.join(' ')}; do insmod /lib/modules/$m; done
for i in eth0 eth1; do
  ip link set $i up
  if udhcpc -i $i -n -q -t 10 -T 1 -s /etc/udhcpc.sh >/dev/null 2>&1; then
    echo "rblab: $i $(ip -4 -o addr show dev $i | awk '{print $4}')"
  else
    echo "rblab: $i no lease"
  fi
done
name=$(cat /etc/hostname 2>/dev/null)
mkdir -p /www
echo "<html><body>rblab reference page, served by \${name:-unknown}</body></html>" > /www/index.html
httpd -p 80 -h /www
echo "rblab: up"
while true; do sleep 3600; done
`;
}

const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in bound|renew)
  ip addr add "$ip/\${mask:-24}" dev "$interface"
  [ -n "$hostname" ] && echo "$hostname" > /etc/hostname
  [ "$interface" = eth0 ] && [ -n "$router" ] && ip route replace default via "\${router%% *}" dev eth0
  ;;
esac
exit 0
`;

/** Builds <outDir>/ref-initrd.gz and returns its path. */
export function buildReferenceInitrd(kernel: Kernel, outDir: string): string {
  const root = join(outDir, 'ref-initrd-root');
  rmSync(root, { recursive: true, force: true });
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'lib/modules', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  const files = moduleLoadOrder(kernel.modulesDir, NIC_MODULES);
  for (const f of files) copyFileSync(join(kernel.modulesDir, f), join(root, 'lib', 'modules', basename(f)));
  writeFileSync(join(root, 'init'), initScript(files.map((f) => basename(f))), { mode: 0o755 });
  writeFileSync(join(root, 'etc', 'udhcpc.sh'), UDHCPC_SCRIPT, { mode: 0o755 });
  const out = join(outDir, 'ref-initrd.gz');
  sh('sh', ['-c', `cd '${root}' && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -6 > '${out}'`], { timeoutMs: 120_000 });
  rmSync(root, { recursive: true, force: true });
  return out;
}
