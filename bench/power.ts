// bench/power: a rack's power driven through rackboot's API against the
// reference, FreeIPMI's ipmipower, on the same BMCs in the same run. The
// BMCs are OpenIPMI ipmi_sim instances (one per node, in a namespace, each
// powering a stand-in process); rackboot (`rackboot serve`, the real
// process) in another namespace reads them with one ipmitool run per BMC,
// power.concurrency (32) at once, and a second rackboot with
// `power.ipmi.tool: freeipmi` shares ipmipower runs between the BMCs asked
// together; ipmipower reads them all from one process (its own parallel
// sessions, fanout 64). Measured: the wall time of a status read of every
// node and of a power-on of every node (stagger 0), medians of --runs runs,
// and each rackboot's time over ipmipower's.
//   node dist/bench/power.js [--bmcs 50] [--runs 5]
// bench:smoke args: --bmcs 4 --runs 1
// bench:smoke needs: root ipmi_sim ipmitool ipmipower nft ss
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { printResult } from './lib/result.js';
import { run } from '../test/helpers/netns.js';
import { waitUntil } from '../test/helpers/wait.js';
import { BMC_PASSWORD, BMC_USER, PowerLab } from '../test/integration/power/fixture.js';

const { values } = parseArgs({ options: { bmcs: { type: 'string', default: '50' }, runs: { type: 'string', default: '5' } } });
const N = Number(values.bmcs);
const RUNS = Number(values.runs);
if (!(N >= 1 && N <= 200) || !(RUNS >= 1)) throw new Error('--bmcs 1..200, --runs >= 1');
if (process.getuid?.() !== 0) throw new Error('bench/power needs root (network namespaces)');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const lab = new PowerLab({ bmcs: N, power: { timeout: '15s', concurrency: 32, ipmi: { tool: 'ipmitool' } } });
  const conf = mkdtempSync(join(tmpdir(), 'rackboot-bench-power-'));
  try {
    await lab.startBmcs();
    const rb = await lab.startServer('bench');
    await lab.register(rb);
    const fr = await lab.startServer('bench-freeipmi', { timeout: '15s', concurrency: 32, ipmi: { tool: 'freeipmi', workaroundFlags: 'opensesspriv' } }, 8081);
    await lab.register(fr);
    writeFileSync(join(conf, 'freeipmi.conf'), `password ${BMC_PASSWORD}\n`, { mode: 0o600 });
    const hosts = `10.0.2.[${11}-${10 + N}]`;
    const ipmipower = async (flag: string) => {
      const args = ['netns', 'exec', lab.srv, 'ipmipower', `--config-file=${join(conf, 'freeipmi.conf')}`, '-D', 'LAN_2_0', '-I', '3', '-l', 'OPERATOR', '-W', 'opensesspriv', '-u', BMC_USER, '-h', hosts, flag];
      const t0 = performance.now();
      const r = await run('ip', args, { timeoutMs: 120_000 });
      const ms = performance.now() - t0;
      const ok = r.stdout.split('\n').filter((l) => /: (on|off|ok)$/.test(l)).length;
      if (r.code !== 0 || ok !== N) throw new Error(`ipmipower ${flag}: ${ok}/${N} ok: ${r.stdout.slice(0, 500)} ${r.stderr.slice(0, 500)}`);
      return ms;
    };
    const rackboot = async (action: string, server = rb) => {
      const t0 = performance.now();
      const r = await server.api.call<{ ok: number; failed: number }>('POST', '/power', { action, group: 'rack', stagger: 0 });
      const ms = performance.now() - t0;
      if (r.failed) throw new Error(`rackboot ${action}: ${r.failed} failed`);
      return ms;
    };
    const allOff = async () => {
      await rackboot('off');
      if (!(await waitUntil(() => lab.bmcs.every((b) => !b.machine.on), 30_000))) throw new Error('not every machine went off');
    };
    const t = { rbStatus: [] as number[], frStatus: [] as number[], refStatus: [] as number[], rbOn: [] as number[], frOn: [] as number[], refOn: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      t.rbStatus.push(await rackboot('status'));
      t.frStatus.push(await rackboot('status', fr));
      t.refStatus.push(await ipmipower('--stat'));
      await allOff();
      t.rbOn.push(await rackboot('on'));
      await allOff();
      t.frOn.push(await rackboot('on', fr));
      await allOff();
      t.refOn.push(await ipmipower('--on'));
      await allOff();
      process.stderr.write(`run ${i + 1}/${RUNS} done\n`);
    }
    const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(2);
    const ms = (xs: number[]) => `${median(xs).toFixed(0).padStart(6)} ms`;
    const line = (what: string, rbx: number[], frx: number[], ref: number[]) =>
      `${what.padEnd(24)} rackboot/ipmitool ${ms(rbx)}   rackboot/freeipmi ${ms(frx)}   ipmipower ${ms(ref)}   ratios to ipmipower ${ratio(rbx, ref)}, ${ratio(frx, ref)}`;
    console.log(`bench/power: ${N} ipmi_sim BMCs, ${RUNS} run(s), medians; ${availableParallelism()} cores; rackboot: 32 BMC operations at once, ipmitool lanplus -C 3 (a process per BMC) or freeipmi (shared ipmipower runs); ipmipower: one process, fanout 64`);
    console.log(line(`status of ${N} nodes`, t.rbStatus, t.frStatus, t.refStatus));
    console.log(line(`power on of ${N} nodes`, t.rbOn, t.frOn, t.refOn));
    printResult('power', `${N} BMCs, rackboot/ipmipower: status ${ratio(t.rbStatus, t.refStatus)} (ipmitool), ${ratio(t.frStatus, t.refStatus)} (freeipmi); power on ${ratio(t.rbOn, t.refOn)}, ${ratio(t.frOn, t.refOn)}`);
    const each = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
    console.log(`(every run, ms: status ipmitool ${each(t.rbStatus)}, freeipmi ${each(t.frStatus)}, ipmipower ${each(t.refStatus)}; on ipmitool ${each(t.rbOn)}, freeipmi ${each(t.frOn)}, ipmipower ${each(t.refOn)})`);
  } finally {
    await lab.close();
    rmSync(conf, { recursive: true, force: true });
  }
}

await main();
