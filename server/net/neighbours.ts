// Which on-link IPv4 addresses the kernel already knows the MAC of (its ARP
// table, /proc/net/arp of the sockets' network namespace).
//
// A datagram to an on-link address without an ARP entry waits in the kernel
// (about 3 s of ARP tries) and holds its socket's send memory meanwhile: a
// flood of DHCPINFORMs naming unused addresses filled the DHCP socket's send
// buffer, and every later reply on that interface, registered blades' too,
// queued behind them for minutes. DHCP replies therefore go unicast only to
// addresses the kernel can send to at once; any other reply is broadcast
// (RFC 2131 4.1 allows it where unicast is not possible). A real client that
// unicasts to the server has just ARPed for it, which gives the server its
// entry, so its reply still goes unicast.
import { readFileSync } from 'node:fs';
import { parseIpv4 } from './ipv4.js';

/** ATF_COM: the entry has a link-layer address (REACHABLE, STALE, DELAY, PROBE or permanent). */
const ATF_COM = 0x2;

export interface NeighbourOptions {
  /** The table to read (default /proc/net/arp; /proc/PID/net/arp for another process's namespace). */
  file?: string;
  /** Re-read at least this often (ms). */
  maxAgeMs?: number;
  /** On a miss, re-read only if the copy is older than this (ms): a flood of misses costs at most this rate of reads. */
  missRefreshMs?: number;
  /** For tests: the table's text. */
  read?: () => string;
}

/** `${device}|${ip}` of every complete entry in /proc/net/arp text. */
export function completeEntries(text: string): Set<string> {
  const out = new Set<string>();
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    if (f.length < 6) continue;
    const ip = parseIpv4(f[0]!);
    const flags = Number(f[2]);
    if (ip === undefined || !Number.isFinite(flags) || !(flags & ATF_COM) || f[3] === '00:00:00:00:00:00') continue;
    out.add(`${f[5]}|${ip}`);
  }
  return out;
}

export class NeighbourTable {
  private entries = new Set<string>();
  private readAt = -Infinity;
  private readonly read: () => string;
  private readonly maxAgeMs: number;
  private readonly missRefreshMs: number;
  /** Reads of the table (for tests and metrics). */
  reads = 0;

  constructor(opts: NeighbourOptions = {}) {
    const file = opts.file ?? '/proc/net/arp';
    this.read = opts.read ?? (() => readFileSync(file, 'utf8'));
    this.maxAgeMs = opts.maxAgeMs ?? 1000;
    this.missRefreshMs = opts.missRefreshMs ?? 50;
  }

  private refresh(now: number): void {
    this.readAt = now;
    this.reads++;
    try {
      this.entries = completeEntries(this.read());
    } catch {
      // No table to read (not Linux, no /proc): nothing is known, replies are broadcast.
      this.entries = new Set();
    }
  }

  /** Whether `ip` has a complete ARP entry on `device`. */
  resolved(device: string, ip: number, now: number): boolean {
    if (now - this.readAt >= this.maxAgeMs) this.refresh(now);
    const key = `${device}|${ip}`;
    if (this.entries.has(key)) return true;
    if (now - this.readAt < this.missRefreshMs) return false;
    this.refresh(now);
    return this.entries.has(key);
  }
}
