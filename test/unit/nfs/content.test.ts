// Content releases: a tar becomes releases/<id>, `current` switches by
// rename, old releases are pruned, hostile archives are refused whole.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Releases, ContentError } from '../../../server/nfs/content.js';
import { tarOf } from '../../helpers/nfs.js';
import { tempDir } from '../../helpers/tmp.js';
import { releaseTar } from '../../../server/pair/content.js';

/** A minimal ustar writer, for archives node-tar would refuse to write (hostile names, devices). */
function rawTar(entries: Array<{ name: string; type?: string; data?: string; linkname?: string }>): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100);
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write(e.type ?? '0', 156);
    if (e.linkname) h.write(e.linkname, 157, 100);
    h.write('ustar\0', 257);
    h.write('00', 263);
    if (e.type === '3') (h.write('0000001\0', 329), h.write('0000003\0', 337));
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function setup(t: TestContext) {
  const dir = tempDir(t, 'rb-content-');
  const root = join(dir, 'www');
  mkdirSync(root);
  return { dir, root, rel: new Releases(root) };
}

const opts = { keep: 2, graceMs: 0, maxBytes: 10 * 1024 * 1024 };

test('init makes an empty first release; a directory with files is left alone', async (t) => {
  const { dir, root, rel } = setup(t);
  assert.equal(await rel.init(), 'created');
  assert.match(readlinkSync(join(root, 'current')), /^releases\/\d{8}T\d{9}Z-[0-9a-f]{6}$/);
  assert.equal(await rel.init(), 'exists');
  const other = join(dir, 'other');
  mkdirSync(other);
  writeFileSync(join(other, 'index.html'), 'x');
  assert.equal(await new Releases(other).init(), 'not-empty');
  assert.equal(existsSync(join(other, 'current')), false);
});

test('sync: a new release, current switched, previous kept, old ones pruned', async (t) => {
  const { dir, root, rel } = setup(t);
  const src = join(dir, 'src');
  mkdirSync(join(src, 'a'), { recursive: true });
  const ids: string[] = [];
  for (let i = 1; i <= 4; i++) {
    writeFileSync(join(src, 'index.html'), `v${i}\n`);
    writeFileSync(join(src, 'a', 'b.txt'), `b${i}\n`);
    const r = await rel.syncTar(Readable.from(await tarOf(src, i % 2 === 0)), opts);
    assert.equal(r.files, 2);
    assert.deepEqual(Object.keys(r.ms), ['write', 'flush', 'switch', 'prune']);
    assert.ok(Object.values(r.ms).every((ms) => Number.isInteger(ms) && ms >= 0), JSON.stringify(r.ms));
    assert.equal(r.previous, ids.at(-1) ?? null);
    ids.push(r.release);
    assert.equal(readFileSync(join(root, 'current', 'index.html'), 'utf8'), `v${i}\n`);
  }
  const left = readdirSync(join(root, 'releases')).filter((n) => !n.startsWith('.')).sort();
  assert.deepEqual(left, ids.slice(1), 'current + 2 kept, the oldest pruned');
  assert.ok(lstatSync(join(root, 'current')).isSymbolicLink());
  assert.deepEqual(readdirSync(root).sort(), ['current', 'releases'], 'no temporary symlink left');
  const listed = await rel.list();
  assert.deepEqual(listed.map((r) => r.current), [false, false, true]);
  // Rollback to a kept release.
  assert.equal(await rel.activate(ids[2]!), ids[3]);
  assert.equal(readFileSync(join(root, 'current', 'index.html'), 'utf8'), 'v3\n');
  await assert.rejects(rel.activate(ids[0]!), (e: ContentError) => e.status === 404);
  await assert.rejects(rel.activate('../../etc'), (e: ContentError) => e.status === 400);
});

const releaseDirs = (root: string) => readdirSync(join(root, 'releases')).filter((n) => !n.startsWith('.')).sort();

/** Releases of src/index.html holding each of `contents` in turn, synced one after another; their ids. */
async function syncEach(dir: string, rel: Releases, contents: string[], policy: { keep: number; graceMs: number; maxBytes: number }): Promise<string[]> {
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  const ids: string[] = [];
  for (const v of contents) {
    writeFileSync(join(src, 'index.html'), v);
    ids.push((await rel.syncTar(Readable.from(await tarOf(src)), policy)).release);
  }
  return ids;
}

test('a release that stopped being live within the grace time is kept, whatever keep says', async (t) => {
  const { dir, root, rel } = setup(t);
  const ids = await syncEach(dir, rel, ['v0', 'v1', 'v2', 'v3'], { keep: 0, graceMs: 60_000, maxBytes: 1e6 });
  assert.deepEqual(readdirSync(join(root, 'releases')).filter((n) => !n.startsWith('.')).sort(), ids, 'all kept within the grace time');
  // The replaced `current` symlinks are kept alive (hard links) for the grace time too.
  assert.equal(readdirSync(join(root, 'releases')).filter((n) => n.startsWith('.current-')).length, 3);
  // The release the last switch replaced stays even with keep 0 and no grace.
  assert.deepEqual(await rel.prune({ keep: 0, graceMs: 0 }), ids.slice(0, 2).reverse());
  assert.deepEqual(readdirSync(join(root, 'releases')).sort(), ['.retired.json', ids[2], ids[3]]);
});


test('after a rollback, a sync keeps the release that was live until then (grace counts from when it stopped being live)', async (t) => {
  const { dir, root } = setup(t);
  // Its own clock: how long the syncs take on a loaded machine must not eat into the grace time.
  let skew = 0;
  const clock = () => Date.now() + skew;
  const rel = new Releases(root, clock);
  const src = join(dir, 'src');
  const policy = { keep: 1, graceMs: 60_000, maxBytes: 1e6 };
  const [a, b, c] = (await syncEach(dir, rel, ['a', 'b', 'c'], policy)) as [string, string, string];
  skew += 61_000; // all made, and b stopped being live, longer ago than the grace time
  assert.equal(await rel.activate(a), c); // rollback: a is live again, c stops being live now
  writeFileSync(join(src, 'index.html'), 'd');
  const d = await rel.syncTar(Readable.from(await tarOf(src)), policy);
  assert.equal(d.previous, a);
  assert.deepEqual(d.pruned, [b], 'only b: a was live a moment ago, c within its grace time');
  assert.deepEqual(releaseDirs(root), [a, c, d.release].sort());
  // The record survives a restart (a new Releases on the same export): after the grace time c goes, a (just replaced) stays.
  skew += 61_000;
  assert.deepEqual(await new Releases(root, clock).prune({ keep: 1, graceMs: 60_000 }), [c]);
  assert.deepEqual(releaseDirs(root), [a, d.release].sort());
});

test('a pruned release is renamed away at once and deleted after (a sync does not wait for it); a deletion cut short is finished by the next prune', async (t) => {
  const { dir, root, rel } = setup(t);
  const ids = await syncEach(dir, rel, ['v0', 'v1'], { keep: 0, graceMs: 0, maxBytes: 1e6 });
  const src = join(dir, 'src');
  mkdirSync(join(src, 'many'), { recursive: true });
  for (let i = 0; i < 200; i++) writeFileSync(join(src, 'many', `f${i}`), 'x');
  const r = await rel.syncTar(Readable.from(await tarOf(src)), { keep: 0, graceMs: 0, maxBytes: 1e7 });
  assert.deepEqual(r.pruned, [ids[0]]);
  assert.deepEqual(releaseDirs(root), [ids[1], r.release].sort(), 'the pruned release is no release any more when the sync answers');
  await Releases.settled();
  assert.deepEqual(readdirSync(join(root, 'releases')).filter((n) => n.startsWith('.pruned-')), [], 'and its tree is gone once deleted');
  // A deletion a crash cut short: the next prune removes what is left.
  mkdirSync(join(root, 'releases', `.pruned-${ids[1]}`, 'a', 'b'), { recursive: true });
  writeFileSync(join(root, 'releases', `.pruned-${ids[1]}`, 'a', 'b', 'c'), 'left');
  await rel.prune({ keep: 5, graceMs: 0 });
  assert.deepEqual(readdirSync(join(root, 'releases')).filter((n) => n.startsWith('.pruned-')), []);
});

test('a release made by an older rackboot (no record of when it stopped being live) gets the grace time from now', async (t) => {
  const { dir, root, rel } = setup(t);
  const ids = await syncEach(dir, rel, ['v0', 'v1', 'v2'], opts);
  rmSync(join(root, 'releases', '.retired.json'));
  assert.deepEqual(await rel.prune({ keep: 0, graceMs: 60_000 }), []);
  assert.deepEqual(releaseDirs(root), ids);
});

test('createdAt is when the release was made (its id), not the mtime the source tree brought along', async (tc) => {
  const { dir, rel } = setup(tc);
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'index.html'), 'x');
  utimesSync(src, new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
  const before = Date.now();
  const { release } = await rel.syncTar(Readable.from(await tarOf(src)), opts);
  const [info] = await rel.list();
  assert.equal(info!.id, release);
  const t = Date.parse(info!.createdAt);
  assert.ok(t >= before - 1 && t <= Date.now(), `createdAt ${info!.createdAt}`);
  assert.equal(info!.createdAt.replace(/[-:.]/g, ''), release.slice(0, 19));
});

test('a symlink with an absolute target is kept as it is (the NFS clients resolve it)', async (t) => {
  const { dir, root, rel } = setup(t);
  const src = join(dir, 'src');
  mkdirSync(join(src, 'sub'), { recursive: true });
  writeFileSync(join(src, 'index.html'), 'x');
  symlinkSync('/usr/share/doc', join(src, 'doc'));
  symlinkSync('/etc/hostname', join(src, 'sub', 'host'));
  symlinkSync('../index.html', join(src, 'sub', 'rel'));
  const r = await rel.syncTar(Readable.from(await tarOf(src)), opts);
  assert.equal(r.files, 1);
  assert.equal(readlinkSync(join(root, 'current', 'doc')), '/usr/share/doc');
  assert.equal(readlinkSync(join(root, 'current', 'sub', 'host')), '/etc/hostname');
  assert.equal(readlinkSync(join(root, 'current', 'sub', 'rel')), '../index.html');
  // Without directory entries in the archive, the parent is made; a later entry of the same name wins.
  const r2 = await rel.syncTar(
    Readable.from(rawTar([{ name: 'a/b/link', type: '2', linkname: '/srv/x' }, { name: 'c', type: '2', linkname: '/old' }, { name: 'c', data: 'file' }])),
    opts,
  );
  assert.equal(readlinkSync(join(root, 'releases', r2.release, 'a', 'b', 'link')), '/srv/x');
  assert.equal(readFileSync(join(root, 'releases', r2.release, 'c'), 'utf8'), 'file');
});

test('hostile archives are refused whole and the live release is untouched', async (t) => {
  const { dir, root, rel } = setup(t);
  await rel.init();
  const live = readlinkSync(join(root, 'current'));
  const cases: Array<[string, Buffer]> = [
    ['dot-dot', rawTar([{ name: 'ok.txt', data: 'fine' }, { name: '../../escape.txt', data: 'bad' }])],
    ['absolute', rawTar([{ name: '/tmp/rb-abs-escape.txt', data: 'bad' }])],
    ['through symlink', rawTar([{ name: 'link', type: '2', linkname: dir }, { name: 'link/escape.txt', data: 'bad' }])],
    ['through relative symlink', rawTar([{ name: 'other', type: '5' }, { name: 'sub', type: '2', linkname: 'other' }, { name: 'sub/x', type: '2', linkname: '/y' }])],
    ['absolute link name', rawTar([{ name: '/tmp/rb-abs-link', type: '2', linkname: '/etc' }])],
    ['dot-dot link name', rawTar([{ name: 'a/../../rb-escape-link', type: '2', linkname: '/etc' }])],
    ['not a tar', Buffer.from('this is not a tar archive at all, just text'.repeat(20))],
  ];
  const names: Record<string, string> = { 'dot-dot': '../../escape.txt', 'through relative symlink': 'sub/x', 'absolute link name': '/tmp/rb-abs-link', 'dot-dot link name': 'a/../../rb-escape-link' };
  for (const [what, body] of cases) {
    const named = names[what] ? `entry '${names[what]}'` : '';
    await assert.rejects(rel.syncTar(Readable.from(body), opts), (e: Error) => e instanceof ContentError && e.status === 400 && e.message.includes(named), what);
    assert.equal(readlinkSync(join(root, 'current')), live, `${what}: current unchanged`);
  }
  assert.equal(existsSync(join(dir, 'escape.txt')), false);
  assert.equal(existsSync('/tmp/rb-abs-escape.txt'), false);
  assert.equal(existsSync('/tmp/rb-abs-link'), false);
  assert.equal(existsSync(join(dir, 'rb-escape-link')), false);
  assert.deepEqual(readdirSync(join(root, 'releases')).filter((n) => n.startsWith('.incoming')), [], 'no incoming tree left');
  // Devices are dropped, not created.
  const r = await rel.syncTar(Readable.from(rawTar([{ name: 'dev', type: '3' }, { name: 'index.html', data: 'ok' }])), opts);
  assert.equal(r.files, 1);
  assert.equal(existsSync(join(root, 'current', 'dev')), false);
});

test('a sync whose tree cannot be flushed to disk is refused whole: the live release stays, no new tree is left', async (t) => {
  const { dir, root, rel } = setup(t);
  const path = process.env.PATH;
  try {
    await rel.init();
    const live = readlinkSync(join(root, 'current'));
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'index.html'), 'new');
    const body = await tarOf(src);
    // A `sync` that fails (a disk gone read-only, an I/O error), first on PATH.
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'sync'), '#!/bin/sh\necho "sync: I/O error" >&2\nexit 1\n', { mode: 0o755 });
    process.env.PATH = `${bin}:${path}`;
    await assert.rejects(rel.syncTar(Readable.from(body), opts), /cannot flush .* to disk: sync: I\/O error/);
    assert.equal(readlinkSync(join(root, 'current')), live);
    assert.deepEqual(readdirSync(join(root, 'releases')).filter((n) => n.startsWith('.incoming')), []);
    assert.equal((await rel.list()).length, 1);
    process.env.PATH = path;
    assert.equal((await rel.syncTar(Readable.from(body), opts)).files, 1, 'with a working sync the same upload goes live');
    assert.equal(readFileSync(join(root, 'current', 'index.html'), 'utf8'), 'new');
  } finally {
    process.env.PATH = path;
  }
});

test('an upload over the size limit is refused with 413', async (t) => {
  const { dir, root, rel } = setup(t);
  await rel.init();
  const src = join(dir, 'big');
  mkdirSync(src);
  writeFileSync(join(src, 'big.bin'), Buffer.alloc(200_000, 7));
  await assert.rejects(rel.syncTar(Readable.from(await tarOf(src)), { keep: 1, graceMs: 0, maxBytes: 100_000 }), (e: ContentError) => e.status === 413);
  assert.equal((await rel.list()).length, 1);
  void root;
});

test("a pair's copy: the release is complete before it goes live, and installs on the other node under its id, not live", async (t) => {
  const here = setup(t);
  const there = setup(t);
  const src = join(here.dir, 'src');
  mkdirSync(join(src, 'a'), { recursive: true });
  writeFileSync(join(src, 'index.html'), 'v1\n');
  writeFileSync(join(src, 'a', 'b.txt'), 'b\n');
  await there.rel.init();
  const liveThere = (await there.rel.current())!;
  let seen: { id: string; live: string | null; files: string[] } | undefined;
  const r = await here.rel.syncTar(Readable.from(await tarOf(src)), {
    ...opts,
    // What a pair does here: copy the finished release to the other node (a tar of it), then activate.
    beforeSwitch: async (id, dir) => {
      seen = { id, live: await here.rel.current(), files: readdirSync(dir).sort() };
      const copied = await there.rel.install(id, releaseTar(dir), opts.maxBytes);
      assert.deepEqual(copied, { files: 2, bytes: copied.bytes, existed: false });
    },
  });
  assert.deepEqual(seen, { id: r.release, live: null, files: ['a', 'index.html'] }, 'called with the whole release, before current switched');
  assert.equal(await there.rel.has(r.release), true);
  assert.equal(await there.rel.current(), liveThere, 'installed, not live');
  assert.equal((await there.rel.install(r.release, releaseTar(join(here.root, 'releases', r.release)), opts.maxBytes)).existed, true, 'a second copy is left as it is');
  assert.equal(await there.rel.activate(r.release), liveThere);
  assert.equal(readFileSync(join(there.root, 'current', 'a', 'b.txt'), 'utf8'), 'b\n');
  assert.equal(await there.rel.has('../etc'), false);
  await assert.rejects(there.rel.install('../etc', Readable.from([]), opts.maxBytes), /is not a release id/);
});
