// Which boot-config names the renderer answers and how each finds its node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BPBATCH, GRUB, IPXE, PXELINUX } from '../../../server/boot/loaders.js';
import { parseConfigPath } from '../../../server/render/names.js';

const mac = '52:54:00:00:0a:01';

test('PXELINUX: per MAC, per full hex address, default; shortened hex names are not ours', () => {
  assert.deepEqual(parseConfigPath(PXELINUX.configFile(mac)), { loader: 'pxelinux', by: 'mac', mac });
  assert.deepEqual(parseConfigPath('pxelinux.cfg/01-52-54-00-00-0A-01'), { loader: 'pxelinux', by: 'mac', mac });
  assert.deepEqual(parseConfigPath('pxelinux.cfg/0A00000B'), { loader: 'pxelinux', by: 'hexip', address: '10.0.0.11' });
  assert.deepEqual(parseConfigPath('pxelinux.cfg/c0a8000b'), { loader: 'pxelinux', by: 'hexip', address: '192.168.0.11' });
  for (const short of ['0A00000', '0A0000', '0A', '0']) assert.equal(parseConfigPath(`pxelinux.cfg/${short}`), undefined, short);
  assert.deepEqual(parseConfigPath(PXELINUX.default), { loader: 'pxelinux', by: 'requester' });
  assert.equal(parseConfigPath('pxelinux.cfg/b8945908-d6a6-41a9-611d-74a6ab80b83d'), undefined);
  assert.equal(parseConfigPath('pxelinux.cfg/01-zz'), undefined);
});

test('GRUB: per MAC (dashes or the colons of $net_default_mac), per hex address, grub.cfg', () => {
  assert.deepEqual(parseConfigPath(GRUB.configFile(mac)), { loader: 'grub', by: 'mac', mac });
  assert.deepEqual(parseConfigPath(`grub/grub.cfg-01-${mac}`), { loader: 'grub', by: 'mac', mac });
  assert.deepEqual(parseConfigPath('grub.cfg-0A00000B'), { loader: 'grub', by: 'hexip', address: '10.0.0.11' });
  assert.deepEqual(parseConfigPath(GRUB.default), { loader: 'grub', by: 'requester' });
  assert.deepEqual(parseConfigPath('grub.cfg'), { loader: 'grub', by: 'requester' });
  assert.equal(parseConfigPath('grub/grub.cfg-0A0000'), undefined);
  assert.equal(parseConfigPath('grub/x86_64-efi/normal.mod'), undefined);
});

test('iPXE by MAC, bpbatch by address or per MAC; other paths are not ours', () => {
  assert.deepEqual(parseConfigPath(IPXE.script(mac)), { loader: 'ipxe', by: 'mac', mac });
  assert.deepEqual(parseConfigPath('boot/ipxe/52-54-00-00-0A-01'), { loader: 'ipxe', by: 'mac', mac });
  assert.deepEqual(parseConfigPath('boot/ipxe'), { loader: 'ipxe', by: 'requester' });
  assert.equal(parseConfigPath('boot/ipxe/kernel'), undefined);
  assert.deepEqual(parseConfigPath(BPBATCH.byAddress), { loader: 'bpbatch', by: 'requester' });
  // What DHCP option 155 names (bpb-<mac>) is what bpbatch fetches with .bpb appended.
  assert.equal(BPBATCH.scriptPath(mac), `${BPBATCH.commandLine(mac)}.bpb`);
  assert.deepEqual(parseConfigPath(BPBATCH.scriptPath(mac)), { loader: 'bpbatch', by: 'mac', mac });
  assert.deepEqual(parseConfigPath('bpb-525400000A01.bpb'), { loader: 'bpbatch', by: 'mac', mac });
  assert.equal(parseConfigPath('bpb-5254.bpb'), undefined);
  for (const p of ['pxelinux.0', 'boot/blade1/kernel', 'boot/blade1/initrd', 'ldlinux.c32', 'bpbatch.P', 'grubx64.efi']) assert.equal(parseConfigPath(p), undefined, p);
});

test('the discovery boot paths are the ones the images service serves', async () => {
  const { DISCOVER_BOOT } = await import('../../../server/boot/loaders.js');
  const { DISCOVER_NODE } = await import('../../../server/images/provider.js');
  assert.equal(DISCOVER_BOOT.node, DISCOVER_NODE);
  assert.equal(DISCOVER_BOOT.kernel, `boot/${DISCOVER_NODE}/kernel`);
  assert.equal(DISCOVER_BOOT.initrd, `boot/${DISCOVER_NODE}/initrd`);
});
