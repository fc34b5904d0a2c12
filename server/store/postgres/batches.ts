// The two hot writes, each one statement (one round trip, one commit):
// a batch of DHCP leases and a batch of events. Each statement also tells
// the other servers (pg_notify, sent at commit): the leases as written, the
// events as an id range they fetch if someone listens.
import type pg from 'pg';
import { LEASE_TAKEOVER, leaseNumbers } from '../rows.js';
import type { EventInput, LeaseWrite } from '../types.js';
import { CHANNEL } from './listener.js';

// Notes are at most 8000 bytes: rows go in groups of at most this many
// bytes of text (a row is at most ~750: hostnames other than plain
// names are left out; peers need the address, owner and state).
const NOTE_BYTES = 6000;

/** Dynamic writes take an address only when LEASE_TAKEOVER allows; reserved ones always. The written rows are returned and told. */
export const PUT_LEASES = `
WITH i AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bool[])
    AS t(network, ipv4, ipv4_num, mac, client_id, hostname, state, expires_at, updated_at, reserved)
), w AS (
  INSERT INTO leases AS cur (network, ipv4, ipv4_num, mac, client_id, hostname, state, expires_at, updated_at, server)
  SELECT network, ipv4, ipv4_num, mac, client_id, hostname, state, expires_at, updated_at, $11 FROM i
  ON CONFLICT (network, ipv4_num) DO UPDATE SET mac = excluded.mac, client_id = excluded.client_id, hostname = excluded.hostname,
    state = excluded.state, expires_at = excluded.expires_at, updated_at = excluded.updated_at, server = excluded.server
  WHERE ${LEASE_TAKEOVER('cur')}
    OR EXISTS (SELECT 1 FROM i WHERE i.reserved AND i.network = excluded.network AND i.ipv4_num = excluded.ipv4_num)
  RETURNING network, ipv4, ipv4_num, mac, client_id, hostname, state, expires_at, updated_at
), g AS (
  SELECT w.*, (sum(octet_length(network) + coalesce(octet_length(client_id), 4) + 160) OVER (ROWS UNBOUNDED PRECEDING)) / ${NOTE_BYTES} AS grp FROM w
), n AS (
  SELECT pg_notify('${CHANNEL}', json_build_object('s', $11::text, 'k', 'leases', 'l', json_agg(json_build_array(
    network, ipv4, mac, client_id, CASE WHEN hostname ~ '^[A-Za-z0-9._-]{1,64}$' THEN hostname END, state, expires_at, updated_at)))::text)
  FROM g GROUP BY grp
)
SELECT (SELECT count(*) FROM n) AS notes, (SELECT coalesce(array_agg(network || '/' || ipv4_num), '{}') FROM w) AS written`;

/** Write a batch of leases in order; returns the refused writes. Two writes of one address go in successive statements of one transaction. */
export async function putLeases(
  run: (sql: pg.QueryConfig) => Promise<pg.QueryResult<{ written: string[] }>>,
  tx: <T>(fn: (c: pg.PoolClient) => Promise<T>) => Promise<T>,
  server: string,
  leases: readonly LeaseWrite[],
): Promise<LeaseWrite[]> {
  if (!leases.length) return [];
  const nums = leaseNumbers(leases);
  // Rounds: the k-th write of each address goes in round k (one statement may touch a row once).
  const rounds: number[][] = [];
  const seen = new Map<string, number>();
  leases.forEach((l, i) => {
    const key = `${l.network}/${nums[i]}`;
    const r = seen.get(key) ?? 0;
    seen.set(key, r + 1);
    (rounds[r] ??= []).push(i);
  });
  const query = (idx: number[]): pg.QueryConfig => ({
    name: 'rackboot_put_leases',
    text: PUT_LEASES,
    values: [
      idx.map((i) => leases[i]!.network),
      idx.map((i) => leases[i]!.ipv4),
      idx.map((i) => nums[i]!),
      idx.map((i) => leases[i]!.mac),
      idx.map((i) => leases[i]!.clientId),
      idx.map((i) => leases[i]!.hostname),
      idx.map((i) => leases[i]!.state),
      idx.map((i) => leases[i]!.expiresAt),
      idx.map((i) => leases[i]!.updatedAt),
      idx.map((i) => leases[i]!.reserved === true),
      server,
    ],
  });
  const refusedOf = (idx: number[], written: string[]) => {
    const ok = new Set(written);
    return idx.filter((i) => !ok.has(`${leases[i]!.network}/${nums[i]}`)).map((i) => leases[i]!);
  };
  if (rounds.length === 1) return refusedOf(rounds[0]!, (await run(query(rounds[0]!))).rows[0]?.written ?? []);
  return tx(async (c) => {
    const refused: LeaseWrite[] = [];
    for (const idx of rounds) refused.push(...refusedOf(idx, (await c.query<{ written: string[] }>(query(idx))).rows[0]?.written ?? []));
    return refused;
  });
}

export const ADD_EVENTS = `
WITH w AS (
  INSERT INTO events (server, node, mac, ts, kind, detail)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])
  RETURNING id
)
SELECT pg_notify('${CHANNEL}', json_build_object('s', $7::text, 'k', 'events', 'a', min(id), 'b', max(id))::text) AS notified FROM w HAVING count(*) > 0`;

export function addEventsQuery(server: string, events: readonly EventInput[]): pg.QueryConfig {
  const now = Date.now();
  return {
    name: 'rackboot_add_events',
    text: ADD_EVENTS,
    values: [
      events.map((e) => e.server ?? server),
      events.map((e) => e.node),
      events.map((e) => e.mac ?? null),
      events.map((e) => e.ts ?? now),
      events.map((e) => e.kind),
      events.map((e) => JSON.stringify(e.detail ?? {})),
      server,
    ],
  };
}
