// The nesting bound of API bodies and vars: measured without recursion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { addMaxDepthKeyword, deeperThan, depthPath } from '../../server/config/depth.js';
import { schemaIssues } from '../../server/config/validate-schema.js';
import { ConfigSchema } from '../../server/main/config-schema.js';

const arrays = (n: number): unknown => JSON.parse('['.repeat(n) + ']'.repeat(n));

test('deeperThan: depth counts containers; the path leads to the first too-deep one', () => {
  assert.equal(deeperThan(1, 0), undefined);
  assert.equal(deeperThan({}, 1), undefined);
  assert.deepEqual(deeperThan({}, 0), []);
  assert.equal(deeperThan({ a: [{ b: 1 }] }, 3), undefined);
  assert.deepEqual(deeperThan({ a: [{ b: {} }] }, 3), ['a', '[0]', 'b']);
  assert.equal(deeperThan(arrays(64), 64), undefined);
  assert.ok(deeperThan(arrays(65), 64));
  // 200,000 levels: no stack overflow, and it stops at the bound.
  assert.equal(deeperThan(arrays(200_000), 32)!.length, 32);
});

test('depthPath names keys and indexes, cut short', () => {
  assert.equal(depthPath('body', ['vars', 'x', '[0]']), 'body.vars.x[0]');
  assert.equal(depthPath('body', ['a', 'b', 'c', 'd', 'e']), 'body.a.b.c.d...');
  assert.equal(depthPath('', ['x']), 'x');
});

test('maxDepth keyword: refuses deeper values with the path; config vars are bounded too', () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addMaxDepthKeyword(ajv);
  const v = ajv.compile({ type: 'object', properties: { vars: { type: 'object', maxDepth: 2 } } });
  assert.equal(v({ vars: { a: {} } }), true);
  assert.equal(v({ vars: { a: { b: {} } } }), false);
  assert.equal(v.errors?.[0]?.instancePath, '/vars');
  assert.match(v.errors?.[0]?.message ?? '', /nests deeper than 2 levels \(at a\.b\)/);
  const issues = schemaIssues(ConfigSchema, { cluster: { name: 'c', domain: 'd', vars: { x: arrays(40) } } });
  assert.ok(issues.some((i) => i.path === 'cluster.vars' && /nests deeper than 32 levels/.test(i.message)), JSON.stringify(issues));
});
