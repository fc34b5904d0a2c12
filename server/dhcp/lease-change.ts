// A decision's lease change applied to the lease table. Returns the lease
// whose write the reply must wait for (a bind, a release, a decline); an
// offer is kept in memory only, and a bound lease it replaces is handed to
// `persist` as expired so the store stops calling it bound.
import { ownerKey, type LeaseTable, type MemLease } from './leases.js';
import type { Decision, KnownClient, PolicyNetwork } from './policy.js';
import type { DhcpRequest } from './request.js';

export function applyLeaseChange(
  leases: LeaseTable,
  dec: Decision,
  req: DhcpRequest,
  net: PolicyNetwork,
  known: KnownClient | undefined,
  now: number,
  persist: (l: MemLease) => void,
): MemLease | undefined {
  const c = dec.lease;
  if (!c) return undefined;
  switch (c.op) {
    case 'offer': {
      const cur = leases.get(net.name, c.ip);
      // A client that holds a bound lease and asks again keeps it; the offer is only the reply.
      if (cur && cur.owner === c.owner && cur.state === 'bound' && cur.expiresAt > now) return undefined;
      // The offer replaces a bound lease (one that ran out, or a registered address's lease to an old
      // MAC): the store must not keep calling it bound, so it is written as expired.
      if (cur && cur.state === 'bound') persist({ ...cur, state: 'expired', expiresAt: Math.min(cur.expiresAt, now), updatedAt: now });
      leases.set({
        network: net.name,
        ip: c.ip,
        mac: req.mac,
        owner: c.owner,
        clientId: req.clientId ?? null,
        hostname: req.hostname ?? null,
        state: 'offered',
        expiresAt: c.expiresAt,
        updatedAt: now,
        dynamic: c.dynamic,
      });
      return undefined;
    }
    case 'bind': {
      const l: MemLease = {
        network: net.name,
        ip: c.ip,
        mac: req.mac,
        owner: c.owner,
        clientId: req.clientId ?? null,
        hostname: known?.node ?? req.hostname ?? null,
        state: 'bound',
        expiresAt: c.expiresAt,
        updatedAt: now,
      };
      leases.set(l);
      return l;
    }
    case 'release':
    case 'decline': {
      const cur = leases.get(net.name, c.ip);
      const l: MemLease = {
        network: net.name,
        ip: c.ip,
        mac: req.mac,
        owner: known ? req.mac : ownerKey(req.mac, req.clientId),
        clientId: req.clientId ?? cur?.clientId ?? null,
        hostname: cur?.hostname ?? known?.node ?? null,
        state: c.op === 'release' ? 'released' : 'declined',
        expiresAt: now,
        updatedAt: now,
      };
      leases.set(l);
      return l;
    }
    case 'drop-offer': {
      const cur = leases.ofOwner(net.name, c.owner);
      if (cur?.state === 'offered') leases.delete(net.name, cur.ip);
      return undefined;
    }
  }
}
