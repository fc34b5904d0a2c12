// A build is complete when the servers that must serve it hold it too (the
// pair's peer: it takes over the blades' boots at any moment). The build
// job waits, after making the version current, until each of those servers
// says in its heartbeat that it holds the version (it fetches it on the
// pointer change, see peers.ts), or until the wait runs out: then the job
// ends saying which server lacks it, and GET /pair lists it under the
// peer's lacks until the peer has it.
import type { Presence } from '../store/presence.js';

export interface ReplicaWait {
  peers: Pick<Presence, 'refresh' | 'livePeers'>;
  /** Servers that must hold the version (by name). */
  servers: string[];
  name: string;
  version: string;
  timeoutMs: number;
  everyMs?: number;
  log: (line: string) => void;
}

/** Which of `servers` hold `version` of image `name`, per their last heartbeat (a server not alive holds nothing). */
export function holders(peers: Pick<Presence, 'livePeers'>, name: string, version: string): Set<string> {
  const out = new Set<string>();
  for (const s of peers.livePeers()) {
    const images = (s.info as { images?: Record<string, string[]> }).images ?? {};
    if ((images[name] ?? []).includes(version)) out.add(s.name);
  }
  return out;
}

/** Waits until every server holds the version; returns the servers that still lack it when the wait ran out ([] when none). */
export async function awaitReplicas(w: ReplicaWait): Promise<string[]> {
  if (!w.servers.length) return [];
  const deadline = Date.now() + w.timeoutMs;
  w.log(`waiting for ${w.servers.join(', ')} to hold ${w.name} ${w.version} (up to ${Math.round(w.timeoutMs / 1000)} s)`);
  for (;;) {
    await w.peers.refresh().catch(() => undefined);
    const held = holders(w.peers, w.name, w.version);
    const lacking = w.servers.filter((s) => !held.has(s));
    if (!lacking.length) {
      w.log(`${w.servers.join(', ')} hold${w.servers.length === 1 ? 's' : ''} ${w.name} ${w.version} too`);
      return [];
    }
    if (Date.now() >= deadline) {
      w.log(`${lacking.join(', ')} lack${lacking.length === 1 ? 's' : ''} ${w.name} ${w.version} after ${Math.round(w.timeoutMs / 1000)} s: it fetches it when it can (GET /api/v1/pair lists what the peer lacks)`);
      return lacking;
    }
    await new Promise((r) => setTimeout(r, w.everyMs ?? 500));
  }
}
