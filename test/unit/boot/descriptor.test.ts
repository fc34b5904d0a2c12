// Opening boot files synchronously: a FIFO or a directory in a file's place
// is "no file", at once (a blocking open of a FIFO would stall the event loop,
// and with it DHCP, TFTP and the API); a regular file opens; a vet that
// throws leaves no descriptor behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openedFile, openRegularFile } from '../../../server/boot/descriptor.js';
import { tempDir } from '../../helpers/tmp.js';

const openFds = () => readdirSync('/proc/self/fd').length;

test('openRegularFile: FIFO and directory are no file, a regular file opens, a failed vet closes', async (t) => {
  const dir = tempDir(t, 'rackboot-desc-');
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'file'), 'hello');
  const before = openFds();
  const t0 = Date.now();
  assert.equal(openRegularFile(join(dir, 'fifo')), undefined);
  assert.ok(Date.now() - t0 < 1000, 'the FIFO did not block');
  assert.equal(openRegularFile(join(dir, 'sub')), undefined);
  assert.throws(() => openRegularFile(join(dir, 'file'), () => {
    throw new Error('refused');
  }), /refused/);
  assert.equal(openFds(), before, 'no descriptor left behind');
  const f = openRegularFile(join(dir, 'file'))!;
  assert.equal(f.stat.size, 5);
  const file = openedFile(f.fd);
  const buf = Buffer.alloc(5);
  assert.equal(await file.read(buf, 0, 5, 0), 5);
  assert.equal(buf.toString(), 'hello');
  await file.close();
  assert.equal(openFds(), before);
  await assert.rejects(file.read(buf, 0, 5, 0), /closed/);
});
