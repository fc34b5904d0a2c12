// nftables backend: LVS-NAT without IPVS. Each virtual service is one DNAT rule
// whose target comes from a map indexed by `numgen inc` (round robin) or
// `jhash ip saddr` (source hashing, also used for persistence), with each real
// server holding a range of indexes as wide as its weight. The whole table is
// replaced in one `nft -f` transaction, so a client never sees a half-applied
// pool. rackboot runs the health checks and re-renders on every change.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { formatCidr, formatIpv4 } from '../../net/ipv4.js';
import type { DesiredService, DesiredState } from '../desired.js';
import { CommandRunner } from '../exec.js';
import { countConnections, type ConnectionCounts } from '../connections.js';
import { gcd, type ApplyResult, type DirectorBackend } from './types.js';

export const NFT_TABLE = 'rackboot';

/** FNV-1a: a stable jhash seed per service, so a reload keeps each client on its server. */
function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** "0-2 : 10.0.0.11 . 80, 3 : 10.0.0.12 . 80"; weights divided by their gcd (rr: all 1). */
export function weightedMap(s: DesiredService): { modulus: number; entries: string } {
  const live = s.servers.filter((x) => x.weight > 0);
  const weights = live.map((x) => (s.scheduler === 'rr' ? 1 : x.weight));
  const g = weights.reduce((a, b) => gcd(a, b), 0) || 1;
  let at = 0;
  const entries = live.map((x, i) => {
    const w = weights[i]! / g;
    const key = w === 1 ? `${at}` : `${at}-${at + w - 1}`;
    at += w;
    return `${key} : ${formatIpv4(x.address)} . ${x.port}`;
  });
  return { modulus: at, entries: entries.join(', ') };
}

function match(s: DesiredService): string {
  return `ip daddr ${formatIpv4(s.vip)} ${s.protocol} dport ${s.port}`;
}

export function serviceRule(s: DesiredService): string | undefined {
  const live = s.servers.filter((x) => x.weight > 0);
  if (!live.length) return undefined;
  const comment = `comment "${s.name}"`;
  if (live.length === 1) return `${match(s)} dnat to ${formatIpv4(live[0]!.address)}:${live[0]!.port} ${comment}`;
  const { modulus, entries } = weightedMap(s);
  const hashed = s.scheduler === 'sh' || s.persistenceSec !== undefined;
  const index = hashed ? `jhash ip saddr mod ${modulus} seed 0x${seedOf(s.name).toString(16)}` : `numgen inc mod ${modulus}`;
  return `${match(s)} dnat ip addr . port to ${index} map { ${entries} } ${comment}`;
}

/** The complete `nft -f` input: create-then-delete-then-define replaces the table in one transaction. */
export function renderNftables(state: DesiredState): string {
  const t = '\t';
  const rules = state.services.map(serviceRule).filter((r): r is string => !!r);
  const empty = state.services.filter((s) => !serviceRule(s));
  const vips = [...new Set(state.services.map((s) => formatIpv4(s.vip)))];
  const lines = [
    `# rackboot director: ${state.services.length} virtual service(s); replaces table ip ${NFT_TABLE} atomically`,
    `table ip ${NFT_TABLE}`,
    `delete table ip ${NFT_TABLE}`,
    `table ip ${NFT_TABLE} {`,
    `${t}chain services {`,
    ...rules.map((r) => `${t}${t}${r}`),
    `${t}}`,
    '',
    `${t}chain prerouting {`,
    `${t}${t}type nat hook prerouting priority dstnat; policy accept;`,
    `${t}${t}jump services`,
    `${t}}`,
    '',
    // Connections the director itself opens to a VIP are balanced too.
    `${t}chain output {`,
    `${t}${t}type nat hook output priority -100; policy accept;`,
    `${t}${t}jump services`,
    `${t}}`,
    '',
    `${t}chain postrouting {`,
    `${t}${t}type nat hook postrouting priority srcnat; policy accept;`,
  ];
  if (vips.length && state.masquerade === 'always') {
    lines.push(`${t}${t}ct status dnat ct original ip daddr { ${vips.join(', ')} } masquerade`);
  } else if (vips.length && state.masquerade === 'auto' && state.inside) {
    // Only a client on the inside network needs it: the real server would answer it directly.
    lines.push(`${t}${t}ct status dnat ct original ip daddr { ${vips.join(', ')} } ip saddr ${formatCidr(state.inside)} masquerade`);
  }
  lines.push(`${t}}`);
  if (empty.length) {
    // A service with no server in the pool refuses at once instead of reaching a local socket or timing out.
    lines.push('', `${t}chain input {`, `${t}${t}type filter hook input priority 0; policy accept;`);
    for (const s of empty) {
      lines.push(`${t}${t}${match(s)} reject${s.protocol === 'tcp' ? ' with tcp reset' : ''} comment "${s.name}: no real server (pool empty or all weight 0)"`);
    }
    lines.push(`${t}}`);
  }
  lines.push('}', '');
  return lines.join('\n');
}

/**
 * Connections to a server that left the pool, still in their handshake: their
 * conntrack entries would keep sending the client's SYN retransmits to it.
 * Deleting them makes the retransmit a new connection, balanced to a live
 * server (what IPVS's expire_nodest_conn does). Established connections are
 * left alone: a server failing its check may still be finishing them.
 */
export function conntrackFlushArgs(prev: DesiredState, next: DesiredState): string[][] {
  const out: string[][] = [];
  for (const p of prev.services) {
    const n = next.services.find((x) => x.name === p.name && x.vip === p.vip && x.port === p.port && x.protocol === p.protocol);
    const still = new Set((n?.servers ?? []).filter((x) => x.weight > 0).map((x) => `${x.address}:${x.port}`));
    for (const r of p.servers) {
      if (r.weight === 0 || still.has(`${r.address}:${r.port}`)) continue;
      const args = ['-D', '-p', p.protocol, '--orig-dst', formatIpv4(p.vip), '--orig-port-dst', String(p.port), '--reply-src', formatIpv4(r.address), '--reply-port-src', String(r.port)];
      out.push(p.protocol === 'tcp' ? [...args, '--state', 'SYN_SENT'] : args);
    }
  }
  return out;
}

export class NftablesBackend implements DirectorBackend {
  readonly name = 'nftables' as const;
  readonly checksHealth = false;
  private last: string | undefined;
  private lastState: DesiredState | undefined;
  private conntrack: boolean | undefined;

  constructor(private readonly runner: CommandRunner, private readonly stateDir: string, private readonly log: Logger) {}

  async preflight(): Promise<void> {
    if (!(await this.runner.has('nft'))) throw new Error("the nftables backend needs the 'nft' command (Debian package nftables)");
  }

  render(state: DesiredState): string {
    return renderNftables(state);
  }

  async apply(state: DesiredState): Promise<ApplyResult> {
    const text = renderNftables(state);
    if (text === this.last) return { changed: false, summary: 'unchanged' };
    mkdirSync(this.stateDir, { recursive: true });
    const file = join(this.stateDir, 'ruleset.nft');
    // Kept on disk: the last ruleset applied, for an operator to read or re-load.
    writeFileSync(file, text);
    await this.runner.must('nft', ['-f', file]);
    this.last = text;
    const prev = this.lastState;
    this.lastState = state;
    if (prev) await this.flushHandshakes(prev, state);
    const pool = state.services.map((s) => `${s.name}: ${s.servers.filter((x) => x.weight > 0).map((x) => formatIpv4(x.address)).join(' ') || '(empty)'}`);
    return { changed: true, summary: pool.join('; ') };
  }

  private async flushHandshakes(prev: DesiredState, next: DesiredState): Promise<void> {
    const jobs = conntrackFlushArgs(prev, next);
    if (!jobs.length) return;
    if (this.conntrack === undefined) {
      this.conntrack = await this.runner.has('conntrack');
      if (!this.conntrack) this.log.warn("director: without the 'conntrack' command (Debian package conntrack), connections caught mid-handshake by a server's removal wait for the client's timeout");
    }
    if (!this.conntrack) return;
    for (const args of jobs) {
      const r = await this.runner.run('conntrack', args);
      // conntrack exits 1 when nothing matched ("0 flow entries have been deleted").
      if (r.code !== 0 && !/0 flow entries/.test(r.stderr)) this.log.warn(`director: conntrack ${args.join(' ')}: ${r.stderr.trim()}`);
    }
  }

  connections(state: DesiredState): Promise<ConnectionCounts> {
    return countConnections('conntrack', this.runner, state);
  }

  async stop(keep: boolean): Promise<void> {
    this.last = undefined;
    this.lastState = undefined;
    if (keep) return;
    const r = await this.runner.run('nft', ['delete', 'table', 'ip', NFT_TABLE]);
    if (r.code !== 0 && !/No such file|does not exist/i.test(r.stderr)) this.log.warn(`director: could not remove table ip ${NFT_TABLE}: ${r.stderr.trim()}`);
  }
}
