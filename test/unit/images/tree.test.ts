// The image tree: merged-/usr paths, host symlink chains kept, no escape.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageTree, skeleton } from '../../../server/images/tree.js';
import { tempDir } from '../../helpers/tmp.js';

describe('image tree', () => {
  test('paths go through the skeleton symlinks (bin -> usr/bin)', () => {
    const t = new ImageTree();
    skeleton(t);
    assert.equal(t.addData('/bin/hello', 'x', 0o755), 'usr/bin/hello');
    assert.equal(t.addData('/lib/x86_64-linux-gnu/libz.so.1', 'x'), 'usr/lib/x86_64-linux-gnu/libz.so.1');
    assert.equal(t.realpath('/bin/hello'), 'usr/bin/hello');
    assert.equal(t.realpath('/bin/nothing/there'), undefined);
    assert.equal(t.get('usr/lib/x86_64-linux-gnu')?.type, 'dir');
    assert.throws(() => t.addData('../etc/passwd', 'x'), /has '\.\.' in it/);
    assert.throws(() => t.addData('/usr/bin/hello/x', 'x'), /is a file, not a directory/);
    assert.throws(() => t.addData('/usr', 'x'), /is a directory/);
  });

  test('a host symlink chain is copied as symlinks plus the file they end at', (tc) => {
    const d = tempDir(tc, 'rb-tree-');
    mkdirSync(join(d, 'lib'));
    writeFileSync(join(d, 'lib/libfoo.so.1.2.3'), 'elf');
    symlinkSync('libfoo.so.1.2.3', join(d, 'lib/libfoo.so.1'));
    symlinkSync(join(d, 'lib/libfoo.so.1'), join(d, 'abs-link'));
    const t = new ImageTree();
    skeleton(t);
    t.addHost(join(d, 'abs-link'), '/opt/abs-link');
    const rel = `opt/abs-link`;
    assert.equal(t.get(rel)?.type, 'symlink');
    // The absolute target lands at the same absolute path in the image.
    const tgt = join(d, 'lib/libfoo.so.1').slice(1);
    assert.equal(t.get(tgt)?.type, 'symlink');
    assert.equal(t.get(join(d, 'lib/libfoo.so.1.2.3').slice(1))?.type, 'file');
    assert.equal(t.realpath('/opt/abs-link'), join(d, 'lib/libfoo.so.1.2.3').slice(1));
    // Recursive directory copy keeps modes and order-independent content.
    t.addHost(join(d, 'lib'), '/copy', { recursive: true });
    assert.deepEqual(
      t.list().filter((e) => e.path.startsWith('copy')).map((e) => `${e.type}:${e.path}`),
      ['dir:copy', 'symlink:copy/libfoo.so.1', 'file:copy/libfoo.so.1.2.3'],
    );
    // Entries are sorted with parents first.
    const paths = t.list().map((e) => e.path);
    for (const p of paths) {
      const parent = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '';
      if (parent) assert.ok(paths.indexOf(parent) < paths.indexOf(p), `${parent} before ${p}`);
    }
  });

  test('addHost with replace:false keeps what is there (applet links never hide binaries)', () => {
    const t = new ImageTree();
    skeleton(t);
    t.addData('/usr/bin/wget', 'real', 0o755);
    t.addSymlink('/bin/wget', '/bin/busybox', 'applet', false);
    assert.equal(t.get('usr/bin/wget')?.type, 'file');
  });
});
