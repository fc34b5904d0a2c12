import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../../server/main/config.js';
import { chooseBoot } from '../../../server/dhcp/bootfile.js';
import { decode, encode } from '../../../server/dhcp/codec.js';
import { LeaseTable } from '../../../server/dhcp/leases.js';
import { MSG, OPT } from '../../../server/dhcp/options.js';
import { decide, policyNetwork, type KnownClient, type PolicyInput } from '../../../server/dhcp/policy.js';
import { readRequest } from '../../../server/dhcp/request.js';
import { replyDestination } from '../../../server/dhcp/addressing.js';
import { ip, rawRequest, str, type RawRequest } from './packets.js';

const cfg = resolveConfig(
  {
    networks: [
      { name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', router: '10.0.0.254', dns: ['10.0.0.1'], staticRange: '10.0.0.10-10.0.0.199', dynamicRange: '10.0.0.200-10.0.0.202' },
      { name: 'closed', interface: 'eth2', cidr: '10.0.1.0/24', serverAddress: '10.0.1.1' },
    ],
  },
  null,
  {},
);
const inside = policyNetwork(cfg.networkByName.get('inside')!, 'cluster.local', 3_600_000, [], 'http://10.0.0.1:8080', true);
const closed = policyNetwork(cfg.networkByName.get('closed')!, 'cluster.local', 3_600_000, [], 'http://10.0.1.1:8080');
const blade: KnownClient = { node: 'blade1', iface: 'eth0', mac: '52:54:00:00:0a:01', network: 'inside', ip: 0x0a00000b, loader: 'pxelinux' };
const NOW = 1_700_000_000_000;

function input(raw: RawRequest, over: Partial<PolicyInput> = {}): PolicyInput {
  const d = decode(rawRequest(raw));
  if (!d.ok) throw new Error(d.error);
  const r = readRequest(d.value);
  if (!r.ok) throw new Error(r.error);
  return { req: r.value, net: inside, known: undefined, leases: new LeaseTable(), now: NOW, offerMs: 30_000, mayOffer: true, ...over };
}

function replyOptions(dec: ReturnType<typeof decide>) {
  assert.ok(dec.reply, `expected a reply, got ${dec.outcome}: ${dec.reason}`);
  const e = encode(dec.reply, dec.fit);
  assert.ok(e.ok);
  const d = decode(e.ok ? e.value : Buffer.alloc(0));
  assert.ok(d.ok);
  return d.ok ? d.value : undefined!;
}

const unknownMac = [0x02, 0, 0, 0, 0, 9];

describe('dhcp policy', () => {
  it('offers a known MAC its registered address with its network settings, options in option 55 order', () => {
    const dec = decide(input({ type: MSG.DISCOVER, options: [55, 5, 6, 3, 1, 15, 12, 93, 2, 0, 0] }, { known: blade }));
    assert.equal(dec.outcome, 'offer');
    const p = replyOptions(dec);
    assert.equal(p.yiaddr, 0x0a00000b);
    assert.equal(p.siaddr, 0x0a000001);
    assert.equal(p.file, 'pxelinux.0');
    assert.deepEqual([...p.options.keys()].slice(0, 7), [53, 54, 6, 3, 1, 15, 12]);
    assert.equal(p.options.get(OPT.HOSTNAME)!.toString(), 'blade1');
    assert.equal(p.options.get(OPT.DOMAIN)!.toString(), 'cluster.local');
    assert.equal(p.options.get(OPT.LEASE_TIME)!.readUInt32BE(0), 3600);
    assert.equal(p.options.get(OPT.RENEWAL_T1)!.readUInt32BE(0), 1800);
    assert.equal(p.options.get(OPT.REBINDING_T2)!.readUInt32BE(0), 3150);
    assert.equal(p.options.get(OPT.PXELINUX_CONFIG_FILE)!.toString(), 'pxelinux.cfg/01-52-54-00-00-0a-01');
    assert.equal(p.options.get(OPT.PXELINUX_PATH_PREFIX)!.toString(), '/');
    assert.equal(dec.lease?.op, 'offer');
  });

  it('ignores unknown MACs on a network without a dynamic range', () => {
    const dec = decide(input({ type: MSG.DISCOVER, mac: unknownMac }, { net: closed }));
    assert.equal(dec.outcome, 'ignored');
    assert.match(dec.reason, /unknown MAC/);
  });

  it("gives unknown MACs plain leases from the dynamic range; an OS's client gets no boot file", () => {
    const leases = new LeaseTable();
    const dec = decide(input({ type: MSG.DISCOVER, mac: unknownMac }, { leases }));
    assert.equal(dec.outcome, 'offer');
    const p = replyOptions(dec);
    assert.equal(p.yiaddr, 0x0a0000c8);
    assert.equal(p.file, '');
    assert.ok(!p.options.has(OPT.HOSTNAME));
    assert.ok(!p.options.has(OPT.VENDOR_CLASS));
  });

  it("an unknown machine's PXE firmware gets the default loader and no per-MAC config: it walks to the default (discovery) config", () => {
    const pxe = (arch: number, extra: number[] = []) =>
      replyOptions(decide(input({ type: MSG.DISCOVER, mac: unknownMac, options: [60, 32, ...str(`PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:003016`), 93, 2, 0, arch, ...extra] }, { leases: new LeaseTable() })));
    const bios = pxe(0);
    assert.equal(bios.file, 'pxelinux.0');
    assert.equal(bios.siaddr, 0x0a000001);
    assert.equal(bios.options.get(OPT.VENDOR_CLASS)!.toString(), 'PXEClient');
    assert.deepEqual([...bios.options.get(OPT.VENDOR_SPECIFIC)!], [6, 1, 8, 255]);
    // No 209/210: PXELINUX would read only the named file; without them it tries its MAC, address, then `default`.
    assert.ok(!bios.options.has(OPT.PXELINUX_CONFIG_FILE));
    assert.ok(!bios.options.has(OPT.PXELINUX_PATH_PREFIX));
    assert.ok(!bios.options.has(OPT.HOSTNAME));
    assert.equal(pxe(7).file, 'syslinux.efi');
    // An iPXE ROM (user class iPXE) without a PXE vendor class is network boot too.
    const ipxe = replyOptions(decide(input({ type: MSG.DISCOVER, mac: unknownMac, options: [77, 4, ...str('iPXE')] }, { leases: new LeaseTable() })));
    assert.equal(ipxe.file, 'pxelinux.0');
    // The ACK carries the same.
    const ack = decide(input({ type: MSG.REQUEST, mac: unknownMac, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...ip('10.0.0.200'), 60, 32, ...str('PXEClient:Arch:00000:UNDI:002001')] }, { leases: new LeaseTable() }));
    assert.equal(ack.outcome, 'ack', ack.reason);
    assert.equal(replyOptions(ack).file, 'pxelinux.0');
    // Firmware with no loader here (ARM64 UEFI, arch 11): a plain lease, no 60/43 that would
    // look like a complete PXE offer to a client another PXE server could boot.
    const arm = pxe(11);
    assert.equal(arm.file, '');
    assert.ok(!arm.options.has(OPT.VENDOR_CLASS) && !arm.options.has(OPT.VENDOR_SPECIFIC));
    // dhcp.bootUnknown false (or dhcp.discovery on): plain leases for unknown machines.
    const off = decide(input({ type: MSG.DISCOVER, mac: unknownMac, options: [60, 32, ...str('PXEClient:Arch:00000:UNDI:002001'), 93, 2, 0, 0] }, { leases: new LeaseTable(), net: { ...inside, bootUnknown: false } }));
    assert.equal(off.outcome, 'offer');
    assert.equal(replyOptions(off).file, '');
    assert.ok(!replyOptions(off).options.has(OPT.VENDOR_CLASS));
  });

  it('PXE clients get option 60 PXEClient, 43 discovery control, 97 echoed', () => {
    const uuid = [0, ...Array.from({ length: 16 }, (_, i) => i)];
    const dec = decide(input({ type: MSG.DISCOVER, options: [60, 32, ...str('PXEClient:Arch:00000:UNDI:002001'), 93, 2, 0, 0, 97, 17, ...uuid] }, { known: blade }));
    const p = replyOptions(dec);
    assert.equal(p.options.get(OPT.VENDOR_CLASS)!.toString(), 'PXEClient');
    assert.deepEqual([...p.options.get(OPT.VENDOR_SPECIFIC)!], [6, 1, 8, 255]);
    assert.deepEqual([...p.options.get(OPT.UUID)!], uuid);
  });

  it('echoes option 82 to relays, last', () => {
    const dec = decide(input({ type: MSG.DISCOVER, giaddr: ip('10.0.0.5'), options: [82, 6, 1, 4, 9, 9, 9, 9] }, { known: blade }));
    const e = encode(dec.reply!, dec.fit);
    assert.ok(e.ok);
    if (!e.ok) return;
    let last = 0;
    for (let i = 240; e.value[i] !== 255; i += 2 + e.value[i + 1]!) last = e.value[i]!;
    assert.equal(last, 82);
    assert.deepEqual(replyDestination(dec.reply!, MSG.OFFER, 67, true), { address: 0x0a000005, port: 67, via: 'relay' });
  });

  it('SELECTING: ACK for our server id, silence (and the offer freed) for another', () => {
    const ours = decide(input({ type: MSG.REQUEST, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...ip('10.0.0.11')] }, { known: blade }));
    assert.equal(ours.outcome, 'ack');
    assert.equal(ours.lease?.op, 'bind');
    const other = decide(input({ type: MSG.REQUEST, options: [54, 4, ...ip('10.0.0.99'), 50, 4, ...ip('10.0.0.11')] }, { known: blade }));
    assert.equal(other.outcome, 'ignored');
    assert.equal(other.reply, undefined);
    assert.equal(other.lease?.op, 'drop-offer');
  });

  it('INIT-REBOOT and RENEWING with a wrong address get a NAK, broadcast', () => {
    const reboot = decide(input({ type: MSG.REQUEST, options: [50, 4, ...ip('10.0.0.99')] }, { known: blade }));
    assert.equal(reboot.outcome, 'nak');
    const p = replyOptions(reboot);
    assert.equal(p.options.get(OPT.MESSAGE_TYPE)![0], MSG.NAK);
    assert.equal(p.yiaddr, 0);
    assert.deepEqual(replyDestination({ giaddr: 0, ciaddr: 0, flags: 0 }, MSG.NAK, 67, true)?.via, 'broadcast');
    const renew = decide(input({ type: MSG.REQUEST, ciaddr: ip('10.0.0.12') }, { known: blade }));
    assert.equal(renew.outcome, 'nak');
    const wrongNet = decide(input({ type: MSG.REQUEST, options: [50, 4, ...ip('192.168.7.7')] }, { known: blade }));
    assert.equal(wrongNet.outcome, 'nak');
  });

  it('RENEWING with the right address: ACK with ciaddr, unicast to ciaddr', () => {
    const dec = decide(input({ type: MSG.REQUEST, ciaddr: ip('10.0.0.11') }, { known: blade }));
    assert.equal(dec.outcome, 'ack');
    assert.equal(dec.reply!.ciaddr, 0x0a00000b);
    assert.deepEqual(replyDestination(dec.reply!, MSG.ACK, 67, true), { address: 0x0a00000b, port: 68, via: 'ciaddr' });
  });

  it('INIT-REBOOT from a client with no record and an address we do not own: silence', () => {
    const dec = decide(input({ type: MSG.REQUEST, mac: unknownMac, options: [50, 4, ...ip('10.0.0.50')] }));
    assert.equal(dec.outcome, 'ignored');
  });

  it('DECLINE marks the address, and a declined registered address is not offered', () => {
    const leases = new LeaseTable();
    const dec = decide(input({ type: MSG.DECLINE, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...ip('10.0.0.11')] }, { known: blade, leases }));
    assert.equal(dec.outcome, 'declined');
    assert.deepEqual(dec.lease, { op: 'decline', ip: 0x0a00000b });
    leases.set({ network: 'inside', ip: 0x0a00000b, mac: blade.mac, owner: blade.mac, clientId: null, hostname: null, state: 'declined', expiresAt: NOW, updatedAt: NOW });
    const again = decide(input({ type: MSG.DISCOVER }, { known: blade, leases }));
    assert.equal(again.outcome, 'ignored');
    assert.match(again.reason, /declined/);
  });

  it('a declined dynamic address is skipped by the allocator', () => {
    const leases = new LeaseTable();
    leases.set({ network: 'inside', ip: 0x0a0000c8, mac: 'x', owner: 'x', clientId: null, hostname: null, state: 'declined', expiresAt: 0, updatedAt: 0 });
    const dec = decide(input({ type: MSG.DISCOVER, mac: unknownMac }, { leases }));
    assert.equal(dec.ip, 0x0a0000c9);
  });

  it('RELEASE of the own address releases; of another address is ignored', () => {
    const ok = decide(input({ type: MSG.RELEASE, ciaddr: ip('10.0.0.11'), options: [54, 4, ...ip('10.0.0.1')] }, { known: blade }));
    assert.equal(ok.outcome, 'released');
    const no = decide(input({ type: MSG.RELEASE, ciaddr: ip('10.0.0.12'), options: [54, 4, ...ip('10.0.0.1')] }, { known: blade }));
    assert.equal(no.outcome, 'ignored');
  });

  it('INFORM: ACK without yiaddr and without lease time, to ciaddr', () => {
    const dec = decide(input({ type: MSG.INFORM, ciaddr: ip('10.0.0.11') }, { known: blade }));
    assert.equal(dec.outcome, 'ack');
    const p = replyOptions(dec);
    assert.equal(p.yiaddr, 0);
    assert.equal(p.ciaddr, 0x0a00000b);
    assert.ok(!p.options.has(OPT.LEASE_TIME));
    assert.ok(p.options.has(OPT.SUBNET_MASK));
  });

  it('pool exhaustion and the pending-offer bound end in silence, not a loop', () => {
    const leases = new LeaseTable();
    for (let i = 0; i < 3; i++) {
      const dec = decide(input({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 1, i] }, { leases }));
      assert.equal(dec.outcome, 'offer');
      leases.set({ network: 'inside', ip: dec.ip!, mac: String(i), owner: `02:00:00:00:01:0${i}`, clientId: null, hostname: null, state: 'offered', expiresAt: NOW + 30_000, updatedAt: NOW });
    }
    const full = decide(input({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 1, 9] }, { leases }));
    assert.equal(full.outcome, 'ignored');
    assert.match(full.reason, /exhausted/);
    const capped = decide(input({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 1, 8] }, { leases: new LeaseTable(), mayOffer: false }));
    assert.match(capped.reason, /pending offers/);
    // Offers lapse: the address is free again.
    const later = decide(input({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 1, 9] }, { leases, now: NOW + 31_000 }));
    assert.equal(later.outcome, 'offer');
  });

  it('an unknown MAC where there is no dynamic range gets no NAK, whatever it requests (the LAN is not ours)', () => {
    const cases: RawRequest[] = [
      { type: MSG.REQUEST, mac: unknownMac, options: [50, 4, ...ip('192.168.7.7')] }, // INIT-REBOOT, another network's address
      { type: MSG.REQUEST, mac: unknownMac, options: [50, 4, ...ip('10.0.1.50')] }, // INIT-REBOOT, this network's address
      { type: MSG.REQUEST, mac: unknownMac, ciaddr: ip('192.168.7.7') }, // RENEWING
      { type: MSG.REQUEST, mac: unknownMac, options: [54, 4, ...ip('10.0.1.1'), 50, 4, ...ip('192.168.7.7')] }, // SELECTING us
    ];
    for (const raw of cases) {
      const dec = decide(input(raw, { net: closed }));
      assert.equal(dec.outcome, 'ignored', `${JSON.stringify(raw.options ?? raw.ciaddr)}: ${dec.reason}`);
      assert.equal(dec.reply, undefined);
      assert.match(dec.reason, /unknown MAC/);
    }
  });

  it('INIT-REBOOT with no record of the client is silent, also for a free address in the dynamic range (RFC 2131 4.3.2)', () => {
    const leases = new LeaseTable();
    for (const want of ['10.0.0.200', '10.0.0.50']) {
      const dec = decide(input({ type: MSG.REQUEST, mac: unknownMac, options: [50, 4, ...ip(want)] }, { leases }));
      assert.equal(dec.outcome, 'ignored', `${want}: ${dec.reason}`);
      assert.equal(dec.lease, undefined);
    }
    // Its own lease at that address: ACK. A record for another address: NAK (its notion is wrong).
    leases.set({ network: 'inside', ip: 0x0a0000c9, mac: '02:00:00:00:00:09', owner: '02:00:00:00:00:09', clientId: null, hostname: null, state: 'bound', expiresAt: NOW + 60_000, updatedAt: NOW });
    assert.equal(decide(input({ type: MSG.REQUEST, mac: unknownMac, options: [50, 4, ...ip('10.0.0.201')] }, { leases })).outcome, 'ack');
    const other = decide(input({ type: MSG.REQUEST, mac: unknownMac, options: [50, 4, ...ip('10.0.0.202')] }, { leases }));
    assert.equal(other.outcome, 'nak');
    assert.match(other.reason, /lease is for 10\.0\.0\.201/);
  });

  it('every dynamic bind without a record honours the pending-offer bound, and says it is unrecorded', () => {
    const selecting: RawRequest = { type: MSG.REQUEST, mac: unknownMac, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...ip('10.0.0.200')] };
    const renewing: RawRequest = { type: MSG.REQUEST, mac: unknownMac, ciaddr: ip('10.0.0.200') };
    for (const raw of [selecting, renewing]) {
      const capped = decide(input(raw, { mayOffer: false }));
      assert.equal(capped.outcome, 'ignored', capped.reason);
      assert.match(capped.reason, /pending offers/);
      const ok = decide(input(raw));
      assert.equal(ok.outcome, 'ack');
      assert.deepEqual(ok.lease, { op: 'bind', ip: 0x0a0000c8, expiresAt: NOW + 3_600_000, owner: '02:00:00:00:00:09', dynamic: true, unrecorded: true });
    }
    // With its offer on record: bound even at the bound, and not unrecorded.
    const leases = new LeaseTable();
    leases.set({ network: 'inside', ip: 0x0a0000c8, mac: '02:00:00:00:00:09', owner: '02:00:00:00:00:09', clientId: null, hostname: null, state: 'offered', expiresAt: NOW + 30_000, updatedAt: NOW });
    const offered = decide(input(selecting, { leases, mayOffer: false }));
    assert.equal(offered.outcome, 'ack');
    assert.equal(offered.lease?.op === 'bind' && offered.lease.unrecorded, false);
  });

  it('a MAC registered on another network: its REQUEST for an address not on this network is NAKed, its DISCOVER ignored', () => {
    const elsewhere: KnownClient = { ...blade, network: 'closed', ip: 0x0a01000b };
    const reboot = decide(input({ type: MSG.REQUEST, options: [50, 4, ...ip('10.0.1.11')] }, { elsewhere }));
    assert.equal(reboot.outcome, 'nak');
    assert.match(reboot.reason, /^init-reboot: 10\.0\.1\.11 is not on network 'inside' .*registered on network 'closed'/);
    assert.equal(replyOptions(reboot).options.get(OPT.MESSAGE_TYPE)![0], MSG.NAK);
    const renew = decide(input({ type: MSG.REQUEST, ciaddr: ip('10.0.1.11') }, { elsewhere }));
    assert.equal(renew.outcome, 'nak');
    const discover = decide(input({ type: MSG.DISCOVER }, { elsewhere }));
    assert.equal(discover.outcome, 'ignored');
    assert.match(discover.reason, /registered on network 'closed', but this request came for 'inside'/);
    // An address on this network, or a SELECTING request: not for this server to judge.
    assert.equal(decide(input({ type: MSG.REQUEST, options: [50, 4, ...ip('10.0.0.11')] }, { elsewhere })).outcome, 'ignored');
    assert.equal(decide(input({ type: MSG.REQUEST, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...ip('10.0.1.11')] }, { elsewhere })).outcome, 'ignored');
  });

  it('option 118 is returned identically in OFFER, ACK and NAK (RFC 3011)', () => {
    const sel = [118, 4, ...ip('10.0.0.0')];
    const offer = replyOptions(decide(input({ type: MSG.DISCOVER, giaddr: ip('10.0.5.1'), options: sel }, { known: blade })));
    assert.deepEqual([...offer.options.get(OPT.SUBNET_SELECTION)!], ip('10.0.0.0'));
    const ack = replyOptions(decide(input({ type: MSG.REQUEST, options: [...sel, 54, 4, ...ip('10.0.0.1'), 50, 4, ...ip('10.0.0.11')] }, { known: blade })));
    assert.deepEqual([...ack.options.get(OPT.SUBNET_SELECTION)!], ip('10.0.0.0'));
    const nak = replyOptions(decide(input({ type: MSG.REQUEST, options: [...sel, 50, 4, ...ip('10.0.0.99')] }, { known: blade })));
    assert.deepEqual([...nak.options.get(OPT.SUBNET_SELECTION)!], ip('10.0.0.0'));
  });

  it('option 82 is echoed in every reply, also with giaddr 0 (a snooping switch), and in NAKs, last', () => {
    const agent = [82, 6, 1, 4, 9, 9, 9, 9];
    const lastCode = (dec: ReturnType<typeof decide>) => {
      const e = encode(dec.reply!, dec.fit);
      assert.ok(e.ok);
      if (!e.ok) return -1;
      let last = 0;
      for (let i = 240; e.value[i] !== 255; i += 2 + e.value[i + 1]!) last = e.value[i]!;
      return last;
    };
    const offer = decide(input({ type: MSG.DISCOVER, options: agent }, { known: blade }));
    assert.deepEqual([...replyOptions(offer).options.get(OPT.RELAY_AGENT)!], agent.slice(2));
    assert.equal(lastCode(offer), 82);
    for (const giaddr of [[0, 0, 0, 0], ip('10.0.0.5')]) {
      const nak = decide(input({ type: MSG.REQUEST, giaddr, options: [...agent, 50, 4, ...ip('10.0.0.99')] }, { known: blade }));
      assert.equal(nak.outcome, 'nak');
      assert.deepEqual([...replyOptions(nak).options.get(OPT.RELAY_AGENT)!], agent.slice(2));
      assert.equal(lastCode(nak), 82);
    }
  });

  it('reply flags: only the broadcast bit is copied; the reserved bits are zero', () => {
    assert.equal(decide(input({ type: MSG.DISCOVER, flags: 0x7fff }, { known: blade })).reply!.flags, 0);
    assert.equal(decide(input({ type: MSG.DISCOVER, flags: 0xffff }, { known: blade })).reply!.flags, 0x8000);
    assert.equal(decide(input({ type: MSG.REQUEST, flags: 0x0001, options: [50, 4, ...ip('10.0.0.99')] }, { known: blade })).reply!.flags, 0);
    assert.equal(decide(input({ type: MSG.REQUEST, flags: 0x0001, giaddr: ip('10.0.0.5'), options: [50, 4, ...ip('10.0.0.99')] }, { known: blade })).reply!.flags, 0x8000);
  });

  it('TFTP server name (66), TFTP server address (150) and bpbatch arguments (155) in a bpbatch BIOS reply', () => {
    const bp: KnownClient = { ...blade, loader: 'bpbatch' };
    const p = replyOptions(decide(input({ type: MSG.DISCOVER, options: [55, 4, 66, 150, 155, 67, 93, 2, 0, 0] }, { known: bp })));
    assert.equal(p.options.get(OPT.TFTP_SERVER)!.toString(), '10.0.0.1');
    assert.deepEqual([...p.options.get(OPT.TFTP_SERVER_ADDRESS)!], ip('10.0.0.1'));
    assert.equal(p.options.get(OPT.BPBATCH)!.toString(), 'bpb-525400000a01');
    assert.equal(p.options.get(OPT.BOOTFILE)!.toString(), 'bpbatch.P');
    assert.equal(p.file, 'bpbatch.P');
    // In the order asked for, right after 53 and 54.
    assert.deepEqual([...p.options.keys()].slice(0, 6), [53, 54, 66, 150, 155, 67]);
    // Not asked for: 66 and 150 are left out; 155 always goes to a bpbatch client.
    const q = replyOptions(decide(input({ type: MSG.DISCOVER, options: [93, 2, 0, 0] }, { known: bp })));
    assert.ok(!q.options.has(OPT.TFTP_SERVER) && !q.options.has(OPT.TFTP_SERVER_ADDRESS));
    assert.ok(q.options.has(OPT.BPBATCH));
  });

  it("honours the client's maximum message size (57): a big reply fits whole, without it the reply is cut to 576", () => {
    const many = Array.from({ length: 90 }, (_, i) => `10.0.3.${i + 1}`);
    const big = resolveConfig({ networks: [{ name: 'big', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', dns: many, staticRange: '10.0.0.10-10.0.0.199' }] }, null, {});
    const net = policyNetwork(big.networkByName.get('big')!, 'cluster.local', 3_600_000, [], 'http://10.0.0.1:8080');
    const known = { ...blade, network: 'big' };
    const wide = decide(input({ type: MSG.DISCOVER, options: [57, 2, 0x05, 0xdc, 93, 2, 0, 0] }, { net, known })); // 1500
    const e = encode(wide.reply!, wide.fit);
    assert.ok(e.ok);
    if (!e.ok) return;
    assert.ok(e.value.length > 576 && e.value.length <= 1500 - 28, `reply of ${e.value.length} bytes`);
    assert.deepEqual(e.dropped, []);
    assert.equal(replyOptions(wide).options.get(OPT.DNS)!.length, 360);
    assert.equal(replyOptions(wide).overload, 0);
    const small = decide(input({ type: MSG.DISCOVER, options: [93, 2, 0, 0] }, { net, known }));
    const narrow = encode(small.reply!, small.fit);
    assert.ok(narrow.ok && narrow.value.length <= 576 - 28 && narrow.dropped.includes(OPT.DNS));
  });

  it('plain BOOTP and server-side message types are ignored', () => {
    assert.equal(decide(input({})).outcome, 'ignored');
    assert.equal(decide(input({ type: MSG.OFFER }, { known: blade })).outcome, 'ignored');
  });
});

describe('dhcp boot file choice', () => {
  const node = (loader: 'pxelinux' | 'ipxe' | 'grub' | 'bpbatch') => ({ mac: '52:54:00:00:0a:01', loader });
  const base = { httpBase: 'http://10.0.0.1:8080' };
  const noHttp = { httpBase: undefined };
  const PXE = (arch: number) => ({ arch, isIpxe: false, vendorClass: `PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:003000` });
  const HTTP = { arch: 16, isIpxe: false, vendorClass: 'HTTPClient:Arch:00016:UNDI:003000' };
  const IPXE = (arch: number) => ({ arch, isIpxe: true, vendorClass: 'PXEClient' });
  it('BIOS gets the loader file over TFTP', () => {
    assert.equal(chooseBoot(PXE(0), node('pxelinux'), base).file, 'pxelinux.0');
    assert.equal(chooseBoot(PXE(0), node('ipxe'), base).file, 'undionly.kpxe');
    const bp = chooseBoot(PXE(0), node('bpbatch'), base);
    assert.equal(bp.file, 'bpbatch.P');
    assert.equal(bp.bpbatch, 'bpb-525400000a01');
  });
  it('UEFI x64 (7, 9) gets the UEFI build; bpbatch, which has none, gets iPXE, which boots its kernel', () => {
    assert.equal(chooseBoot(PXE(7), node('ipxe'), base).file, 'ipxe.efi');
    assert.equal(chooseBoot(PXE(9), node('grub'), base).file, 'grubx64.efi');
    const bp = chooseBoot(PXE(7), node('bpbatch'), base);
    assert.equal(bp.file, 'ipxe.efi');
    assert.equal(bp.bpbatch, undefined);
    assert.match(bp.standIn!.reason, /bpbatch has no UEFI build: iPXE boots/);
    // Then iPXE asks again: its script.
    assert.equal(chooseBoot(IPXE(7), node('bpbatch'), base).file, 'http://10.0.0.1:8080/boot/ipxe/52:54:00:00:0a:01');
  });
  it('a client already running iPXE gets its script URL when the node boots with iPXE, or on UEFI when its loader cannot run under iPXE', () => {
    const ipxe = chooseBoot(IPXE(0), node('ipxe'), base);
    assert.equal(ipxe.file, 'http://10.0.0.1:8080/boot/ipxe/52:54:00:00:0a:01');
    assert.equal(ipxe.http, true);
    // QEMU's ROM is iPXE from its first DISCOVER: a pxelinux node still gets pxelinux.0.
    assert.equal(chooseBoot(IPXE(0), node('pxelinux'), base).file, 'pxelinux.0');
    // UEFI iPXE: syslinux.efi crashes under it (tried: #UD in QEMU), GRUB runs.
    const efi = chooseBoot(IPXE(7), node('pxelinux'), base);
    assert.equal(efi.file, 'http://10.0.0.1:8080/boot/ipxe/52:54:00:00:0a:01');
    assert.match(efi.standIn!.reason, /syslinux\.efi cannot run under iPXE/);
    assert.equal(chooseBoot(IPXE(7), node('grub'), base).file, 'grubx64.efi');
  });
  it('UEFI HTTP boot gets a URL and HTTPClient: ipxe.efi, the GRUB HTTP image, and iPXE for pxelinux (syslinux.efi cannot)', () => {
    const h = chooseBoot(HTTP, node('ipxe'), base);
    assert.equal(h.file, 'http://10.0.0.1:8080/boot/files/ipxe.efi');
    assert.equal(h.vendorClass, 'HTTPClient');
    assert.equal(h.standIn, undefined);
    assert.equal(chooseBoot(HTTP, node('grub'), base).file, 'http://10.0.0.1:8080/boot/files/grub/grubx64-http.efi');
    const px = chooseBoot(HTTP, node('pxelinux'), base);
    assert.equal(px.file, 'http://10.0.0.1:8080/boot/files/ipxe.efi');
    assert.equal(px.pxelinux, undefined);
    assert.deepEqual(px.standIn?.loader, 'ipxe');
    assert.match(px.standIn!.reason, /syslinux\.efi cannot run from UEFI HTTP boot/);
    const dec = decide(input({ type: MSG.DISCOVER, options: [93, 2, 0, 16, 60, 10, ...str('HTTPClient')] }, { known: { ...blade, loader: 'ipxe' } }));
    const p = replyOptions(dec);
    assert.equal(p.options.get(OPT.VENDOR_CLASS)!.toString(), 'HTTPClient');
    assert.equal(p.options.get(OPT.BOOTFILE)!.toString(), 'http://10.0.0.1:8080/boot/files/ipxe.efi');
    assert.equal(dec.who?.asker, 'http-firmware');
  });
  it('a missing loader file: BIOS gets no boot file (the reason names the package); UEFI gets iPXE instead; no iPXE either: nothing', () => {
    const has = (gone: string[]) => (f: string) => !gone.includes(f);
    const bios = chooseBoot(PXE(0), node('grub'), { ...base, has: has(['grub/i386-pc/core.0']) });
    assert.equal(bios.file, undefined);
    assert.match(bios.reason!, /grub\/i386-pc\/core\.0 is missing \(Debian package grub-pc-bin; grub-mknetdir/);
    const efi = chooseBoot(PXE(7), node('grub'), { ...base, has: has(['grubx64.efi']) });
    assert.equal(efi.file, 'ipxe.efi');
    assert.match(efi.standIn!.reason, /grubx64\.efi is missing \(Debian package grub-efi-amd64-bin/);
    // iPXE then asks: the grub build is still missing, so its script (not ipxe.efi again).
    assert.equal(chooseBoot(IPXE(7), node('grub'), { ...base, has: has(['grubx64.efi']) }).file, 'http://10.0.0.1:8080/boot/ipxe/52:54:00:00:0a:01');
    const http = chooseBoot(HTTP, node('grub'), { ...base, has: has(['grub/grubx64-http.efi']) });
    assert.equal(http.file, 'http://10.0.0.1:8080/boot/files/ipxe.efi');
    const nothing = chooseBoot(HTTP, node('pxelinux'), { ...base, has: has(['ipxe.efi']) });
    assert.equal(nothing.file, undefined);
    assert.match(nothing.reason!, /syslinux\.efi cannot run from UEFI HTTP boot.*ipxe\.efi is missing \(Debian package ipxe\)/);
  });
  it('dhcp.secureBoot: every UEFI PXE machine gets Debian\'s signed shim (then signed GRUB); HTTP boot a RAM disk image with both; BIOS is unchanged', () => {
    const sb = { ...base, secureBoot: true, server: '10.0.0.1' };
    assert.equal(chooseBoot(PXE(7), node('grub'), sb).file, 'sb/shimx64.efi');
    assert.equal(chooseBoot(PXE(7), node('grub'), sb).standIn, undefined);
    const px = chooseBoot(PXE(7), node('pxelinux'), sb);
    assert.equal(px.file, 'sb/shimx64.efi');
    assert.equal(px.standIn?.loader, 'shim+grub');
    assert.equal(px.pxelinux, undefined);
    const http = chooseBoot(HTTP, node('grub'), sb);
    assert.equal(http.file, 'http://10.0.0.1:8080/boot/files/sb/http-10.0.0.1.img');
    assert.equal(http.vendorClass, 'HTTPClient');
    assert.equal(chooseBoot(HTTP, node('pxelinux'), sb).standIn?.loader, 'shim+grub');
    assert.equal(chooseBoot(PXE(0), node('pxelinux'), sb).file, 'pxelinux.0');
    const missing = chooseBoot(PXE(7), node('grub'), { ...sb, has: (f) => f !== 'sb/shimx64.efi' });
    assert.match(missing.reason!, /sb\/shimx64\.efi is missing \(Debian package shim-signed\)/);
  });
  it('templates.httpBoot false (no HTTP base): no HTTP URL is handed out; TFTP loaders are unchanged', () => {
    const script = chooseBoot(IPXE(0), node('ipxe'), noHttp);
    assert.equal(script.file, undefined);
    assert.match(script.reason!, /httpBoot is false/);
    const h = chooseBoot(HTTP, node('ipxe'), noHttp);
    assert.equal(h.file, undefined);
    assert.match(h.reason!, /UEFI HTTP boot .*httpBoot is false/);
    assert.match(chooseBoot(HTTP, node('pxelinux'), noHttp).reason!, /UEFI HTTP boot .*httpBoot is false/);
    assert.equal(chooseBoot(PXE(0), node('ipxe'), noHttp).file, 'undionly.kpxe');
    assert.equal(chooseBoot(PXE(7), node('pxelinux'), noHttp).file, 'syslinux.efi');
  });
});
