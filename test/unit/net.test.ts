import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv4, ipv4ToHex, maskToPrefix, parseCidr, parseIpv4, parseRange, prefixToMask } from '../../server/net/ipv4.js';
import { canonicalMac, pxelinuxMacName } from '../../server/net/mac.js';

test('ipv4 parse and format round trip, malformed refused', () => {
  for (const s of ['0.0.0.0', '10.0.0.1', '255.255.255.255', '192.168.1.100']) assert.equal(formatIpv4(parseIpv4(s)!), s);
  for (const s of ['10.0.0', '10.0.0.256', '010.0.0.1', '1.2.3.4.5', '', ' 1.2.3.4', 'a.b.c.d']) assert.equal(parseIpv4(s), undefined, s);
});

test('cidr: strict host bits, masks, prefixes', () => {
  const c = parseCidr('10.0.0.0/24')!;
  assert.equal(formatIpv4(c.mask), '255.255.255.0');
  assert.equal(formatIpv4(c.broadcast), '10.0.0.255');
  assert.equal(parseCidr('10.0.0.1/24'), undefined);
  assert.equal(parseCidr('10.0.0.1/24', false)!.network, parseIpv4('10.0.0.0'));
  assert.equal(parseCidr('10.0.0.0/33'), undefined);
  assert.equal(maskToPrefix(prefixToMask(20)), 20);
  assert.equal(maskToPrefix(parseIpv4('255.0.255.0')!), undefined);
  assert.equal(parseCidr('0.0.0.0/0')!.mask, 0);
});

test('ranges and hex', () => {
  assert.deepEqual(parseRange('10.0.0.10-10.0.0.20'), { start: parseIpv4('10.0.0.10'), end: parseIpv4('10.0.0.20') });
  assert.equal(parseRange('10.0.0.20-10.0.0.10'), undefined);
  assert.equal(ipv4ToHex(parseIpv4('192.168.0.1')!), 'C0A80001');
});

test('MAC forms are canonicalised', () => {
  for (const s of ['52:54:00:AB:cd:01', '52-54-00-ab-CD-01', '5254.00ab.cd01', '525400abcd01', ' 52:54:00:ab:cd:01 ']) {
    assert.equal(canonicalMac(s), '52:54:00:ab:cd:01', s);
  }
  for (const s of ['52:54:00:ab:cd', '52:54:00-ab:cd:01', 'zz:54:00:ab:cd:01', '5254.00ab.cd0', '']) assert.equal(canonicalMac(s), undefined, s);
  assert.equal(pxelinuxMacName('52:54:00:ab:cd:01'), '01-52-54-00-ab-cd-01');
});
