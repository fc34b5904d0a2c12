// The two files rackboot writes for NFS servers, against golden files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderExportsFile, parseExportfsVerbose } from '../../../server/nfs/exports-file.js';
import { renderGaneshaConf } from '../../../server/nfs/ganesha-conf.js';
import { golden, sampleExports } from './fixtures.js';

test('exports(5) file: one line per directory, clients merged, options per export', () => {
  golden('kernel.exports', renderExportsFile(sampleExports()));
  golden('kernel-empty.exports', renderExportsFile([]));
});

test('ganesha.conf: NFSv4 only, graceless, one CLIENT block per network, ids in order', () => {
  const core = { bindAddress: '0.0.0.0', port: 2049, nfsv3: false, recoveryRoot: '/var/lib/rackboot/nfs/ganesha/state', attrCacheSeconds: 0 };
  const text = renderGaneshaConf(sampleExports(), core);
  golden('ganesha.conf', text);
  assert.match(text, /NFS_CORE_PARAM \{[^}]*Protocols = 4;[^}]*Enable_UDP = false;/s);
  assert.match(text, /NFSV4 \{[^}]*Graceless = true;/s);
  assert.doesNotMatch(text, /Clients = \*/);
  golden('ganesha-v3.conf', renderGaneshaConf(sampleExports().slice(0, 1), { ...core, nfsv3: true, bindAddress: '10.0.0.1', port: 12049 }));
});

test('exportfs -v output is parsed, wrapped long paths included', () => {
  const text = [
    '/srv/content/www',
    '\t\t10.0.0.0/24(sync,wdelay,hide,no_subtree_check,fsid=1,sec=sys,ro,secure,root_squash,no_all_squash)',
    '/srv/content/www',
    '\t\t10.0.1.0/24(sync,wdelay,hide,no_subtree_check,fsid=1,sec=sys,ro,secure,root_squash,no_all_squash)',
    '/short     \t10.0.0.0/24(async,rw,all_squash)',
    '',
  ].join('\n');
  const m = parseExportfsVerbose(text);
  assert.deepEqual([...m.keys()], ['/srv/content/www', '/short']);
  assert.deepEqual([...m.get('/srv/content/www')!.keys()], ['10.0.0.0/24', '10.0.1.0/24']);
  assert.ok(m.get('/short')!.get('10.0.0.0/24')!.includes('rw'));
});
