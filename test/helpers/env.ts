// When a test may skip: outside CI, a test that needs root, namespaces or a
// tool the machine lacks skips with a printed reason. In CI (env CI set),
// the same lack is a failure: CI runs as root and installs every tool.
import type { TestContext } from 'node:test';
import { spawnSync } from 'node:child_process';

export const IN_CI = !!process.env.CI;

export function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why a test cannot run here (root, commands), or undefined when it can. For before() hooks that set up what requireLab's tests use. */
export function labLacks(needs: { root?: boolean; commands?: string[] } = { root: true }): string | undefined {
  const missing: string[] = [];
  if (needs.root && process.getuid?.() !== 0) missing.push('root (network namespaces)');
  for (const c of needs.commands ?? []) if (!haveCommand(c)) missing.push(`the command '${c}'`);
  return missing.length ? `needs ${missing.join(', ')}; run .ci/run or install the Debian packages it lists` : undefined;
}

/** Returns true when the test can go on; otherwise skips (or throws in CI) with the reason. */
export function requireLab(t: TestContext, needs: { root?: boolean; commands?: string[] } = { root: true }): boolean {
  const reason = labLacks(needs);
  if (!reason) return true;
  if (IN_CI) throw new Error(`CI must run this test, but it ${reason}`);
  console.log(`# skipped: ${t.name}: ${reason}`);
  t.skip(reason);
  return false;
}
