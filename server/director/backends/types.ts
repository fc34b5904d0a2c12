// What every director backend (nftables, ipvs, keepalived) offers the service.
import type { BackendName } from '../config.js';
import type { DesiredState } from '../desired.js';
import type { ConnectionCounts } from '../connections.js';

export interface ApplyResult {
  /** False when the kernel (or keepalived) already had this state and nothing ran. */
  changed: boolean;
  /** The commands or file that were applied, for the log. */
  summary: string;
}

export interface DirectorBackend {
  readonly name: BackendName;
  /**
   * True when the engine checks real servers itself (keepalived): it is given
   * every candidate and decides the pool; rackboot's checks then only report.
   */
  readonly checksHealth: boolean;
  /** Throw a one-line error when the engine's tool is missing or unusable. */
  preflight(): Promise<void>;
  /** The state in the engine's own language (nft ruleset, ipvsadm-save lines, keepalived.conf). */
  render(state: DesiredState): string;
  apply(state: DesiredState): Promise<ApplyResult>;
  /** Connections per real server of the state applied, as the engine counts them (absent: it cannot). */
  connections?(state: DesiredState): Promise<ConnectionCounts>;
  /** Remove what rackboot applied (unless keep), stop children. */
  stop(keep: boolean): Promise<void>;
}

/** The "a.b.c.d:port" form ipvsadm and logs use. */
export function endpoint(ip: string, port: number): string {
  return `${ip}:${port}`;
}

export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
