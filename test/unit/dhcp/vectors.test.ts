// A known exchange, byte by byte: the DISCOVER of Wireshark's sample capture
// dhcp.pcap (a Grandstream phone, MAC 00:0b:82:01:fc:42, xid 0x3d1d), written
// out by hand in the layout of RFC 2131 figure 1 with the option formats of
// RFC 2132, and the OFFER rackboot makes from it, checked at fixed offsets
// against the OFFER of the same capture (192.168.0.10 from 192.168.0.1,
// 1 h lease, T1 1800 s, T2 3150 s, 300 bytes).
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../../server/main/config.js';
import { decode, encode } from '../../../server/dhcp/codec.js';
import { LeaseTable } from '../../../server/dhcp/leases.js';
import { decide, policyNetwork } from '../../../server/dhcp/policy.js';
import { readRequest } from '../../../server/dhcp/request.js';

function hex(s: string): number[] {
  return s
    .replace(/\s+/g, '')
    .match(/../g)!
    .map((b) => parseInt(b, 16));
}

// 272 bytes: the 236-byte header, the cookie, 25 bytes of options, 7 of padding.
const DISCOVER = Buffer.from([
  ...hex('01 01 06 00'), // op BOOTREQUEST, htype Ethernet, hlen 6, hops 0
  ...hex('00 00 3d 1d'), // xid
  ...hex('00 00 00 00'), // secs 0, flags 0 (unicast)
  ...hex('00 00 00 00'), // ciaddr
  ...hex('00 00 00 00'), // yiaddr
  ...hex('00 00 00 00'), // siaddr
  ...hex('00 00 00 00'), // giaddr
  ...hex('00 0b 82 01 fc 42 00 00 00 00 00 00 00 00 00 00'), // chaddr (16)
  ...new Array(64).fill(0), // sname
  ...new Array(128).fill(0), // file
  ...hex('63 82 53 63'), // magic cookie
  ...hex('35 01 01'), // 53 DHCPDISCOVER
  ...hex('3d 07 01 00 0b 82 01 fc 42'), // 61 client id: type 1 (Ethernet) + MAC
  ...hex('32 04 00 00 00 00'), // 50 requested address 0.0.0.0
  ...hex('37 04 01 03 06 2a'), // 55: mask, router, DNS, NTP
  ...hex('ff'), // end
  ...new Array(7).fill(0), // pad
]);

describe('dhcp: a known exchange, byte by byte', () => {
  it('decodes the sample DISCOVER', () => {
    assert.equal(DISCOVER.length, 272);
    const d = decode(DISCOVER);
    assert.ok(d.ok, d.ok ? '' : d.error);
    if (!d.ok) return;
    const r = readRequest(d.value);
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.equal(r.value.type, 1);
    assert.equal(r.value.mac, '00:0b:82:01:fc:42');
    assert.equal(r.value.packet.xid, 0x3d1d);
    assert.equal(r.value.clientId, '01000b8201fc42');
    assert.equal(r.value.requestedIp, 0);
    assert.deepEqual([...r.value.paramList!], [1, 3, 6, 42]);
    assert.equal(r.value.maxSize, 548);
  });

  it('answers it with an OFFER laid out as RFC 2131 figure 1 says, carrying what the sample OFFER carried', () => {
    const cfg = resolveConfig({ networks: [{ name: 'lan', interface: 'eth1', cidr: '192.168.0.0/24', serverAddress: '192.168.0.1', dynamicRange: '192.168.0.10-192.168.0.20' }] }, null, {});
    const net = policyNetwork(cfg.networkByName.get('lan')!, 'example', 3_600_000, [], 'http://192.168.0.1');
    const d = decode(DISCOVER);
    const r = d.ok ? readRequest(d.value) : undefined;
    assert.ok(r?.ok);
    if (!r?.ok) return;
    const dec = decide({ req: r.value, net, known: undefined, leases: new LeaseTable(), now: 0, offerMs: 30_000, mayOffer: true });
    assert.equal(dec.outcome, 'offer');
    const e = encode(dec.reply!, dec.fit);
    assert.ok(e.ok);
    if (!e.ok) return;
    const b = e.value;
    assert.equal(b.length, 300);
    assert.deepEqual([...b.subarray(0, 4)], hex('02 01 06 00')); // op BOOTREPLY, htype, hlen, hops
    assert.deepEqual([...b.subarray(4, 8)], hex('00 00 3d 1d')); // xid copied
    assert.deepEqual([...b.subarray(8, 12)], hex('00 00 00 00')); // secs, flags (unicast, as asked)
    assert.deepEqual([...b.subarray(12, 16)], hex('00 00 00 00')); // ciaddr
    assert.deepEqual([...b.subarray(16, 20)], hex('c0 a8 00 0a')); // yiaddr 192.168.0.10
    assert.deepEqual([...b.subarray(20, 24)], hex('c0 a8 00 01')); // siaddr: next server (rackboot is one)
    assert.deepEqual([...b.subarray(24, 28)], hex('00 00 00 00')); // giaddr
    assert.deepEqual([...b.subarray(28, 44)], hex('00 0b 82 01 fc 42 00 00 00 00 00 00 00 00 00 00'));
    assert.ok(b.subarray(44, 236).every((x) => x === 0), 'sname and file empty');
    assert.deepEqual([...b.subarray(236, 240)], hex('63 82 53 63'));
    // 53 and 54 first, then 1 as asked (3, 6 and 42 are not configured), then the lease times.
    assert.deepEqual([...b.subarray(240, 255)], hex('35 01 02  36 04 c0 a8 00 01  01 04 ff ff ff 00'));
    const opts = new Map<number, number[]>();
    let i = 240;
    while (b[i] !== 0xff) {
      opts.set(b[i]!, [...b.subarray(i + 2, i + 2 + b[i + 1]!)]);
      i += 2 + b[i + 1]!;
    }
    assert.ok(b.subarray(i + 1).every((x) => x === 0), 'padding after END is zero');
    assert.deepEqual(opts.get(51), hex('00 00 0e 10')); // 3600
    assert.deepEqual(opts.get(58), hex('00 00 07 08')); // 1800
    assert.deepEqual(opts.get(59), hex('00 00 0c 4e')); // 3150
    assert.ok(!opts.has(61), 'the client id is not echoed');
  });
});
