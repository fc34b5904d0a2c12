// Module resolution from .modinfo (a .deb has no modules.dep) and from
// modules.dep: dependencies first, aliases, built-ins, optional modules,
// and a clear error for an unknown name.
import { describe, test, before, } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModuleIndex, modulesDepText, resolveModules, UnknownModuleError } from '../../../server/images/modules.js';
import { BLADE_MODULES, fakeModulesDir } from './fake-elf.js';
import { suiteTempDir, tempDir } from '../../helpers/tmp.js';

describe('kernel modules', () => {
  const dir = suiteTempDir('rb-mods-');
  before(() => {
    fakeModulesDir(join(dir, 'deb'), BLADE_MODULES, ['drivers/net/e1000/e1000']);
  });

  test('index from .modinfo; dependencies load first; names resolved once', async () => {
    const idx = await loadModuleIndex(join(dir, 'deb'));
    assert.equal(idx.source, 'modinfo');
    const r = resolveModules(idx, [{ name: 'virtio_pci' }, { name: 'virtio-net' }, { name: 'nfsv4' }]);
    assert.deepEqual(r.load, ['virtio_pci', 'virtio_net', 'nfsv4']);
    const pos = (n: string) => r.files.findIndex((f) => f.endsWith(`/${n}.ko`));
    for (const [mod, m] of Object.entries(BLADE_MODULES)) {
      if (pos(mod) < 0) continue;
      for (const d of (m as { depends?: string[] }).depends ?? []) assert.ok(pos(d) >= 0 && pos(d) < pos(mod), `${d} before ${mod}`);
    }
    assert.equal(new Set(r.files).size, r.files.length);
    assert.ok(!r.files.some((f) => f.includes('grace') && false));
    assert.equal(r.files.length, 12);
  });

  test('aliases, built-ins, optional and unknown modules', async () => {
    const idx = await loadModuleIndex(join(dir, 'deb'));
    const r = resolveModules(idx, [{ name: 'fs-nfs4' }, { name: 'e1000' }, { name: 'igb', optional: true }]);
    assert.deepEqual(r.load, ['nfsv4']);
    assert.deepEqual(r.builtin, ['e1000']);
    assert.deepEqual(r.skipped, ['igb']);
    assert.throws(
      () => resolveModules(idx, [{ name: 'virtio_nett' }]),
      (e: Error) => e instanceof UnknownModuleError && /unknown kernel module 'virtio_nett'/.test(e.message) && /did you mean 'virtio_net'/.test(e.message),
    );
  });

  test('modules.dep written for the image reads back the same through the modules.dep path', async () => {
    const idx = await loadModuleIndex(join(dir, 'deb'));
    const r = resolveModules(idx, [{ name: 'nfsv4' }, { name: 'virtio_net' }]);
    const text = modulesDepText(idx, r.files);
    // depmod's order: a module's dependencies, the ones it needs directly nearest to it last.
    assert.match(text, /^kernel\/fs\/nfs\/nfsv4\.ko: .*kernel\/net\/sunrpc\/sunrpc\.ko/m);
    const copy = join(dir, 'installed');
    fakeModulesDir(copy, BLADE_MODULES);
    writeFileSync(join(copy, 'modules.dep'), text);
    const idx2 = await loadModuleIndex(copy);
    assert.equal(idx2.source, 'modules.dep');
    const r2 = resolveModules(idx2, [{ name: 'nfsv4' }, { name: 'virtio_net' }]);
    assert.deepEqual(new Set(r2.files), new Set(r.files));
    // Loading nfsv4's dependency list from the end backwards never loads a module before its dependencies.
    const line = text.split('\n').find((l) => l.startsWith('kernel/fs/nfs/nfsv4.ko:'))!;
    const order = line.split(':')[1]!.trim().split(' ').reverse();
    const loaded = new Set<string>();
    for (const f of order) {
      const name = f.replace(/^.*\//, '').replace(/\.ko$/, '');
      for (const d of (BLADE_MODULES as Record<string, { depends?: string[] }>)[name]?.depends ?? []) assert.ok(loaded.has(d), `${d} loaded before ${name}`);
      loaded.add(name);
    }
  });
});

describe('module index persistence', () => {
  test('an index read from .modinfo is written back as modules.dep and modules.alias, and reads the same', async (t) => {
    const d = tempDir(t, 'rb-mods-');
    fakeModulesDir(d, BLADE_MODULES);
    const a = await loadModuleIndex(d, { persist: true });
    assert.equal(a.source, 'modinfo');
    assert.ok(existsSync(join(d, 'modules.dep')) && existsSync(join(d, 'modules.alias')));
    assert.match(readFileSync(join(d, 'modules.alias'), 'utf8'), /^alias fs-nfs4 nfsv4$/m);
    // A new process would read the files: bypass the in-process cache with a copy.
    const copy = join(d, '..', `${d.split('/').pop()}-copy`);
    cpSync(d, copy, { recursive: true });
    try {
      const b = await loadModuleIndex(copy);
      assert.equal(b.source, 'modules.dep');
      const want = [{ name: 'nfsv4' }, { name: 'fs-nfs4' }, { name: 'virtio_net' }];
      const ra = resolveModules(a, want);
      assert.deepEqual(resolveModules(b, want), ra);
      // The image's modules.dep is the same text whichever index built it (same image hash cold or warm).
      assert.equal(modulesDepText(b, ra.files), modulesDepText(a, ra.files));
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
