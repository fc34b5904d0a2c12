// `templates check` on the stock seed cluster before any image is built, with
// the real images service: every blade uses web-blade, which has no build yet.
// That is the normal state of a new install, so it is a note per node, not an
// error, and the CLI exits 0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../../../server/config/load.js';
import { imagesService } from '../../../server/images/service.js';
import { PACKAGE_ROOT } from '../../../server/paths.js';
import type { CheckReport } from '../../../server/render/renderer.js';
import { renderService } from '../../../server/render/service.js';
import { run } from '../../helpers/netns.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';

describe('templates check on the stock seed cluster, no image built', () => {
  let s: TestServer;
  before(async () => {
    const file = join(PACKAGE_ROOT, 'examples', 'seed-cluster.yaml');
    const seed = parseConfigText(readFileSync(file, 'utf8'), file) as Record<string, unknown>;
    // The helper's loopback API, data directory and disabled DHCP/TFTP instead of the seed's ports.
    const { api: _api, dataDir: _dataDir, dhcp: _dhcp, tftp: _tftp, nfs: _nfs, ...cluster } = seed;
    s = await startTestServer(cluster, { factories: [imagesService, renderService] });
  });
  after(async () => s?.stop());

  test('API: ok, no errors, one note per blade naming web-blade', async () => {
    const r = await s.api<CheckReport>('GET', '/api/v1/templates/check');
    assert.equal(r.status, 200);
    assert.equal(r.body.ok, true, JSON.stringify(r.body.errors));
    assert.deepEqual(r.body.errors, []);
    assert.equal(r.body.nodes, 8);
    assert.deepEqual(
      r.body.notes.map((n) => `${n.node} ${n.image}`),
      [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `blade${i} web-blade`),
    );
  });

  test('CLI: prints the notes and exits 0', async () => {
    const cli = join(PACKAGE_ROOT, 'dist', 'server', 'cli', 'main.js');
    const r = await run(process.execPath, [cli, 'templates', 'check', '--api', s.url, '--token', s.token], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(r.stdout.match(/^note: node blade\d: image 'web-blade' has no build yet/gm)?.length, 8, r.stdout);
    assert.match(r.stdout, /^ok, 8 note\(s\): \d+ render\(s\) of \d+ template\(s\) \(0 operator override\(s\)\) for 8 node\(s\)/m);
  });
});
