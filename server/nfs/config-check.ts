// The nfs part of `rackboot config check` and of loading a config: every
// check that needs no file system (names, networks, rw flag, conflicts,
// paths under the content roots). The service repeats them with the file
// system (existence, symlinks) when it starts.
import { isIPv4 } from 'node:net';
import { resolve } from 'node:path';
import type { ConfigIssue } from '../config/errors.js';
import type { ParsedConfig } from '../config/loaded.js';
import { configExports } from './model.js';
import { checkExport, type Neighbour } from './validate.js';

export function nfsConfigIssues(c: ParsedConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const nfs = c.config.nfs;
  const bind = nfs.ganesha?.bind;
  if (bind !== undefined && bind !== 'auto' && !isIPv4(bind)) issues.push({ path: 'nfs.ganesha.bind', message: `'${bind}' is not 'auto' or an IPv4 address` });
  const roots = nfs.contentRoots.map((r) => resolve(r));
  const accepted: Neighbour[] = [];
  for (const e of configExports(c)) {
    const { issues: found } = checkExport(e.spec, { networks: c.networkByName, roots, others: accepted });
    for (const i of found) issues.push({ path: `${e.field}.${i.field}`, message: i.message });
    accepted.push({ spec: e.spec });
  }
  return issues;
}
