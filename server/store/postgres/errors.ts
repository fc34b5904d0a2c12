// Which PostgreSQL errors mean "the database cannot be reached" (the store
// is unavailable: 503, DHCP queues) and which are answers about the data.

const NET_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED']);
const SQLSTATE_DOWN = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '53300', // too_many_connections
  '58P01', // (not really a connection state, but "could not access file": a broken cluster)
  '25006', // read_only_sql_transaction: the address reaches a standby (a pair's new master, not promoted yet)
]);
const MESSAGE_DOWN = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|not queryable|Connection ended|server closed the connection/i;

export interface PgError extends Error {
  code?: string;
  constraint?: string;
  detail?: string;
}

/** True when the error says the database is not reachable (not that a statement was wrong). */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as PgError).code;
  if (code && (NET_CODES.has(code) || SQLSTATE_DOWN.has(code) || code.startsWith('08'))) return true;
  return MESSAGE_DOWN.test(err.message);
}

export const isUnique = (err: unknown, constraint?: string): boolean =>
  err instanceof Error && (err as PgError).code === '23505' && (constraint === undefined || (err as PgError).constraint === constraint);

export const isForeignKey = (err: unknown): boolean => err instanceof Error && (err as PgError).code === '23503';
