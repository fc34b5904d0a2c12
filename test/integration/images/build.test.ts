// Building an image from a recipe, for real: busybox-static and host
// binaries with their libraries, modules with dependencies (a made-up
// modules tree: no kernel package needed), files, a rendered overlay. The
// archive is read back with cpio and bsdtar; a rebuild gives the same
// hash; a broken recipe fails naming the problem and leaves the current
// version alone.
import { describe, test, before, } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, BuildError } from '../../../server/images/builder.js';
import { loadRecipe } from '../../../server/images/recipe.js';
import { ImageStore } from '../../../server/images/store.js';
import { requireLab } from '../../helpers/env.js';
import { makeRecipe, SH } from './fixtures.js';
import { suiteTempDir } from '../../helpers/tmp.js';

const cluster = { name: 'cgws', domain: 'cluster.local', vars: { site: 'lab' } };

function list(file: string): string[] {
  const r = spawnSync('sh', ['-c', `gzip -dc "${file}" | cpio -itv --quiet`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

const root = suiteTempDir('rb-build-');
describe('image builder', () => {
  let recipes: string;
  let store: ImageStore;
  before(() => {
    recipes = makeRecipe(root, 'blade');
    store = new ImageStore(join(root, 'store'), 3);
  });

  test('the archive holds what the recipe says, with modes and symlinks right', async (t) => {
    if (!requireLab(t, { commands: ['busybox', 'cpio', 'bsdtar', 'gzip'] })) return;
    const logs: string[] = [];
    const r = await buildImage(loadRecipe('blade', [recipes]), { store, cluster, log: (l) => logs.push(l) });
    assert.ok(r.changed);
    assert.equal(store.current('blade'), r.version);
    const dir = store.versionDir('blade', r.version);
    assert.equal(spawnSync('gzip', ['-t', join(dir, 'initrd')]).status, 0);
    const lines = list(join(dir, 'initrd'));
    const entry = (path: string) => lines.find((l) => l.endsWith(` ${path}`) || l.includes(` ${path} -> `));
    // Base: static busybox, its applets as symlinks, merged /usr.
    assert.match(entry('usr/bin/busybox')!, /^-rwxr-xr-x/);
    assert.match(entry('bin')!, /bin -> usr\/bin$/);
    assert.match(entry('usr/sbin/modprobe') ?? entry('usr/bin/modprobe')!, /-> \/bin\/busybox$/);
    assert.match(entry('dev/console')!, /^crw------- .* 5, +1 /);
    // A dynamic binary with its libraries and the loader (through the lib64 symlink).
    const shPath = SH.slice(1).replace(/^bin\//, 'usr/bin/');
    assert.ok(entry(shPath), `${shPath} in the image`);
    assert.ok(lines.some((l) => /usr\/lib\/x86_64-linux-gnu\/libc\.so\.6/.test(l)), 'libc');
    assert.ok(lines.some((l) => /usr\/lib64\/ld-linux-x86-64\.so\.2/.test(l)), 'the ELF interpreter where PT_INTERP names it');
    // Modules with dependencies, uncompressed .ko, plus modules.dep and the load list.
    for (const m of ['virtio', 'virtio_ring', 'virtio_pci_modern_dev', 'failover', 'net_failover', 'sunrpc', 'grace', 'lockd', 'nfs', 'nfsv4']) {
      assert.ok(lines.some((l) => l.endsWith(`/${m}.ko`)), `${m}.ko`);
    }
    assert.ok(entry('usr/lib/modules/6.1.0-test/modules.dep'));
    // Files as they are (mode given), a directory tree with its symlink, the rendered overlay.
    assert.match(entry('etc/motd')!, /^-rw------- /);
    assert.match(entry('opt/tree/link')!, /-> sub\/file$/);
    assert.match(entry('init')!, /^-rwxr-xr-x/, 'checkout modes normalised (0775 -> 0755)');
    const x = join(root, 'x');
    mkdirSync(x);
    assert.equal(spawnSync('sh', ['-c', `gzip -dc "${join(dir, 'initrd')}" | bsdtar -xf - -C "${x}"`]).status, 0);
    assert.equal(readFileSync(join(x, 'etc/greeting'), 'utf8'), 'hello from blade on cgws (lab), kernel 6.1.0-test\n');
    assert.equal(readFileSync(join(x, 'etc/rackboot/modules'), 'utf8'), 'virtio_pci\nvirtio_net\nnfsv4\n');
    assert.equal(readFileSync(join(x, 'opt/tree/sub/file'), 'utf8'), 'in a tree\n');
    // The manifest says what was skipped and what is built in.
    const m = await store.manifest('blade', r.version);
    assert.deepEqual(m.modules.builtin, ['e1000']);
    assert.deepEqual(m.skipped.sort(), ['binary /nonexistent/optional-tool', 'module igb']);
    assert.equal(m.initrd.entries, lines.length);
    assert.ok(logs.some((l) => /built into the kernel: e1000/.test(l)));
  });

  test('the same inputs give the same bytes and version', async (t) => {
    if (!requireLab(t, { commands: ['busybox'] })) return;
    const a = await buildImage(loadRecipe('blade', [recipes]), { store, cluster });
    const b = await buildImage(loadRecipe('blade', [recipes]), { store, cluster });
    assert.equal(a.version, b.version);
    assert.equal(b.changed, false);
    assert.equal(store.versions('blade').length, 1);
    const other = new ImageStore(join(root, 'store2'), 3);
    const c = await buildImage(loadRecipe('blade', [recipes]), { store: other, cluster });
    assert.equal(c.version, a.version);
    assert.ok(readFileSync(join(other.versionDir('blade', c.version), 'initrd')).equals(readFileSync(join(store.versionDir('blade', a.version), 'initrd'))));
  });

  test('a broken recipe fails naming the problem; the current version stays', async (t) => {
    if (!requireLab(t, { commands: ['busybox'] })) return;
    const good = await buildImage(loadRecipe('blade', [recipes]), { store, cluster });
    const cases: Array<[string, RegExp]> = [
      ['binaries: [/usr/bin/definitely-not-here]', /binaries: \/usr\/bin\/definitely-not-here does not exist/],
      // Every missing input in one message, not only the first.
      ['binaries: [/usr/bin/not-here-1, /usr/bin/not-here-2]', /binaries: \/usr\/bin\/not-here-1 does not exist on this host; binaries: \/usr\/bin\/not-here-2 does not exist/],
      ['modules: [virtio_net, nfs5]', /unknown kernel module 'nfs5'/],
      ['compression: zstd', /./],
    ];
    for (const [line, re] of cases) {
      const text = readFileSync(join(recipes, 'blade/recipe.yaml'), 'utf8');
      const broken = text.replace(/^(binaries|modules): .*$/gm, (m) => (line.startsWith(m.split(':')[0]!) ? line : m)) + (line.startsWith('compression') ? line + '\n' : '');
      mkdirSync(join(root, 'broken', 'blade'), { recursive: true });
      writeFileSync(join(root, 'broken', 'blade', 'recipe.yaml'), broken);
      if (line.startsWith('compression')) {
        // zstd is fine when the kernel config allows it (none known here): it must build, and differ.
        if (!requireLab(t, { commands: ['zstd'] })) continue;
        const z = await buildImage(loadRecipe('blade', [join(root, 'broken')]), { store: new ImageStore(join(root, 'zstore'), 2), cluster });
        const magic = readFileSync(join(root, 'zstore', 'blade', z.version, 'initrd')).readUInt32LE(0);
        assert.equal(magic, 0xfd2fb528, 'zstd frame magic');
        continue;
      }
      await assert.rejects(buildImage(loadRecipe('blade', [join(root, 'broken')]), { store, cluster }), (e: Error) => e instanceof BuildError && re.test(e.message));
      assert.equal(store.current('blade'), good.version);
    }
    assert.deepEqual(store.versions('blade').map((v) => v.version), [good.version]);
    assert.equal(existsSync(join(store.root, '.tmp')) ? spawnSync('ls', [join(store.root, '.tmp')], { encoding: 'utf8' }).stdout.trim() : '', '', 'no temp left');
  });

  test('versions beyond keep are pruned; rollback goes to the one before; the current is never pruned', async (t) => {
    if (!requireLab(t, { commands: ['busybox'] })) return;
    const s = new ImageStore(join(root, 'store-keep'), 2);
    const versions: string[] = [];
    for (let i = 0; i < 4; i++) {
      writeFileSync(join(root, 'motd'), `welcome ${i}\n`);
      const r = await buildImage(loadRecipe('blade', [recipes]), { store: s, cluster });
      versions.push(r.version);
      await new Promise((res) => setTimeout(res, 20));
    }
    writeFileSync(join(root, 'motd'), 'welcome\n');
    assert.equal(new Set(versions).size, 4);
    assert.deepEqual(s.versions('blade').map((v) => v.version), [versions[3], versions[2]]);
    const [from, to] = await s.rollback('blade');
    assert.deepEqual([from, to], [versions[3], versions[2]]);
    await assert.rejects(s.rollback('blade'), /no version older/);
    await assert.rejects(s.rollback('blade', 'ffff'), /no stored version ffff/);
    await s.rollback('blade', versions[3]!.slice(0, 6));
    assert.equal(s.current('blade'), versions[3]);
  });
});
