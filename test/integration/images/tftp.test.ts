// A node's kernel and RAM disk (with its overlay) over rackboot's own TFTP
// service, fetched by real clients (curl with blksize 1468, atftp with
// windowsize): the bytes are the hub's; with images.overlayClients: node
// another address is refused the node's RAM disk (its overlay holds the
// node's report token).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, } from 'node:fs';
import { join } from 'node:path';
import { imagesService } from '../../../server/images/service.js';
import { tftpService } from '../../../server/tftp/service.js';
import { requireLab } from '../../helpers/env.js';
import { startTestServer, TEST_NETWORKS, type TestServer } from '../../helpers/server.js';
import { runClient, tftpPort } from '../../helpers/tftp.js';
import { makeRecipe } from './fixtures.js';
import { suiteTempDir } from '../../helpers/tmp.js';

const root = suiteTempDir('rb-imgtftp-');
describe('images over TFTP', () => {
  let s: TestServer | undefined;
  let port = 0;
  const TOKEN = 'tftp-token';

  before(async () => {
    const recipes = makeRecipe(root, 'blade');
    s = await startTestServer(
      {
        api: { listen: '127.0.0.1:0', token: TOKEN, publicUrl: 'http://127.0.0.1:8080' },
        cluster: { name: 'cgws', domain: 'cluster.local', vars: { site: 'lab' } },
        networks: [...TEST_NETWORKS, { name: 'lo', cidr: '127.0.0.0/8', serverAddress: '127.0.0.254', staticRange: '127.0.0.2-127.0.0.200' }],
        tftp: { enabled: true, address: '127.0.0.1', port: 0, root, maxBlksize: 65464, maxWindowsize: 64 },
        images: { recipeDirs: [recipes], overlayClients: 'node' },
      },
      { factories: [imagesService, tftpService] },
    );
    port = tftpPort(s.server.services.find((x) => x.name === 'tftp'));
  });
  after(async () => {
    await s?.stop();
  });

  test('curl and atftp fetch boot/<node>/kernel and initrd: same bytes as the boot hub serves; only the node gets its overlay', async (t) => {
    if (!requireLab(t, { commands: ['busybox', 'curl', 'atftp'] })) return;
    const api = <T>(m: string, p: string, b?: unknown) => s!.api<T>(m, p, b, TOKEN);
    const made = await api('POST', '/api/v1/nodes', { name: 'blade5', image: 'blade', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0a:05', network: 'lo', ipv4: '127.0.0.1' }] });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const job = await api<{ id: string }>('POST', '/api/v1/images/blade/builds');
    for (;;) {
      const j = (await api<{ state: string; error: string }>('GET', `/api/v1/images/blade/builds/${job.body.id}`)).body;
      if (j.state === 'succeeded') break;
      assert.notEqual(j.state, 'failed', j.error);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const what of ['kernel', 'initrd']) {
      const f = (await s!.server.boot.lookup(`boot/blade5/${what}`, { address: '127.0.0.1', protocol: 'tftp' }))!;
      const want = await f.read(0, f.size);
      await f.close?.();
      for (const run of [
        { client: 'curl' as const, blksize: 1468 },
        { client: 'atftp' as const, blksize: 1468, windowsize: 16 },
      ]) {
        const local = join(root, `${what}-${run.client}`);
        const r = await runClient({ ...run, host: '127.0.0.1', port, remote: `boot/blade5/${what}`, local });
        assert.equal(r.code, 0, `${run.client}: ${r.stderr}`);
        assert.ok(readFileSync(local).equals(want), `${run.client} ${what}: ${readFileSync(local).length} bytes, want ${want.length}`);
      }
    }
    // images.overlayClients: node. The blade is 127.0.0.1 (where the clients above came from); another address gets a refusal.
    await assert.rejects(s!.server.boot.lookup('boot/blade5/initrd', { address: '127.0.0.9', protocol: 'tftp' }), (e: Error & { status?: number }) => e.status === 403 && /only to blade5's own addresses/.test(e.message));
    const k = await s!.server.boot.lookup('boot/blade5/kernel', { address: '127.0.0.9', protocol: 'tftp' });
    assert.ok(k, 'the kernel holds no secret');
    await k.close?.();
  });
});
