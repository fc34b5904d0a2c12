// The router advertisement codec and the responder's decisions, with a
// stand-in for the raw socket (the real socket: test/integration/ra).
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ALL_NODES, ipv6Text, macOfLinkLocal, readNd, routerAdvertisement } from '../../../server/ra/codec.js';
import { OTHER_ROUTER_QUIET_MS, RaResponder, type Icmp6Addon } from '../../../server/ra/responder.js';
import { silentLogger } from '../../../server/log.js';

const ll = (hex: string) => Buffer.from(hex, 'hex');
// iPXE's link-local (EUI-64 of 52:54:00:17:00:01) and its solicitation with a source link-layer option.
const IPXE_LL = ll('fe80000000000000505400fffe170001');
const RS = Buffer.from([133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x52, 0x54, 0, 0x17, 0, 1]);

describe('ra codec', () => {
  it('reads a solicitation (with its MAC) and refuses what crossed a router or is malformed', () => {
    assert.deepEqual(readNd(RS, 255), { kind: 'solicitation', mac: '52:54:00:17:00:01' });
    assert.deepEqual(readNd(RS.subarray(0, 8), 255), { kind: 'solicitation', mac: undefined });
    assert.equal(readNd(RS, 64).kind, 'invalid');
    assert.equal(readNd(Buffer.from([133, 1, 0, 0, 0, 0, 0, 0]), 255).kind, 'invalid');
    assert.equal(readNd(Buffer.from([133, 0, 0, 0]), 255).kind, 'invalid');
    // An option of length 0 would loop forever; one running past the end is cut.
    assert.equal(readNd(Buffer.from([133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]), 255).kind, 'invalid');
    assert.equal(readNd(Buffer.from([133, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0]), 255).kind, 'invalid');
    assert.deepEqual(readNd(routerAdvertisement(), 255), { kind: 'advertisement', routerLifetime: 0 });
  });
  it('the advertisement announces nothing: lifetime 0, no flags, no prefix; the source link-layer address when known', () => {
    const ra = routerAdvertisement('52:54:00:aa:bb:cc');
    assert.equal(ra.length, 24);
    assert.deepEqual([...ra.subarray(0, 16)], [134, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...ra.subarray(16)], [1, 1, 0x52, 0x54, 0, 0xaa, 0xbb, 0xcc]);
    assert.equal(routerAdvertisement().length, 16);
  });
  it('the MAC of an EUI-64 link-local address; addresses as text', () => {
    assert.equal(macOfLinkLocal(IPXE_LL), '52:54:00:17:00:01');
    assert.equal(macOfLinkLocal(ll('fe80000000000000000000000000abcd')), undefined);
    assert.equal(ipv6Text(IPXE_LL), 'fe80::5054:ff:fe17:1');
    assert.equal(ipv6Text(ALL_NODES), 'ff02::1');
  });
});

describe('ra responder', () => {
  function responder() {
    const sent: Array<{ to: string; msg: Buffer }> = [];
    const answered: Array<string | undefined> = [];
    let now = 1_000_000;
    const addon: Icmp6Addon = {
      open: () => ({}),
      send: (_h, msg, to) => (sent.push({ to: ipv6Text(to), msg }), 0),
      close: () => undefined,
      strerror: () => 'x',
    };
    const r = new RaResponder({ iface: 'eth1', ifindex: 3, mac: '52:54:00:aa:bb:cc', addon, log: silentLogger(), answered: (a) => answered.push(a.mac), now: () => now });
    r.start();
    return { r, sent, answered, tick: (ms: number) => (now += ms) };
  }
  it('answers to the soliciting host, or to all nodes when it asked from ::', () => {
    const { r, sent, answered } = responder();
    r.onMessage(RS, IPXE_LL, 255);
    assert.deepEqual(sent.map((s) => s.to), ['fe80::5054:ff:fe17:1']);
    assert.equal(sent[0]!.msg[0], 134);
    assert.deepEqual(answered, ['52:54:00:17:00:01']);
    r.onMessage(RS.subarray(0, 8), Buffer.alloc(16), 255);
    assert.equal(sent[1]!.to, 'ff02::1');
  });
  it("does not answer this machine's own solicitations", () => {
    const sent: string[] = [];
    const addon: Icmp6Addon = { open: () => ({}), send: (_h, _m, to) => (sent.push(ipv6Text(to)), 0), close: () => undefined, strerror: () => 'x' };
    const r = new RaResponder({ iface: 'eth1', ifindex: 3, mac: undefined, addon, log: silentLogger(), ownAddress: (a) => a.equals(IPXE_LL) });
    r.start();
    r.onMessage(RS, IPXE_LL, 255);
    assert.deepEqual(sent, []);
    assert.equal(r.stats.solicitations, 0);
  });
  it('ignores what crossed a router; bounds answers per host and per link', () => {
    const { r, sent, tick } = responder();
    r.onMessage(RS, IPXE_LL, 1);
    assert.equal(sent.length, 0);
    for (let i = 0; i < 10; i++) r.onMessage(RS, IPXE_LL, 255);
    assert.equal(sent.length, 3, 'a burst of 3 per host');
    tick(1000);
    r.onMessage(RS, IPXE_LL, 255);
    assert.equal(sent.length, 4, 'then one a second');
    for (let i = 0; i < 1000; i++) {
      const a = Buffer.from(IPXE_LL);
      a.writeUInt16BE(0x8000 + i, 14);
      r.onMessage(RS, a, 255);
    }
    // The link's bucket was full again (400) after the tick, less the answer just sent: 399 more, not 1000.
    assert.equal(sent.length, 4 + 399, 'at most a burst of 400 on the link');
    assert.ok(r.stats.limited > 0);
  });
  it("stays quiet on a link where another router advertises, until it has not been heard for a while", () => {
    const { r, sent, tick } = responder();
    r.onMessage(routerAdvertisement(), ll('fe800000000000000000000000000001'), 255);
    r.onMessage(RS, IPXE_LL, 255);
    assert.equal(sent.length, 0);
    assert.match(r.detail, /quiet \(router fe80::1 advertises\)/);
    tick(OTHER_ROUTER_QUIET_MS + 1);
    r.onMessage(RS, IPXE_LL, 255);
    assert.equal(sent.length, 1);
  });
});
