// Golden renders of every shipped template: what each loader gets for a blade
// with an image, for a blade without one, and for unknown machines with and
// without a discovery image. UPDATE_GOLDEN=1 rewrites the files (review the
// diff). Every render must also pass the loader's syntax check.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT } from '../../../server/paths.js';
import { lintConfig, parseBpbatch } from '../../../server/render/lint.js';
import type { RenderOutput } from '../../../server/render/renderer.js';
import { LOADERS, type Loader } from '../../../server/store/types.js';
import { VERSION } from '../../../server/version.js';
import { requireLab } from '../../helpers/env.js';
import { run } from '../../helpers/netns.js';
import { renderFixture, type RenderFixture } from './fixture.js';
import { tempDir } from '../../helpers/tmp.js';

const GOLDEN = join(PACKAGE_ROOT, 'test', 'golden', 'render');
const EXT: Record<Loader, string> = { pxelinux: 'cfg', ipxe: 'ipxe', grub: 'cfg', bpbatch: 'bpb' };

function golden(name: string, out: RenderOutput): void {
  const loader = out.loader;
  const body = out.body.replaceAll(`rackboot ${VERSION}:`, 'rackboot VERSION:');
  const file = join(GOLDEN, loader, `${name}.${EXT[loader]}`);
  if (process.env.UPDATE_GOLDEN || !existsSync(file)) {
    if (!process.env.UPDATE_GOLDEN) assert.fail(`no golden file ${file}; run with UPDATE_GOLDEN=1 and review it`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, body);
  }
  assert.equal(body, readFileSync(file, 'utf8'), `${loader}/${name} differs from ${file}`);
  assert.deepEqual(lintConfig(loader, out.body), [], `${loader}/${name} fails its syntax check`);
}

describe('golden renders', () => {
  let f: RenderFixture;
  before(async () => {
    f = await renderFixture();
  });
  after(async () => f.close());

  for (const loader of LOADERS) {
    test(`${loader}: blade1 (image, NFS mount, inherited and own kernel arguments)`, async () => {
      const out = await f.renderer.renderByName('blade1', loader);
      assert.equal(out.template, `${loader === 'ipxe' ? 'ipxe.ipxe' : loader === 'bpbatch' ? 'bpbatch.bpb' : loader === 'grub' ? 'grub.cfg' : 'pxelinux.cfg'}.hbs`);
      assert.equal(out.origin, 'shipped');
      golden('blade1', out);
    });
    test(`${loader}: blade1 booting from eth1 on the second network`, async () => golden('blade1-eth1', await f.renderer.renderByName('blade1', loader, { iface: 'eth1' })));
    test(`${loader}: blade2 without an image boots locally`, async () => golden('blade2-local', await f.renderer.renderByName('blade2', loader)));
    test(`${loader}: unknown machine, discovery image built`, async () => {
      f.images.discoveryBuilt = true;
      const out = await f.renderer.renderUnknown(loader, { mac: '52:54:00:99:00:01', address: '10.0.0.201' });
      assert.equal(out.discovery, true);
      golden('discovery', out);
    });
    test(`${loader}: unknown machine, no discovery image`, async () => {
      f.images.discoveryBuilt = false;
      const out = await f.renderer.renderUnknown(loader, { mac: '52:54:00:99:00:01', address: '10.0.0.201' });
      assert.equal(out.discovery, false);
      golden('unknown-local', out);
    });
  }

  test("bpbatch: the paper's script: Set CacheNever = \"ON\", then LinuxBoot kernel, command line, RAM disk", async () => {
    const out = await f.renderer.renderByName('blade1', 'bpbatch');
    const { statements, issues } = parseBpbatch(out.body);
    assert.deepEqual(issues, []);
    assert.deepEqual(statements.map((s) => s.command), ['Set', 'LinuxBoot']);
    assert.deepEqual(statements[0]!.args.map((a) => a.value), ['CacheNever', '=', 'ON']);
    const [kernel, cmdline, ramdisk] = statements[1]!.args.map((a) => String(a.value));
    assert.equal(kernel, 'boot/blade1/kernel');
    assert.equal(ramdisk, 'boot/blade1/initrd');
    // The quoted value survives bpbatch's string escaping as the kernel expects it.
    assert.match(cmdline!, / motd="hello from blade1"/);
    assert.match(cmdline!, /^console=ttyS0,115200n8 quiet BOOTIF=01-52-54-00-00-0a-01 rackboot\.node=blade1 /);
  });

  test('GRUB renders pass GRUB\'s own parser (grub-script-check)', async (t) => {
    if (!requireLab(t, { commands: ['grub-script-check'] })) return;
    const tmp = tempDir(t, 'rackboot-grub-');
    const outs = [
      await f.renderer.renderByName('blade1', 'grub'),
      await f.renderer.renderByName('blade2', 'grub'),
      await f.renderer.renderUnknown('grub', { mac: '52:54:00:99:00:01', address: '10.0.0.201' }),
    ];
    for (const out of outs) {
      const file = join(tmp, 'grub.cfg');
      writeFileSync(file, out.body);
      const r = await run('grub-script-check', [file]);
      assert.equal(r.code, 0, `${out.template} for ${out.node ?? 'an unknown machine'}: ${r.stderr}${r.stdout}`);
    }
    // And it does reject what our own lint rejects.
    const bad = join(tmp, 'bad.cfg');
    writeFileSync(bad, "menuentry 'x' {\n  linux /k 'a\n}\n");
    assert.notEqual((await run('grub-script-check', [bad])).code, 0);
  });

  test('the kernel command line carries what the blade init needs', async () => {
    const out = await f.renderer.renderByName('blade1', 'pxelinux');
    const append = /APPEND (.*)/.exec(out.body)![1]!;
    const scope = await f.renderer.scopeForNode((await f.store.getNode('blade1'))!, 'pxelinux');
    for (const arg of [
      'rackboot.node=blade1',
      'rackboot.iface=eth0',
      'rackboot.api=http://10.0.0.1:8080/api/v1',
      `rackboot.token=${scope.report!.token}`,
      'rackboot.nfs.www=10.0.0.1:/www',
      'rackboot.nfsopts.www=vers=4,ro',
      'rackboot.nfsdir.www=current',
      'rackboot.webroot=/var/www',
      'BOOTIF=01-52-54-00-00-0a-01',
    ]) {
      assert.ok(append.split(' ').includes(arg), `${arg} missing from: ${append}`);
    }
    assert.equal(scope.report!.url, 'http://10.0.0.1:8080/api/v1/nodes/blade1/events');
    assert.deepEqual(scope.node!.vars, { webroot: '/var/www', tier: 'web', kernelArgs: ['panic=10', { motd: 'hello from blade1' }] });
  });
});
