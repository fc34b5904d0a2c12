// Recipes: schema errors name the key path, ${ENV} substitution, defaults
// and normalisation; the shipped recipes parse.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../../server/config/errors.js';
import { SHIPPED_IMAGES } from '../../../server/paths.js';
import { listRecipes, loadRecipe, RecipeNotFoundError } from '../../../server/images/recipe.js';
import { tempDir } from '../../helpers/tmp.js';

function recipeDir(t: TestContext, text: string): string {
  const d = tempDir(t, 'rb-recipe-');
  mkdirSync(join(d, 'r'));
  writeFileSync(join(d, 'r', 'recipe.yaml'), text);
  return d;
}

describe('recipes', () => {
  test('every problem at once, each with its key path and a hint', (t) => {
    const d = recipeDir(t, `
kernal: { file: /boot/vmlinuz }
compression: lzma
modules: [virtio_net, { name: e1000, optinal: true }, 7]
binaries: [{ path: "" }]
files: [{ src: /etc/hosts, mode: "999" }]
`);
    assert.throws(
      () => loadRecipe('r', [d]),
      (e: Error) => {
        assert.ok(e instanceof ConfigError);
        const text = e.message;
        assert.match(text, /kernal: unknown key \(did you mean 'kernel'\?\)/);
        assert.match(text, /kernel: is required/);
        assert.match(text, /compression: "lzma" is not one of: gzip, zstd, none/);
        assert.match(text, /modules\[1\]: .*not a module name, or \{name, optional\}/);
        assert.match(text, /modules\[2\]: 7 is not a module name/);
        assert.match(text, /files\[0\]/);
        return true;
      },
    );
  });

  test("compressionLevel within the chosen compressor's range: gzip stops at 9, zstd at 19", (t) => {
    const d = recipeDir(t, `
kernel: { file: /boot/vmlinuz }
compressionLevel: 12
`);
    assert.throws(() => loadRecipe('r', [d]), /compressionLevel: 12 is above 9, the highest level gzip has/);
    writeFileSync(join(d, 'r', 'recipe.yaml'), 'kernel: { file: /boot/vmlinuz }\ncompression: zstd\ncompressionLevel: 12\n');
    assert.equal(loadRecipe('r', [d]).compressionLevel, 12);
  });

  test('defaults, ${ENV} substitution, relative paths against the recipe directory', (t) => {
    const d = recipeDir(t, `
kernel: { deb: "\${KDIR:-/nowhere}/linux-image-*.deb" }
cmdline: "  console=ttyS0    quiet "
modules: [virtio_net, { name: e1000, optional: true }]
binaries: [/usr/sbin/apache2, { path: tools/x, optional: true }]
files: [etc/motd, { src: /etc/hosts, dest: /etc/hosts.host, mode: "0600" }]
`);
    const r = loadRecipe('r', [d], { KDIR: '/k' });
    assert.deepEqual(r.kernel, { deb: '/k/linux-image-*.deb' });
    assert.equal(r.cmdline, 'console=ttyS0 quiet');
    assert.equal(r.compression, 'gzip');
    assert.equal(r.busybox, '/bin/busybox');
    assert.deepEqual(r.modules, [{ name: 'virtio_net', optional: false }, { name: 'e1000', optional: true }]);
    assert.deepEqual(r.binaries[1], { path: join(d, 'r', 'tools/x'), optional: true });
    assert.deepEqual(r.files[0], { src: join(d, 'r', 'etc/motd'), dest: '/etc/motd', optional: false, mode: undefined });
    assert.equal(r.files[1]!.mode, 0o600);
    assert.equal(r.overlay, null);
    assert.equal(Object.hasOwn(loadRecipe('r', [d], {}).kernel, 'deb'), true);
    assert.throws(() => loadRecipe('nope', [d]), RecipeNotFoundError);
    assert.throws(() => loadRecipe('../r', [d]), RecipeNotFoundError);
  });

  test('the shipped recipes parse: web-blade and discovery', () => {
    assert.deepEqual(listRecipes([SHIPPED_IMAGES]), ['discovery', 'web-blade']);
    const w = loadRecipe('web-blade', [SHIPPED_IMAGES], {});
    assert.ok(w.modules.some((m) => m.name === 'nfsv4'));
    assert.ok(w.overlay && w.nodeOverlay);
    assert.ok(loadRecipe('discovery', [SHIPPED_IMAGES], {}).overlay);
  });
});
