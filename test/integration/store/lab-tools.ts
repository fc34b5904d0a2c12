// What the shared-store lab tests use: every ACK as it crossed the wire
// (dumpcap on the client side, read by tshark: the proof does not rest on
// rackboot's word), perfdhcp as a relay, and the leases as the database
// holds them (psql).
import type { NetLab } from '../../helpers/netns.js';
import type { PgCluster } from '../../helpers/postgres.js';

export interface Ack {
  ip: string;
  mac: string;
  /** Epoch ms the frame was captured. */
  at: number;
}

/** Capture DHCP replies in a namespace from now on; stop() returns the ACKs. */
export async function ackCapture(lab: NetLab, ns: string, pcap: string, iface = 'eth0'): Promise<{ stop(): Promise<Ack[]> }> {
  const cap = lab.spawn(ns, 'dumpcap', ['-i', iface, '-B', '16', '-f', 'udp src port 67', '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    cap.stderr!.on('data', (d: Buffer) => ((err += d.toString()), /Capturing on/.test(err) && resolve()));
    cap.once('exit', () => reject(new Error(`dumpcap exited: ${err}`)));
  });
  return {
    async stop() {
      const gone = new Promise((r) => cap.once('exit', r));
      cap.kill('SIGTERM');
      await gone;
      const r = await lab.exec(ns, 'tshark', ['-r', pcap, '-Y', 'dhcp.option.dhcp == 5', '-T', 'fields', '-e', 'dhcp.ip.your', '-e', 'dhcp.hw.mac_addr', '-e', 'frame.time_epoch']);
      return r.stdout
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => {
          const [ip, mac, t] = l.split('\t') as [string, string, string];
          return { ip, mac, at: Number(t) * 1000 };
        });
    },
  };
}

export interface PerfResult {
  discovers: number;
  acks: number;
  out: string;
}

/** perfdhcp as a relay from the namespace's eth0 to `server`: a number of exchanges (num) or a time (seconds). */
export async function perfdhcp(lab: NetLab, ns: string, server: string, o: { rate: number; clients: number; num?: number; seconds?: number; mac: string }): Promise<PerfResult> {
  const args = ['-4', '-r', String(o.rate), '-R', String(o.clients), '-b', `mac=${o.mac}`, ...(o.num ? ['-n', String(o.num)] : []), ...(o.seconds ? ['-p', String(o.seconds)] : []), '-l', 'eth0', server];
  const r = await lab.exec(ns, 'perfdhcp', args, { timeoutMs: 120_000 });
  const nums = (re: RegExp) => [...r.stdout.matchAll(re)].map((m) => Number(m[1]));
  return { discovers: nums(/sent packets:\s*(\d+)/g)[0] ?? 0, acks: nums(/received packets:\s*(\d+)/g)[1] ?? 0, out: r.stdout + r.stderr };
}

/** The database a test URL names. */
export function dbName(url: string): string {
  return /\/([^/?]+)\?/.exec(url)?.[1] ?? '';
}

/** Leases by address, straight from the database. */
export function dbLeases(cluster: PgCluster, db: string): Map<string, { mac: string; state: string; server: string }> {
  const out = cluster.psql(db, "SELECT ipv4 || '|' || mac || '|' || state || '|' || coalesce(server, '') FROM leases");
  const rows = new Map<string, { mac: string; state: string; server: string }>();
  for (const line of out.split('\n')) {
    const [ip, mac, state, server] = line.trim().split('|');
    if (ip && mac && state) rows.set(ip, { mac, state, server: server ?? '' });
  }
  return rows;
}
