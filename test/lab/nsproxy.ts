#!/usr/bin/env node
// Runs inside a namespace (`ip netns exec NS node nsproxy.js SOCKET HOST:PORT`)
// and forwards each connection on a Unix socket to HOST:PORT there. The lab
// process, in the root namespace, reaches rackboot's API in the director
// namespace through it, so the lab needs no interface in the root namespace.
import { createConnection, createServer } from 'node:net';
import { rmSync } from 'node:fs';

const [socketPath, target] = process.argv.slice(2);
if (!socketPath || !target || !/^[^:]+:\d+$/.test(target)) {
  console.error('usage: nsproxy SOCKET HOST:PORT');
  process.exit(2);
}
const i = target.lastIndexOf(':');
const host = target.slice(0, i);
const port = Number(target.slice(i + 1));

rmSync(socketPath, { force: true });
const server = createServer((client) => {
  const upstream = createConnection({ host, port });
  client.pipe(upstream).pipe(client);
  const close = () => (client.destroy(), upstream.destroy());
  client.on('error', close);
  upstream.on('error', close);
});
server.listen(socketPath, () => console.log('ready'));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
