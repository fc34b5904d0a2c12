// Versions named by a prefix: exactly one stored version, or an error that
// says whether none or several matched (a prefix must never pick one silently).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageStore, VersionError } from '../../../server/images/store.js';
import { tempDir } from '../../helpers/tmp.js';

test('a version by id or unique prefix; an ambiguous or unknown prefix is refused with the candidates', async (t) => {
  const root = tempDir(t, 'rb-imgstore-');
  for (const v of ['abcd000000000001', 'abcd000000000002', 'beef000000000003']) {
    mkdirSync(join(root, 'blade', v), { recursive: true });
    writeFileSync(join(root, 'blade', v, 'manifest.json'), '{}');
  }
  const store = new ImageStore(root, 3);
  assert.deepEqual(store.resolveVersion('blade', 'beef'), { version: 'beef000000000003' });
  assert.deepEqual(store.resolveVersion('blade', 'abcd000000000002'), { version: 'abcd000000000002' });
  const amb = store.resolveVersion('blade', 'abcd');
  assert.ok('problem' in amb && amb.problem === 'ambiguous');
  assert.match(amb.message, /ambiguous: it matches abcd000000000001, abcd000000000002|ambiguous: it matches abcd000000000002, abcd000000000001/);
  const none = store.resolveVersion('blade', 'f00d');
  assert.ok('problem' in none && none.problem === 'unknown');
  assert.match(none.message, /has no stored version f00d \(have: /);
  await assert.rejects(store.rollback('blade', 'abcd'), (e: unknown) => e instanceof VersionError && e.problem === 'ambiguous');
});
