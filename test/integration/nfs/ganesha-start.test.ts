// A config export that passes rackboot's checks but that ganesha cannot set
// up (here: a directory in /proc, listed as a content root on purpose) is
// reported as not served; the other exports are, and later changes through
// the API still apply (the refused export was dropped from ganesha.conf).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireLab } from '../../helpers/env.js';
import { NetLab } from '../../helpers/netns.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { nfsCat } from '../../helpers/nfs.js';
import { nfsService } from '../../../server/nfs/service.js';
import { suiteTempDir } from '../../helpers/tmp.js';

let lab: NetLab | undefined;
let s: TestServer | undefined;
after(async () => {
  await s?.stop();
  await lab?.cleanup();
});
// Registered after the hook above: removed once the server using it is stopped.
const tmp = suiteTempDir('rackboot-nfs-start-');

test('ganesha refusing a config export at start: reported, the rest served, later changes apply', async (t) => {
  if (!requireLab(t, { root: true, commands: ['ganesha.nfsd', 'nfs-cat'] })) return;
  lab = new NetLab('rbnfs2');
  const srv = lab.addNs('srv');
  const cli = lab.addNs('cli');
  lab.veth({ ns: srv, name: 'in0', addr: '10.0.0.1/24' }, { ns: cli, name: 'eth0', addr: '10.0.0.11/24' });
  const content = join(tmp, 'content');
  mkdirSync(join(content, 'plain'), { recursive: true });
  writeFileSync(join(content, 'plain', 'hello'), 'hello\n');
  s = await startTestServer(
    {
      dataDir: join(tmp, 'data'),
      nfs: {
        backend: 'ganesha',
        contentRoots: [content, '/proc/sys/fs'],
        ganesha: { netns: srv },
        exports: [
          { name: 'plain', path: join(content, 'plain'), networks: ['inside'], layout: 'plain' },
          { name: 'procfs', path: '/proc/sys/fs', networks: ['inside'], layout: 'plain' },
        ],
      },
    },
    { factories: [nfsService], dataDir: join(tmp, 'data') },
  );
  const list = (await s.api<Array<{ name: string; state: string; problems: string[] }>>('GET', '/api/v1/exports')).body;
  assert.deepEqual(list.map((e) => [e.name, e.state]), [['plain', 'active'], ['procfs', 'invalid']]);
  assert.match(list[1]!.problems[0]!, /the NFS server could not export it: /);
  const health = (await s.api<{ status: string; services: { nfs: { detail: string } } }>('GET', '/healthz')).body;
  assert.equal(health.status, 'degraded');
  assert.match(health.services.nfs.detail, /not served: procfs/);
  const cat = await nfsCat(lab, cli, '10.0.0.1', '/plain/hello');
  assert.ok(cat.ok, cat.err);
  mkdirSync(join(content, 'more'));
  writeFileSync(join(content, 'more', 'x'), 'x\n');
  const add = await s.api('POST', '/api/v1/exports', { name: 'more', path: join(content, 'more'), networks: ['inside'], layout: 'plain' });
  assert.equal(add.status, 201, JSON.stringify(add.body));
  assert.equal((await nfsCat(lab, cli, '10.0.0.1', '/more/x')).out, 'x\n');
});
