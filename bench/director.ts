// bench/director: what LVS-NAT through rackboot's director (nftables backend)
// costs. In network namespaces (client -> director -> real servers, as the
// tests), in the same run:
//   direct:   wrk from the client namespace to one real server's own address
//             (routed through the director, no NAT)
//   director: wrk from the client namespace to the VIP of a service whose only
//             real server is that same server (DNAT + un-NAT on every packet)
// alternating, several runs each; prints medians and the ratio (bar: >= 0.9).
// Then wrk through a VIP balancing three servers, with the requests each got.
//   node dist/bench/director.js [--runs 5] [--seconds 5] [--connections 32] [--nginx PATH] [--close] [--only three]
// --close: a new connection per request; each run then also prints the
// client's SYN retransmissions (nstat in the client namespace).
// --only three: skip the one-server comparison (no connections to a real
// server's own address before the three-server runs).
// Real servers: nginx (one worker, `return 200`) when found (--nginx or PATH),
// else a Node http server; the output says which. Needs root, nft, wrk.
// Figures in docs/benchmarks.md: node dist/bench/director.js --runs 5 --seconds 5
//   and node dist/bench/director.js --close --only three --runs 5 --seconds 5
// bench:smoke args: --runs 1 --seconds 1
// bench:smoke needs: root nft wrk nstat
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { DirectorLab, NAT_ROUTER, VIP, waitFor, type RealServer } from '../test/integration/director/topology.js';
import { printResult } from './lib/result.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    nginx: { type: 'string' },
    close: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const SECS = Number(values.seconds);
const CONNS = Number(values.connections);
const THREADS = Number(values.threads);
const CLI = new URL('../server/cli/main.js', import.meta.url).pathname;

function findNginx(): string | undefined {
  if (values.nginx) return values.nginx;
  const r = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  if (r.status === 0) return r.stdout.trim();
  for (const p of ['/usr/sbin/nginx', '/tmp/nginx-root/usr/sbin/nginx']) if (existsSync(p)) return p;
  return undefined;
}

const NODE_SERVER = `
import http from 'node:http';
const name = process.argv[2];
http.createServer((req, res) => { res.setHeader('content-type', 'text/plain'); res.end(req.url === '/health' ? 'ok\\n' : name + '\\n'); })
  .listen({ port: 80, host: '0.0.0.0', backlog: 4096 });
`;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const SPREAD_LUA = `
-- counts is a global: thread:get() reads a thread's globals.
counts = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} end
function response(status, headers, body)
  local k = body and body:gsub("%s+$", "") or "?"
  counts[k] = (counts[k] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write("SPREAD " .. k .. " " .. v .. "\\n") end
end
`;

/** The client namespace's TCP SYN retransmissions so far (nstat -a: absolute counters). */
function synRetrans(lab: DirectorLab): number {
  const r = lab.lab.execSync(lab.client, 'nstat', ['-az', 'TcpExtTCPSynRetrans'], { check: false });
  return Number(/TcpExtTCPSynRetrans\s+(\d+)/.exec(r.stdout)?.[1] ?? NaN);
}

async function wrk(lab: DirectorLab, url: string, extra: string[] = []): Promise<{ rps: number; out: string }> {
  const syn0 = values.close ? synRetrans(lab) : 0;
  const args = [`-t${THREADS}`, `-c${CONNS}`, `-d${SECS}s`, ...(values.close ? ['-H', 'Connection: close'] : []), ...extra, url];
  const r = await lab.lab.exec(lab.client, 'wrk', args, { timeoutMs: (SECS + 30) * 1000 });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!m) throw new Error(`wrk gave no figure: ${r.stdout}${r.stderr}`);
  const errs = /Socket errors: (.*)|Non-2xx or 3xx responses: (\d+)/.exec(r.stdout);
  if (errs) console.log(`  (wrk: ${errs[0]})`);
  if (values.close) {
    const total = /(\d+) requests in/.exec(r.stdout)?.[1];
    console.log(`  ${url}: ${Number(m[1]).toFixed(0)} req/s, ${total} connections, ${synRetrans(lab) - syn0} SYN retransmissions`);
  }
  return { rps: Number(m[1]), out: r.stdout };
}

/** The bar: one real server straight against through a VIP, alternating (ABBA). Returns the ratio of the medians. */
async function oneServer(lab: DirectorLab, rs1: string): Promise<number> {
  await wrk(lab, `http://${rs1}/`); // warm-up
  const direct: number[] = [];
  const via: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // ABBA order, so a load change on this shared machine hits both sides alike.
    let d: number;
    let v: number;
    if (i % 2 === 0) {
      d = (await wrk(lab, `http://${rs1}/`)).rps;
      v = (await wrk(lab, `http://${VIP}:8080/`)).rps;
    } else {
      v = (await wrk(lab, `http://${VIP}:8080/`)).rps;
      d = (await wrk(lab, `http://${rs1}/`)).rps;
    }
    direct.push(d);
    via.push(v);
    console.log(`  run ${i + 1}: direct ${d.toFixed(0)} req/s, through the director ${v.toFixed(0)} req/s (${(v / d).toFixed(3)})`);
  }
  const md = median(direct);
  const mv = median(via);
  console.log(`one real server: direct median ${md.toFixed(0)} req/s, through the director median ${mv.toFixed(0)} req/s, ratio ${(mv / md).toFixed(3)} (bar >= 0.9: ${mv / md >= 0.9 ? 'met' : 'MISSED'})`);
  return mv / md;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/director needs root (network namespaces)');
  const nginx = findNginx();
  const lab = new DirectorLab();
  try {
    lab.build(3);
    const nodeServer = join(lab.tmp, 'server.mjs');
    writeFileSync(nodeServer, NODE_SERVER);
    const start = (rs: RealServer) => {
      if (nginx) lab.startNginx(rs, nginx);
      else rs.proc = lab.lab.spawn(rs.ns, process.execPath, [nodeServer, rs.name]);
    };
    for (const rs of lab.servers) start(rs);
    // "Direct" goes to the real server's own address, routed (not NATed) by the director.
    lab.lab.execSync(lab.client, 'ip', ['route', 'add', '10.0.0.0/24', 'via', '192.168.100.1']);
    // Many short connections in the client namespace: reuse TIME_WAIT ports.
    lab.lab.execSync(lab.client, 'sysctl', ['-q', '-w', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65000']);
    const check = { path: '/health', interval: '2s', timeout: '1s', retries: 2, reentry: '2s' };
    const director = {
      enabled: true,
      backend: 'nftables',
      natRouter: { interface: 'brin', address: `${NAT_ROUTER}/24` },
      check,
      services: [
        { name: 'one', vip: `${VIP}/24`, interface: 'out0', port: 8080, scheduler: 'rr', realServers: { nodes: ['rs1'], port: 80 } },
        { name: 'web', vip: `${VIP}/24`, interface: 'out0', port: 80, scheduler: 'wrr', realServers: { group: 'web', port: 80 } },
      ],
    };
    await lab.startServer(lab.config(director, lab.servers.map((rs) => ({ rs }))), CLI);
    await waitFor('all real servers in the pools', async () => {
      const v = (await lab.api<{ services: Array<{ pool: number }> }>('GET', '/director')).body;
      return v.services[0]?.pool === 1 && v.services[1]?.pool === 3 ? true : undefined;
    }, 20_000);

    const rs1 = lab.servers[0]!.address;
    console.log(
      `bench/director: ${cpus().length} cores, real servers: ${nginx ? `nginx (${nginx}, 1 worker)` : 'Node http'}, ` +
        `wrk -t${THREADS} -c${CONNS} -d${SECS}s${values.close ? ' (Connection: close)' : ' (keep-alive)'}, ${RUNS} runs each`,
    );
    const ratio = values.only !== 'three' ? await oneServer(lab, rs1) : undefined;

    const three: number[] = [];
    for (let i = 0; i < RUNS; i++) three.push((await wrk(lab, `http://${VIP}/`)).rps);
    console.log(`three real servers through the director: median ${median(three).toFixed(0)} req/s (runs: ${three.map((x) => x.toFixed(0)).join(', ')})`);
    const script = join(lab.tmp, 'spread.lua');
    writeFileSync(script, SPREAD_LUA);
    const spread = await wrk(lab, `http://${VIP}/`, ['-s', script]);
    const counts = [...spread.out.matchAll(/^SPREAD (\S+) (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])] as const).sort();
    const total = counts.reduce((a, [, n]) => a + n, 0);
    console.log(
      `spread over three (one run with a counting script, ${spread.rps.toFixed(0)} req/s): ` +
        counts.map(([k, n]) => `${k} ${n} (${((100 * n) / total).toFixed(1)}%)`).join(', '),
    );
    printResult(
      'director',
      (ratio !== undefined ? `through the VIP / direct to one real server ${ratio.toFixed(2)}x (bar >= 0.9x); ` : '') +
        `three real servers through the VIP ${median(three).toFixed(0)} req/s${values.close ? ' (Connection: close)' : ''}; medians of ${RUNS} runs`,
    );
  } finally {
    await lab.cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(`bench/director: ${(e as Error).message}`);
  process.exit(1);
});
