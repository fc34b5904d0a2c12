// CLI tables: padded columns, and a multi-line cell (a build error) kept on its row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { table } from '../../../server/cli/table.js';

test('table: columns padded; a cell with line breaks stays on one line', () => {
  const out = table([
    ['NAME', 'BUILDING'],
    ['web-blade', 'failed: missing binary\n  /usr/sbin/apache2\nnot found'],
    ['discovery', '-'],
  ]);
  assert.equal(out.split('\n').length, 3);
  assert.equal(out, ['NAME       BUILDING', 'web-blade  failed: missing binary / /usr/sbin/apache2 / not found', 'discovery  -'].join('\n'));
});
