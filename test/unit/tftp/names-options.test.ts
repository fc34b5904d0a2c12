import { test } from 'node:test';
import assert from 'node:assert/strict';
import { confineName } from '../../../server/boot/names.js';
import { blksizeForMtu, negotiate } from '../../../server/tftp/options.js';

test('names: PXE leading separators stripped, paths normalised', () => {
  const ok = (raw: string, path: string) => assert.deepEqual(confineName(raw), { ok: true, path }, raw);
  ok('pxelinux.0', 'pxelinux.0');
  ok('/pxelinux.0', 'pxelinux.0');
  ok('\\pxelinux.0', 'pxelinux.0');
  ok('//\\/boot//./n1/kernel', 'boot/n1/kernel');
  ok('/etc/passwd', 'etc/passwd'); // resolves inside the root
  ok('a/...b/c..', 'a/...b/c..');
});

test('names: traversal, backslashes, NUL, drive letters refused with ERROR 2', () => {
  for (const raw of ['../etc/passwd', 'a/../../b', '/..', 'a\\..\\b', 'boot\\x', 'a\0b', 'C:\\boot.ini', 'c:/x', 'a\nb', 'x'.repeat(1025), `a/${'y'.repeat(256)}`]) {
    const r = confineName(raw);
    assert.equal(r.ok, false, JSON.stringify(raw));
    assert.equal(!r.ok && r.code, 2, JSON.stringify(raw));
  }
  assert.deepEqual(confineName('/'), { ok: false, code: 1, reason: 'empty file name' });
  assert.deepEqual(confineName(''), { ok: false, code: 1, reason: 'empty file name' });
});

const limits = { maxBlksize: 1468, maxWindowsize: 64 };

test('options: blksize, windowsize capped; tsize answered with the size; timeout in ms', () => {
  const r = negotiate([['blksize', '8192'], ['tsize', '0'], ['windowsize', '100'], ['timeout', '3'], ['foo', 'bar']], 12345, limits);
  assert.ok(r.ok);
  assert.deepEqual(r.value, {
    blksize: 1468,
    windowsize: 64,
    timeoutMs: 3000,
    oack: [['blksize', '1468'], ['tsize', '12345'], ['windowsize', '64'], ['timeout', '3']],
    ignored: ['foo'],
  });
  const none = negotiate([['unknown', '1']], 5, limits);
  assert.ok(none.ok && none.value.oack.length === 0 && none.value.blksize === 512 && none.value.windowsize === 1);
  const small = negotiate([['blksize', '8']], 5, limits);
  assert.ok(small.ok && small.value.blksize === 8);
});

test('options: a window is at most 128 KiB, whatever order blksize and windowsize come in', () => {
  const big = { maxBlksize: 65464, maxWindowsize: 64 };
  for (const opts of [[['windowsize', '64'], ['blksize', '8192']], [['blksize', '8192'], ['windowsize', '64']]] as Array<Array<[string, string]>>) {
    const r = negotiate(opts, 1, big);
    assert.ok(r.ok);
    assert.equal(r.value.windowsize, 16);
    assert.deepEqual(r.value.oack.find(([k]) => k === 'windowsize'), ['windowsize', '16']);
  }
  const huge = negotiate([['blksize', '65464'], ['windowsize', '8']], 1, big);
  assert.ok(huge.ok && huge.value.windowsize === 2);
  const ws1 = negotiate([['blksize', '65464']], 1, big);
  assert.ok(ws1.ok && ws1.value.windowsize === 1 && !ws1.value.oack.some(([k]) => k === 'windowsize'));
  const fine = negotiate([['blksize', '1468'], ['windowsize', '64']], 1, big);
  assert.ok(fine.ok && fine.value.windowsize === 64);
});

test('options: invalid values of known options are ERROR 8 with the reason', () => {
  for (const [k, v] of [['blksize', '7'], ['blksize', '65465'], ['blksize', 'abc'], ['blksize', ''], ['windowsize', '0'], ['timeout', '0'], ['timeout', '256'], ['tsize', '-1']]) {
    const r = negotiate([[k!, v!]], 1, limits);
    assert.equal(r.ok, false, `${k}=${v}`);
    assert.match(!r.ok ? r.message : '', new RegExp(k!));
  }
  const dup = negotiate([['blksize', '512'], ['blksize', '1024']], 1, limits);
  assert.ok(!dup.ok && /twice/.test(dup.message));
});

test('options: blksize that fits a path MTU', () => {
  assert.equal(blksizeForMtu(1500), 1468);
  assert.equal(blksizeForMtu(9000), 8968);
  assert.equal(blksizeForMtu(576), 544);
});
