// Boot files made of parts: any range, across part boundaries, through the
// read window, equals the concatenation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openedFile } from '../../../server/boot/descriptor.js';
import { bufferPart, filePart, partsFile, zeroPart } from '../../../server/images/bootfile.js';
import { tempDir } from '../../helpers/tmp.js';

test('reads of any range, in any order, equal the concatenated parts', async (t) => {
  const d = tempDir(t, 'rb-bootfile-');
  const base = randomBytes(700_001);
  writeFileSync(join(d, 'f'), base);
  const fh = openedFile(openSync(join(d, 'f'), 'r'));
  try {
    const overlay = randomBytes(3333);
    const all = Buffer.concat([base, Buffer.alloc(3), overlay]);
    const f = partsFile([filePart(fh, base.length, 64 * 1024), zeroPart(3), bufferPart(overlay)], { kind: 'initrd' });
    assert.equal(f.size, all.length);
    // Sequential TFTP-sized blocks, then random ranges, then past the end.
    for (let at = 0; at < f.size; at += 1468) assert.ok((await f.read(at, at + 1468)).equals(all.subarray(at, at + 1468)), `block at ${at}`);
    for (let i = 0; i < 300; i++) {
      const a = Math.floor(Math.random() * f.size);
      const b = a + Math.floor(Math.random() * 200_000);
      assert.ok((await f.read(a, b)).equals(all.subarray(a, Math.min(b, f.size))), `read(${a}, ${b})`);
    }
    assert.equal((await f.read(f.size, f.size + 10)).length, 0);
    const streamed: Buffer[] = [];
    for await (const c of f.stream(5, f.size - 5)) streamed.push(c as Buffer);
    assert.ok(Buffer.concat(streamed).equals(all.subarray(5, f.size - 5)));
  } finally {
    await fh.close();
  }
});
