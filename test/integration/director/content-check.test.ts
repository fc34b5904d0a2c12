// A blade whose shared content is unavailable leaves the pool, and comes
// back when the content does (issue 20: a blade's NFS mount breaks at a
// takeover and its image remounts the floating address). The check asks a
// release marker served from the content itself, not a static page of the
// blade: a blade serving its own pages without its content fails it.
//
// Real traffic through rackboot's nftables director in namespaces. This
// kernel has no NFS client, so each blade's "mount" is a directory its
// busybox httpd serves through a symlink: moved away, the link dangles (the
// 404 a web server gives for a dead mount's files); moved back, remounted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireLab } from '../../helpers/env.js';
import { DirectorLab, NAT_ROUTER, VIP, waitFor, type RealServer } from './topology.js';

const CLI = fileURLToPath(new URL('../../../server/cli/main.js', import.meta.url));
const RELEASE = '20261208T010000Z-1a2b3c';
// The marker holds the live release id: a blade serving an old release (a stale mount) fails it too.
const CHECK = { path: '/content/.release', expect: RELEASE, interval: '500ms', timeout: '500ms', retries: 3, reentry: '1500ms' };
const NEEDS = { root: true, commands: ['nft', 'ip', 'busybox', 'curl'] };

type RS = { name: string; state: string; inPool: boolean; lastCheck: { ok: boolean; detail: string } | null };
type View = { services: Array<{ name: string; pool: number; realServers: RS[] }> };

const mount = (rs: RealServer) => join(rs.dir, '..', `${rs.name}-nfs`);

describe('director: a blade without its content leaves the pool, and returns with it', () => {
  const lab = new DirectorLab();
  let ready = false;

  before(async () => {
    if (process.getuid?.() !== 0) return;
    lab.build(2);
    for (const rs of lab.servers) {
      lab.startHttp(rs);
      mkdirSync(mount(rs), { recursive: true });
      writeFileSync(join(mount(rs), '.release'), `${RELEASE}\n`);
      symlinkSync(mount(rs), join(rs.dir, 'content'));
    }
    const director = {
      enabled: true,
      backend: 'nftables',
      natRouter: { interface: 'brin', address: `${NAT_ROUTER}/24` },
      services: [{ name: 'web', vip: `${VIP}/24`, interface: 'out0', port: 80, scheduler: 'rr', realServers: { group: 'web', port: 80 }, check: CHECK }],
    };
    await lab.startServer(lab.config(director, lab.servers.map((rs) => ({ rs }))), CLI);
    ready = true;
  });
  after(async () => lab.cleanup());

  const rs = async (name: string) => (await lab.api<View>('GET', '/director')).body.services[0]!.realServers.find((r) => r.name === name);
  const pool = async () => (await lab.api<View>('GET', '/director')).body.services[0]!.pool;

  test('content gone on rs1: it leaves, every request goes to rs2 and none fails; content back: it returns', async (t) => {
    if (!requireLab(t, NEEDS) || !ready) return;
    await waitFor('both blades in the pool', async () => ((await pool()) === 2 ? true : undefined), 15_000);
    const before = await lab.requests(20);
    assert.deepEqual(before.failed, []);
    assert.deepEqual(before.counts, { rs1: 10, rs2: 10 });

    const [rs1] = lab.servers;
    // The mount breaks: rs1 still answers its own pages (/ is 200), not its content.
    renameSync(mount(rs1!), `${mount(rs1!)}.gone`);
    const out = await waitFor('rs1 out of the pool', async () => {
      const r = await rs('rs1');
      return r && !r.inPool ? r : undefined;
    }, 15_000);
    assert.match(out.lastCheck?.detail ?? '', /404/, `the last check names what failed: ${JSON.stringify(out.lastCheck)}`);
    const during = await lab.requests(20);
    assert.deepEqual(during.failed, [], 'no request fails while rs1 is out');
    assert.deepEqual(during.counts, { rs2: 20 }, 'rs1, without its content, gets no request');

    // A stale mount (an older release) is no better than none.
    mkdirSync(mount(rs1!), { recursive: true });
    writeFileSync(join(mount(rs1!), '.release'), '20261207T230000Z-old\n');
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await rs('rs1'))?.inPool, false, 'an old release keeps rs1 out');

    // Remounted: the live release is there again.
    writeFileSync(join(mount(rs1!), '.release'), `${RELEASE}\n`);
    await waitFor('rs1 back in the pool', async () => ((await rs('rs1'))?.inPool ? true : undefined), 15_000);
    const back = await lab.requests(20);
    assert.deepEqual(back.failed, []);
    assert.deepEqual(back.counts, { rs1: 10, rs2: 10 });
  });
});
