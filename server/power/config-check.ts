// The power part of loading a config (and of `rackboot config check`): the
// seed entries' BMCs (a password file that cannot be read, a password given
// twice, a CA file that is not there) and the key file. Messages name the
// key and the file, never a password or a file's content.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import type { ConfigIssue } from '../config/errors.js';
import type { ParsedConfig } from '../config/loaded.js';
import { parseDuration } from '../config/types.js';
import type { BmcInput } from '../store/bmc.js';

function unreadable(file: string): string | undefined {
  try {
    accessSync(file, constants.R_OK);
    if (!statSync(file).isFile()) return `${file} is not a file`;
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${file} does not exist` : code === 'EACCES' ? `${file} cannot be read (permission denied)` : `${file} cannot be read (${code})`;
  }
}

function bmcIssues(b: BmcInput, at: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (b.password !== undefined && b.passwordFile !== undefined) issues.push({ path: `${at}.passwordFile`, message: 'give password or passwordFile, not both' });
  if (b.passwordFile !== undefined) {
    const why = unreadable(b.passwordFile);
    if (why) issues.push({ path: `${at}.passwordFile`, message: why });
    else if (readFileSync(b.passwordFile, 'utf8').trim() === '') issues.push({ path: `${at}.passwordFile`, message: `${b.passwordFile} is empty` });
  }
  if (b.redfish?.caFile !== undefined) {
    const why = unreadable(b.redfish.caFile);
    if (why) issues.push({ path: `${at}.redfish.caFile`, message: why });
  }
  if (b.redfish?.caFile !== undefined && b.redfish.insecure) issues.push({ path: `${at}.redfish.insecure`, message: 'insecure: true accepts any certificate; drop it or caFile' });
  return issues;
}

/** The seed groups' BMCs (run when every groups entry passed the schema, whatever the nodes do). */
export function seedGroupBmcIssues(c: ParsedConfig): ConfigIssue[] {
  return c.config.groups.flatMap((g, i) => (g.bmc ? bmcIssues(g.bmc, `groups[${i}].bmc`) : []));
}

export function seedNodeBmcIssues(c: ParsedConfig): ConfigIssue[] {
  return c.config.nodes.flatMap((n, i) => (n.bmc ? bmcIssues(n.bmc, `nodes[${i}].bmc`) : []));
}

/** The largest stagger: a longer pause between streamed results looks like a hung stream to HTTP clients. */
export const MAX_STAGGER_MS = 60_000;

/** The power section itself: the stagger, and the key file when one is named. */
export function powerSectionIssues(c: ParsedConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (parseDuration(c.config.power.stagger) > MAX_STAGGER_MS) issues.push({ path: 'power.stagger', message: `${c.config.power.stagger}: at most ${MAX_STAGGER_MS / 1000} s` });
  const key = c.config.power.keyFile;
  if (key !== undefined) {
    try {
      const k = Buffer.from(readFileSync(c.paths.bmcKeyFile, 'utf8').trim(), 'base64');
      if (k.length !== 32) issues.push({ path: 'power.keyFile', message: `${c.paths.bmcKeyFile} does not hold a 32-byte base64 key` });
    } catch (e) {
      // A missing key file is created on first use.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') issues.push({ path: 'power.keyFile', message: unreadable(c.paths.bmcKeyFile) ?? `${c.paths.bmcKeyFile} cannot be read` });
    }
  }
  return issues;
}
