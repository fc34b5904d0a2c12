// Who asks (firmware PXE, UEFI HTTP boot, iPXE, syslinux.efi, the OS) and what
// each gets, from requests shaped like the captured ones (docs/boot-flow.md).
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../../server/main/config.js';
import { BootStages, classify, STAGE_MS } from '../../../server/dhcp/asker.js';
import { decode } from '../../../server/dhcp/codec.js';
import { encode } from '../../../server/dhcp/codec.js';
import { LeaseTable } from '../../../server/dhcp/leases.js';
import { MSG, OPT } from '../../../server/dhcp/options.js';
import { decide, policyNetwork, type KnownClient, type PolicyInput } from '../../../server/dhcp/policy.js';
import { readRequest } from '../../../server/dhcp/request.js';
import { rawRequest, str, type RawRequest } from './packets.js';

const cfg = resolveConfig({ networks: [{ name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', staticRange: '10.0.0.10-10.0.0.199' }] }, null, {});
const inside = policyNetwork(cfg.networkByName.get('inside')!, 'cluster.local', 3_600_000, [], 'http://10.0.0.1:8080', true);
const NOW = 1_700_000_000_000;
const node = (loader: KnownClient['loader']): KnownClient => ({ node: 'blade1', iface: 'eth0', mac: '52:54:00:00:0a:01', network: 'inside', ip: 0x0a00000b, loader });

// Option bytes as the clients send them.
const OVMF_PXE = [93, 2, 0, 7, 60, 32, ...str('PXEClient:Arch:00007:UNDI:003000')];
const OVMF_HTTP = [93, 2, 0, 16, 60, 33, ...str('HTTPClient:Arch:00016:UNDI:003000')];
const IPXE_BIOS = [93, 2, 0, 0, 60, 32, ...str('PXEClient:Arch:00000:UNDI:002001'), 77, 4, ...str('iPXE'), 175, 3, 0xb1, 1, 1];
const SYSLINUX_EFI = [55, 3, 1, 3, 6];
const UDHCPC = [60, 12, ...str('udhcp 1.35.0'), 55, 7, 1, 3, 6, 12, 15, 28, 42];

function input(raw: RawRequest, over: Partial<PolicyInput>): PolicyInput {
  const d = decode(rawRequest(raw));
  if (!d.ok) throw new Error(d.error);
  const r = readRequest(d.value);
  if (!r.ok) throw new Error(r.error);
  return { req: r.value, net: inside, known: undefined, leases: new LeaseTable(), now: NOW, offerMs: 30_000, mayOffer: true, ...over };
}

function packet(dec: ReturnType<typeof decide>) {
  const e = encode(dec.reply!, dec.fit);
  assert.ok(e.ok);
  const d = decode(e.ok ? e.value : Buffer.alloc(0));
  assert.ok(d.ok);
  return d.ok ? d.value : undefined!;
}

describe('dhcp: who asks', () => {
  const req = (o: Partial<Parameters<typeof classify>[0]>) => ({ arch: undefined, isIpxe: false, vendorClass: undefined, macNum: 1, xid: 7, ...o });
  it('firmware PXE, UEFI HTTP boot and iPXE by options 60, 77/175 and 93', () => {
    assert.deepEqual(classify(req({ arch: 7, vendorClass: 'PXEClient:Arch:00007' }), undefined, NOW), { asker: 'pxe-firmware', firmware: 'efi64' });
    assert.deepEqual(classify(req({ arch: 0, vendorClass: 'PXEClient:Arch:00000' }), undefined, NOW), { asker: 'pxe-firmware', firmware: 'bios' });
    assert.deepEqual(classify(req({ arch: 16, vendorClass: 'HTTPClient:Arch:00016' }), undefined, NOW), { asker: 'http-firmware', firmware: 'efi-http' });
    assert.deepEqual(classify(req({ arch: 0, isIpxe: true, vendorClass: 'PXEClient' }), undefined, NOW), { asker: 'ipxe', firmware: 'bios' });
    assert.deepEqual(classify(req({ arch: 7, isIpxe: true }), undefined, NOW), { asker: 'ipxe', firmware: 'efi64' });
  });
  it('no 60/77/93/175: the OS, unless its firmware was just handed syslinux.efi (then that exchange, by xid, is the loader)', () => {
    const stages = new BootStages();
    assert.deepEqual(classify(req({ vendorClass: 'udhcp 1.35.0' }), stages.get(1), NOW), { asker: 'os', firmware: undefined });
    const fw = req({ arch: 7, vendorClass: 'PXEClient:Arch:00007' });
    stages.note(fw.macNum, fw.xid, classify(fw, undefined, NOW), 'syslinux.efi', NOW);
    const own = req({ xid: 10 });
    const c = classify(own, stages.get(1), NOW + 500);
    assert.deepEqual(c, { asker: 'syslinux', firmware: 'efi64' });
    stages.note(own.macNum, own.xid, c, 'syslinux.efi', NOW + 500);
    // Its REQUEST (same xid) too; the next exchange (Linux) is the OS.
    assert.equal(classify(own, stages.get(1), NOW + 900).asker, 'syslinux');
    assert.equal(classify(req({ xid: 11 }), stages.get(1), NOW + 9000).asker, 'os');
    // A loader that does no DHCP of its own (pxelinux.0, grubx64.efi): the next bare request is the OS.
    stages.note(fw.macNum, fw.xid, classify(fw, undefined, NOW), 'grubx64.efi', NOW);
    assert.equal(classify(req({ xid: 12 }), stages.get(1), NOW + 100).asker, 'os');
    // GRUB from the Secure Boot HTTP image takes an address of its own (net_bootp).
    const http = req({ arch: 16, vendorClass: 'HTTPClient:Arch:00016' });
    stages.note(http.macNum, http.xid, classify(http, undefined, NOW), 'http://10.0.0.1:8080/boot/files/sb/http-10.0.0.1.img', NOW);
    assert.deepEqual(classify(req({ xid: 20 }), stages.get(1), NOW + 3000), { asker: 'grub', firmware: 'efi-http' });
    // Long after: the OS.
    stages.note(fw.macNum, fw.xid, classify(fw, undefined, NOW), 'syslinux.efi', NOW);
    assert.equal(classify(req({ xid: 13 }), stages.get(1), NOW + STAGE_MS + 1).asker, 'os');
  });
  it('the stage memory is bounded', () => {
    const s = new BootStages(3);
    const fw = (m: number) => req({ macNum: m, arch: 0, vendorClass: 'PXEClient' });
    for (const m of [1, 2, 3, 4]) s.note(m, 7, classify(fw(m), undefined, NOW), 'pxelinux.0', NOW);
    assert.equal(s.get(1), undefined);
    assert.ok(s.get(4));
  });
});

describe('dhcp: each asker gets its answer (events record who and what was handed out)', () => {
  it("firmware gets the loader; syslinux.efi's own DHCP gets it again with 209; Linux's udhcpc gets a plain lease", () => {
    const stages = new BootStages();
    const known = node('pxelinux');
    const step = (options: number[], xid: number, t: number) => {
      const i = input({ type: MSG.DISCOVER, xid, options }, { known, stage: stages.get(0x525400000a01), now: t });
      const dec = decide(i);
      stages.note(i.req.macNum, xid, dec.who!, dec.boot?.file, t);
      return dec;
    };
    const fw = step(OVMF_PXE, 1, NOW);
    assert.deepEqual([fw.who?.asker, fw.who?.firmware, fw.boot?.file], ['pxe-firmware', 'efi64', 'syslinux.efi']);
    const sl = step(SYSLINUX_EFI, 2, NOW + 400);
    assert.deepEqual([sl.who?.asker, sl.who?.firmware, sl.boot?.file], ['syslinux', 'efi64', 'syslinux.efi']);
    const p = packet(sl);
    assert.equal(p.options.get(OPT.PXELINUX_CONFIG_FILE)!.toString(), 'pxelinux.cfg/01-52-54-00-00-0a-01');
    assert.ok(!p.options.has(OPT.VENDOR_CLASS), 'it sent no class: none back');
    const os = step(UDHCPC, 3, NOW + 20_000);
    assert.deepEqual([os.who?.asker, os.who?.firmware, os.boot], ['os', undefined, undefined]);
    const q = packet(os);
    assert.equal(q.file, '');
    assert.ok(!q.options.has(OPT.BOOTFILE) && !q.options.has(OPT.PXELINUX_CONFIG_FILE) && !q.options.has(OPT.VENDOR_SPECIFIC));
    assert.equal(q.yiaddr, 0x0a00000b, 'the same address');
  });
  it('UEFI HTTP boot of a pxelinux node: ipxe.efi, then iPXE gets the node\'s script', () => {
    const known = node('pxelinux');
    const fw = decide(input({ type: MSG.DISCOVER, options: OVMF_HTTP }, { known }));
    assert.equal(fw.boot?.file, 'http://10.0.0.1:8080/boot/files/ipxe.efi');
    assert.equal(fw.boot?.standIn?.loader, 'ipxe');
    const ipxe = decide(input({ type: MSG.DISCOVER, options: [93, 2, 0, 7, 77, 4, ...str('iPXE'), 175, 3, 0xb1, 1, 1] }, { known }));
    assert.deepEqual([ipxe.who?.asker, ipxe.boot?.file], ['ipxe', 'http://10.0.0.1:8080/boot/ipxe/52:54:00:00:0a:01']);
  });
  it("QEMU's BIOS iPXE ROM with a pxelinux node: pxelinux.0, recorded as iPXE", () => {
    const d = decide(input({ type: MSG.DISCOVER, options: IPXE_BIOS }, { known: node('pxelinux') }));
    assert.deepEqual([d.who?.asker, d.who?.firmware, d.boot?.file], ['ipxe', 'bios', 'pxelinux.0']);
  });
});
