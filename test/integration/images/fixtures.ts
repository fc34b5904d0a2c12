// A test recipe with a made-up kernel and modules tree (no kernel package
// needed): busybox, a host binary with its libraries, files, an overlay and
// a node overlay.
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BLADE_MODULES, fakeModulesDir } from '../../unit/images/fake-elf.js';

export const SH = ['/usr/bin/dash', '/bin/dash'].find((p) => existsSync(p)) ?? '/bin/sh';

/** A recipe directory with a fake kernel and modules tree; returns its root. */
export function makeRecipe(root: string, name: string, extra = ''): string {
  const dir = join(root, 'recipes', name);
  mkdirSync(join(dir, 'overlay/etc'), { recursive: true });
  mkdirSync(join(dir, 'node-overlay/etc'), { recursive: true });
  const k = join(root, 'kernel');
  if (!existsSync(k)) {
    mkdirSync(k, { recursive: true });
    writeFileSync(join(k, 'vmlinuz-6.1.0-test'), Buffer.alloc(4096, 7));
    fakeModulesDir(join(k, 'modules'), BLADE_MODULES, ['drivers/net/e1000/e1000']);
  }
  writeFileSync(
    join(dir, 'recipe.yaml'),
    `description: test image
kernel: { file: ${join(k, 'vmlinuz-6.1.0-test')}, modules: ${join(k, 'modules')} }
cmdline: console=ttyS0 quiet
modules: [virtio_pci, virtio_net, nfsv4, e1000, { name: igb, optional: true }]
binaries: [${SH}, { path: /nonexistent/optional-tool, optional: true }]
files:
  - { src: ${join(root, 'motd')}, dest: /etc/motd, mode: "0600" }
  - { src: ${join(root, 'tree')}, dest: /opt/tree }
vars: { greeting: hello }
${extra}`,
  );
  writeFileSync(join(root, 'motd'), 'welcome\n');
  mkdirSync(join(root, 'tree/sub'), { recursive: true });
  writeFileSync(join(root, 'tree/sub/file'), 'in a tree\n');
  if (!existsSync(join(root, 'tree/link'))) symlinkSync('sub/file', join(root, 'tree/link'));
  writeFileSync(join(dir, 'overlay/etc/greeting.hbs'), '{{vars.greeting}} from {{image.name}} on {{cluster.name}} ({{vars.site}}), kernel {{image.kernelRelease}}\n');
  writeFileSync(join(dir, 'overlay/init'), '#!/bin/sh\nexec /bin/sh\n');
  chmodSync(join(dir, 'overlay/init'), 0o775);
  writeFileSync(join(dir, 'node-overlay/etc/whoami.hbs'), '{{node.name}} {{#each node.interfaces}}{{name}}={{ipv4}} {{/each}}\n');
  return join(root, 'recipes');
}

