// Config errors in tests: every issue resolveConfig reports, as "path: message" lines.
import assert from 'node:assert/strict';
import { ConfigError } from '../../server/config/errors.js';
import { resolveConfig } from '../../server/main/config.js';

export function issues(raw: Record<string, unknown>): string[] {
  try {
    resolveConfig(raw, null, {});
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

/** One issue at `path` whose line matches `re`. */
export function expectIssue(raw: Record<string, unknown>, path: string, re: RegExp): void {
  const found = issues(raw);
  assert.ok(
    found.some((i) => i.startsWith(path + ': ') && re.test(i)),
    `expected an issue at ${path} matching ${re}, got:\n${found.join('\n')}`,
  );
}
