// Template helpers as plain functions: the forms boot loaders need.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HelperArgumentError,
  bpbatchQuote,
  broadcastAddress,
  getPath,
  grubCmdline,
  hexIp,
  joinCmdline,
  joinUrl,
  kernelArg,
  macForm,
  netmask,
  networkAddress,
  prefixLength,
  pxeMac,
  splitCmdline,
} from '../../../server/render/helpers.js';

test('MAC forms: PXELINUX 01-..., separators, Cisco dots; any input form', () => {
  assert.equal(pxeMac('52:54:00:00:0A:01'), '01-52-54-00-00-0a-01');
  assert.equal(pxeMac('5254.0000.0a01'), '01-52-54-00-00-0a-01');
  assert.equal(macForm('52-54-00-00-0a-01'), '52:54:00:00:0a:01');
  assert.equal(macForm('52:54:00:00:0a:01', '-'), '52-54-00-00-0a-01');
  assert.equal(macForm('52:54:00:00:0a:01', ''), '525400000a01');
  assert.equal(macForm('52:54:00:00:0a:01', '.'), '5254.0000.0a01');
  assert.throws(() => pxeMac('zz'), (e: unknown) => e instanceof HelperArgumentError && e.reason === 'invalid' && /not a MAC/.test(e.message));
  assert.throws(() => pxeMac(undefined), (e: unknown) => e instanceof HelperArgumentError && e.reason === 'undefined' && e.index === 0);
});

test('hex IP as PXELINUX and GRUB name it', () => {
  assert.equal(hexIp('192.168.0.11'), 'C0A8000B');
  assert.equal(hexIp('10.0.0.11'), '0A00000B');
  assert.throws(() => hexIp('10.0.0'), /not an IPv4 address/);
});

test('netmask and prefix math', () => {
  assert.equal(netmask(24), '255.255.255.0');
  assert.equal(netmask('10.0.0.0/22'), '255.255.252.0');
  assert.equal(netmask('/0'), '0.0.0.0');
  assert.equal(prefixLength('255.255.255.128'), 25);
  assert.equal(prefixLength('10.0.0.0/16'), 16);
  assert.equal(networkAddress('10.0.5.77', 22), '10.0.4.0');
  assert.equal(broadcastAddress('10.0.5.77', '255.255.252.0'), '10.0.7.255');
  assert.throws(() => prefixLength('255.0.255.0'), /not a prefix length or netmask/);
  assert.throws(() => netmask(33), /not a prefix length/);
});

test('kernel command line: empties skipped, values with spaces quoted, arrays and objects', () => {
  assert.equal(kernelArg('quiet', true), 'quiet');
  assert.equal(kernelArg('x', ''), '');
  assert.equal(kernelArg('x', null), '');
  assert.equal(kernelArg('x', false), '');
  assert.equal(kernelArg('console', 'ttyS0,115200'), 'console=ttyS0,115200');
  assert.equal(kernelArg('motd', 'hello world'), 'motd="hello world"');
  assert.equal(kernelArg('mods', ['a', 'b']), 'mods=a,b');
  assert.throws(() => kernelArg('bad', 'a"b'), /double quote/);
  assert.equal(joinCmdline(['  console=ttyS0 ', '', null, undefined, ['quiet', ''], { a: 1, b: null, c: 'x y', d: true }, 'last\n arg']), 'console=ttyS0 quiet a=1 c="x y" d last arg');
  assert.equal(joinCmdline([]), '');
  assert.deepEqual(splitCmdline(' a=1  b="x y" c '), ['a=1', 'b="x y"', 'c']);
});

test('URL joining: single slashes, segments percent-encoded', () => {
  assert.equal(joinUrl('http://10.0.0.1:8080/', ['/boot/', 'blade 1', 'kernel']), 'http://10.0.0.1:8080/boot/blade%201/kernel');
  assert.equal(joinUrl('http://h', ['a/b']), 'http://h/a/b');
  assert.throws(() => joinUrl('http://h', [undefined]), (e: unknown) => e instanceof HelperArgumentError && e.index === 1);
});

test('bpbatch quoting: quotes and backslashes escaped, $ and newlines refused', () => {
  assert.equal(bpbatchQuote('a "b" c\\d'), 'a \\"b\\" c\\\\d');
  assert.throws(() => bpbatchQuote('HOME=$HOME'), /'\$'/);
  assert.throws(() => bpbatchQuote('a\nb'), /span lines/);
});

test('GRUB quoting: safe words bare, others single-quoted, kernel quotes kept', () => {
  assert.equal(grubCmdline('console=ttyS0,115200 rackboot.api=http://10.0.0.1:8080/api/v1 motd="a b" x;y'), `console=ttyS0,115200 rackboot.api=http://10.0.0.1:8080/api/v1 'motd="a b"' 'x;y'`);
  assert.equal(grubCmdline(`it's`), `'it'\\''s'`);
});

test('get: dotted lookup with a fallback for optional variables', () => {
  const o = { a: { b: { c: 0 } }, n: null };
  assert.equal(getPath(o, 'a.b.c', 9), 0);
  assert.equal(getPath(o, 'a.x.c', 9), 9);
  assert.equal(getPath(o, 'n', 9), null);
  assert.equal(getPath(o, 'toString', 9), 9);
});
