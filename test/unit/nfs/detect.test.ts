// backend 'auto' on every kind of host, with a probe standing in for /proc and PATH.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickBackend, type HostProbe } from '../../../server/nfs/detect.js';

function host(o: { filesystems?: string; files?: string[]; cmds?: string[] }): HostProbe {
  const files = new Set(o.files ?? []);
  return {
    readFile: (p) => (p === '/proc/filesystems' ? (o.filesystems ?? 'nodev\tproc\n\text4\n') : undefined),
    exists: (p) => files.has(p),
    which: (c) => (o.cmds?.includes(c) ? `/usr/sbin/${c}` : undefined),
    listDir: (p) => (p === '/usr/lib' ? ['x86_64-linux-gnu'] : []),
  };
}
const cmds = { exportfs: 'exportfs', ganesha: 'ganesha.nfsd' };
const VFS = '/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so';

test('auto: kernel where nfsd and exportfs are there', () => {
  const p = pickBackend(host({ filesystems: 'nodev\tnfsd\n', cmds: ['exportfs', 'ganesha.nfsd'], files: [VFS] }), cmds);
  assert.equal(p.backend, 'kernel');
  assert.match(p.why, /\/proc\/filesystems lists nfsd/);
});

test('auto: an empty /proc/fs/nfsd directory is not nfsd; ganesha with its VFS FSAL is picked', () => {
  const p = pickBackend(host({ files: ['/proc/fs/nfsd', VFS], cmds: ['exportfs', 'ganesha.nfsd'] }), cmds);
  assert.equal(p.backend, 'ganesha');
  assert.match(p.why, /no nfsd/);
});

test('auto: nfsd without exportfs falls through to ganesha and says what is missing', () => {
  const p = pickBackend(host({ filesystems: 'nodev\tnfsd\n', files: [VFS], cmds: ['ganesha.nfsd'] }), cmds);
  assert.equal(p.backend, 'ganesha');
  assert.match(p.why, /nfs-kernel-server/);
});

test('auto: ganesha without the VFS FSAL, or nothing at all: none, with the packages to install', () => {
  const a = pickBackend(host({ cmds: ['ganesha.nfsd'] }), cmds);
  assert.equal(a.backend, 'none');
  assert.match(a.why, /nfs-ganesha-vfs/);
  const b = pickBackend(host({}), cmds);
  assert.equal(b.backend, 'none');
  assert.match(b.why, /not installed \(packages nfs-ganesha, nfs-ganesha-vfs\).*only written to a file/);
});
