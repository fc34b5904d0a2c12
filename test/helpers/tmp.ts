// Temporary directories for tests, removed however the test ends. Two
// forms, because node:test (Node 20) cannot register a suite's after hook
// from inside its before() hook (there, after() belongs to the hook
// itself and runs as soon as the hook returns):
//   tempDir(t)        inside a test: removed by t.after() when it ends.
//   suiteTempDir()    in a describe() body or at a file's top level: made
//                     now, removed by an after() hook registered now.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, type TestContext } from 'node:test';

/** A new directory under os.tmpdir() whose name starts with prefix. */
export function makeTempDir(prefix = 'rackboot-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Removes a directory and everything in it; nothing if it is gone already. */
export function removeTempDir(dir: string): void {
  // Retries: a child process just killed may still be closing files in it.
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** A new directory for this test, removed when the test ends, passed or failed (after the test's own finally blocks). */
export function tempDir(t: TestContext, prefix?: string): string {
  const dir = makeTempDir(prefix);
  t.after(() => removeTempDir(dir));
  return dir;
}

/**
 * A new directory for a suite, made now and removed by an after() hook
 * registered now. A suite's after hooks run in the order they were
 * registered, so in a describe() body call this below the after() that
 * stops whatever still writes into the directory (a server, a daemon); at
 * a file's top level the directory goes once every suite of the file has
 * finished, after all their hooks.
 */
export function suiteTempDir(prefix?: string): string {
  const dir = makeTempDir(prefix);
  after(() => removeTempDir(dir));
  return dir;
}
