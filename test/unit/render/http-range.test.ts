// Range, If-None-Match and If-Range decisions for HTTP boot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_RANGES, notModified, parseRange, rangeStillValid } from '../../../server/render/http-range.js';

test('single, open-ended, suffix and clipped ranges', () => {
  assert.deepEqual(parseRange('bytes=0-99', 1000), { kind: 'partial', ranges: [{ start: 0, end: 100 }] });
  assert.deepEqual(parseRange('bytes=900-', 1000), { kind: 'partial', ranges: [{ start: 900, end: 1000 }] });
  assert.deepEqual(parseRange('bytes=-100', 1000), { kind: 'partial', ranges: [{ start: 900, end: 1000 }] });
  assert.deepEqual(parseRange('bytes=-5000', 1000), { kind: 'partial', ranges: [{ start: 0, end: 1000 }] });
  assert.deepEqual(parseRange('bytes=990-2000', 1000), { kind: 'partial', ranges: [{ start: 990, end: 1000 }] });
  assert.deepEqual(parseRange('bytes=0-0, 10-19,-1', 1000), { kind: 'partial', ranges: [{ start: 0, end: 1 }, { start: 10, end: 20 }, { start: 999, end: 1000 }] });
});

test('unsatisfiable: every range past the end (416)', () => {
  assert.deepEqual(parseRange('bytes=1000-', 1000), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=5000-6000,2000-', 1000), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=-0', 1000), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
});

test('malformed or abusive Range headers are ignored (whole file)', () => {
  for (const h of [undefined, '', 'bytes', 'bytes=', 'bytes=a-b', 'bytes=5-1', 'items=0-1', 'bytes=-', 'bytes=1-2-3', 'bytes=99999999999999999999-']) {
    assert.deepEqual(parseRange(h, 1000), { kind: 'full' }, String(h));
  }
  const many = 'bytes=' + Array.from({ length: MAX_RANGES + 1 }, (_, i) => `${i}-${i}`).join(',');
  assert.deepEqual(parseRange(many, 1000), { kind: 'full' });
});

test('If-None-Match and If-Range', () => {
  assert.equal(notModified('"abc"', '"abc"'), true);
  assert.equal(notModified('"x", W/"abc"', '"abc"'), true);
  assert.equal(notModified('*', '"abc"'), true);
  assert.equal(notModified('"x"', '"abc"'), false);
  assert.equal(notModified('"abc"', undefined), false);
  assert.equal(rangeStillValid(undefined, '"abc"'), true);
  assert.equal(rangeStillValid('"abc"', '"abc"'), true);
  assert.equal(rangeStillValid('"old"', '"abc"'), false);
  assert.equal(rangeStillValid('W/"abc"', '"abc"'), false);
  assert.equal(rangeStillValid('Wed, 21 Oct 2015 07:28:00 GMT', '"abc"'), false);
});
