// Shared set-up of the DHCP integration tests: namespaces made by NetLab, a
// socket broker in the server namespace, and rackboot in-process with only
// the DHCP service, its sockets inside that namespace.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dhcpService } from '../../../server/dhcp/service.js';
import type { DhcpServer } from '../../../server/dhcp/server.js';
import { NetLab } from '../../helpers/netns.js';
import { NsSocketBroker } from '../../helpers/ns-sockets.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js';

export const INSIDE = {
  name: 'inside',
  interface: 'eth1',
  cidr: '10.0.0.0/24',
  serverAddress: '10.0.0.1',
  router: '10.0.0.254',
  dns: ['10.0.0.1', '10.0.0.2'],
  domain: 'inside.example',
  staticRange: '10.0.0.10-10.0.0.199',
};

export const INSIDE2 = {
  name: 'inside2',
  interface: 'eth2',
  cidr: '10.0.1.0/24',
  serverAddress: '10.0.1.1',
  router: '10.0.1.254',
  staticRange: '10.0.1.10-10.0.1.199',
};

export interface DhcpLab {
  lab: NetLab;
  srv: string;
  cli: string;
  ts: TestServer;
  dhcp: DhcpServer;
  broker: NsSocketBroker;
  tmp: string;
  close(): Promise<void>;
}

/**
 * Server namespace `srv` and client namespace `cli`; `links` are veth pairs
 * (server side name/address, client side name/MAC). Returns with rackboot's
 * DHCP serving inside `srv`.
 */
export async function startDhcpLab(
  config: Record<string, unknown>,
  links: Array<{ srv: string; srvAddr?: string; cli: string; mac?: string; cliAddr?: string }>,
  extra: (lab: NetLab, srv: string, cli: string) => void = () => undefined,
): Promise<DhcpLab> {
  const lab = new NetLab('rbd');
  try {
    const srv = lab.addNs('srv');
    const cli = lab.addNs('cli');
    for (const l of links) lab.veth({ ns: srv, name: l.srv, addr: l.srvAddr }, { ns: cli, name: l.cli, mac: l.mac, addr: l.cliAddr });
    extra(lab, srv, cli);
    const broker = await NsSocketBroker.start(lab, srv);
    let dhcp: DhcpServer | undefined;
    const ts = await startTestServer(config, { factories: [dhcpService({ opener: broker, onServer: (s) => (dhcp = s) })] });
    const failed = ts.server.failed.get('dhcp');
    if (failed) throw new Error(failed);
    const tmp = makeTempDir('rackboot-dhcp-');
    return {
      lab,
      srv,
      cli,
      ts,
      dhcp: dhcp!,
      broker,
      tmp,
      async close() {
        await ts.stop().catch(() => undefined);
        await broker.close();
        await lab.cleanup();
        removeTempDir(tmp);
      },
    };
  } catch (err) {
    await lab.cleanup();
    throw err;
  }
}

let scripts = 0;

/**
 * A udhcpc script that writes the environment of its `bound` call to a file
 * and configures the address (in the client's namespace), so a later RELEASE
 * can be sent from it. The file is renamed into place, so a test that polls
 * for it never reads it half written.
 */
export function udhcpcScript(dir: string): { script: string; out: string } {
  const n = scripts++;
  const script = join(dir, `udhcpc-${n}.sh`);
  const out = join(dir, `udhcpc-${n}.env`);
  writeFileSync(
    script,
    `#!/bin/sh\ncase "$1" in\n  bound) env > "${out}.tmp"; mv "${out}.tmp" "${out}"; ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface" ;;\n  deconfig) ip addr flush dev "$interface" ;;\nesac\nexit 0\n`,
  );
  chmodSync(script, 0o755);
  return { script, out };
}

/** Run udhcpc once in `ns` on `iface`; the bound environment, or undefined when it got no lease. */
export async function udhcpc(
  L: { lab: NetLab; tmp: string },
  ns: string,
  iface: string,
  args: string[] = [],
  // Generous for a lease that should come: a discover that finds the loaded
  // machine late costs one more try, not the test. Tests that expect no lease pass fewer.
  tries = 8,
): Promise<{ env: Record<string, string> | undefined; output: string }> {
  const { script, out } = udhcpcScript(L.tmp);
  const r = await L.lab.exec(ns, 'udhcpc', ['-i', iface, '-f', '-q', '-n', '-t', String(tries), '-T', '1', '-A', '1', '-s', script, ...args], { timeoutMs: 30_000 });
  return { env: existsSync(out) ? readEnvFile(out) : undefined, output: r.stdout + r.stderr };
}

export interface EventOut {
  node: string | null;
  mac: string | null;
  kind: string;
  detail: Record<string, unknown>;
}

/** Events of a node (or, with `mac`, of a MAC), after flushing the recorder. */
export async function eventsOf(ts: TestServer, q: { node?: string; mac?: string }): Promise<EventOut[]> {
  await ts.server.events.flush();
  const path = q.node ? `/api/v1/nodes/${q.node}/events` : `/api/v1/events?mac=${encodeURIComponent(q.mac!)}`;
  const r = await ts.api<EventOut[]>('GET', path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}
