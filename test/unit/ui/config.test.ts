// The dashboard's config keys: checked like every section, each problem
// naming its key path (rackboot config check prints them all).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../server/config/errors.js';
import { resolveConfig } from '../../../server/main/config.js';

const problems = (raw: Record<string, unknown>): string[] => {
  try {
    resolveConfig({ dataDir: '/tmp/rackboot-ui-config', ...raw }, null, {});
    return [];
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
};

test('ui and api.viewerToken: defaults pass, each bad value is named by its key', () => {
  assert.deepEqual(problems({}), []);
  const cfg = resolveConfig({ dataDir: '/tmp/rackboot-ui-config' }, null, {});
  assert.deepEqual(cfg.config.ui, { enabled: true, sessionTtl: '12h', secureCookie: 'auto' });
  assert.equal(cfg.config.api.viewerToken, '');
  assert.deepEqual(problems({ ui: { sessionTtl: '10s' } }), ['ui.sessionTtl: 10s is outside 1m..30d']);
  assert.match(problems({ ui: { secureCookie: 'sometimes' } })[0]!, /^ui\.secureCookie: /);
  assert.match(problems({ ui: { enable: true } })[0]!, /^ui\.enable: unknown key \(did you mean 'enabled'\?\)/);
  assert.deepEqual(problems({ api: { token: 'the-same-token-for-both', viewerToken: 'the-same-token-for-both' } }), [
    'api.viewerToken: is the same as api.token: a viewer would have every right (choose another token)',
  ]);
  assert.deepEqual(problems({ api: { viewerToken: 'short' } }), ['api.viewerToken: is 5 characters; use at least 16 (e.g. openssl rand -base64 24)']);
});
