// sliceSegments: the parts of a BootFile's segments that make a byte range
// (what the sendfile path hands the addon for a Range request), checked
// against the bytes the segments stand for, on every range of a small file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FileSegment } from '../../../server/boot/content.js';
import { sliceSegments } from '../../../server/render/http-sendfile.js';

/** What a segment list stands for, with fd ranges as bytes offset+i of a known file. */
const FILE = Buffer.from(Array.from({ length: 64 }, (_, i) => 100 + i));
function bytesOf(segs: readonly FileSegment[]): Buffer {
  return Buffer.concat(segs.map((s) => ('fd' in s ? FILE.subarray(s.offset, s.offset + s.length) : 'data' in s ? s.data : Buffer.alloc(s.zero))));
}

test('every range of a file made of a descriptor range, bytes and zeros slices to the same bytes', () => {
  const segs: FileSegment[] = [{ fd: 7, offset: 5, length: 10 }, { data: Buffer.from('overlay!') }, { zero: 3 }, { fd: 7, offset: 40, length: 6 }];
  const whole = bytesOf(segs);
  assert.equal(whole.length, 27);
  for (let a = 0; a <= whole.length; a++) {
    for (let b = a; b <= whole.length; b++) {
      const part = sliceSegments(segs, a, b);
      assert.deepEqual(bytesOf(part), whole.subarray(a, b), `range [${a}, ${b})`);
      assert.ok(part.every((p) => ('fd' in p ? p.length : 'data' in p ? p.data.length : p.zero) > 0), 'no empty parts');
      assert.ok(part.every((p) => !('fd' in p) || p.fd === 7));
    }
  }
});

test('an empty segment list and a range past the end give nothing', () => {
  assert.deepEqual(sliceSegments([], 0, 10), []);
  assert.deepEqual(sliceSegments([{ zero: 4 }], 4, 8), []);
});
