// Parallel gzip: one valid gzip member (zlib and gzip -t accept it), same
// bytes every time, at every size around the block boundaries.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { gzipParallel } from '../../../server/images/compress.js';
import { requireLab } from '../../helpers/env.js';

async function gz(input: Buffer, chunk: number, blockSize: number): Promise<Buffer> {
  async function* src() {
    for (let i = 0; i < input.length; i += chunk) yield input.subarray(i, i + chunk);
  }
  const out: Buffer[] = [];
  for await (const b of gzipParallel(src(), { blockSize, concurrency: 3 })) out.push(b);
  return Buffer.concat(out);
}

function mixed(n: number): Buffer {
  // Half compressible text, half noise: both deflate paths.
  const text = Buffer.from('rackboot blade '.repeat(Math.ceil(n / 30)));
  return Buffer.concat([text.subarray(0, n >> 1), randomBytes(n - (n >> 1))]);
}

describe('parallel gzip', () => {
  const B = 64 * 1024;
  for (const size of [0, 1, B - 1, B, B + 1, 3 * B + 17, 10 * B]) {
    test(`${size} bytes round-trip and are deterministic`, async () => {
      const input = mixed(size);
      const a = await gz(input, 10_000, B);
      const b = await gz(input, 777, B);
      assert.ok(a.equals(b), 'same bytes whatever the input chunking');
      assert.ok(gunzipSync(a).equals(input));
      assert.equal(a.readUInt32LE(a.length - 4), size, 'ISIZE');
    });
  }

  test('gzip -t accepts it as one member', async (t) => {
    if (!requireLab(t, { commands: ['gzip'] })) return;
    const input = mixed(5 * B + 3);
    const out = await gz(input, 4096, B);
    const r = spawnSync('gzip', ['-t', '-v'], { input: out, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const l = spawnSync('gzip', ['-l'], { input: out, encoding: 'utf8' });
    assert.equal(l.status, 0);
    // Compressed size close to a single-threaded deflate of the same data.
    const single = spawnSync('gzip', ['-6', '-c'], { input }).stdout.length;
    assert.ok(out.length < single * 1.1, `${out.length} vs ${single}`);
  });
});
