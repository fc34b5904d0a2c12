// The pair part of loading a config (and of `rackboot config check`): what
// resolvePair finds wrong (links, floating addresses, the database and
// conntrackd against the other sections).
import type { ConfigIssue } from '../config/errors.js';
import type { ParsedConfig } from '../config/loaded.js';
import { resolvePair } from './model.js';

export function pairConfigIssues(c: ParsedConfig): ConfigIssue[] {
  return resolvePair(c).issues;
}
