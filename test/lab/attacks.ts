#!/usr/bin/env node
// The full run of issue 16's bars: each attack for --seconds (default 60) in
// namespaces (test/integration/attacks/lab.ts), the registered blade leasing
// and a 16 MiB TFTP fetch looping throughout. Prints one line per attack and
// exits 1 when a bar is missed. Root; run from the repository after npm run build:
//   node dist/test/lab/attacks.js [--seconds 60] [--only inform-flood,loss]
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { AttackLab, ATTACKS, describePhase, type AttackName } from '../integration/attacks/lab.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, only: { type: 'string' } } });
const seconds = Number(values.seconds);
const attacks = values.only ? (values.only.split(',') as AttackName[]) : ATTACKS;
const L = new AttackLab();
let failed = false;
const stop = () => void L.close().finally(() => process.exit(130));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
try {
  await L.start();
  console.log(`cores ${availableParallelism()}, idle RSS ${L.idleRssKiB} KiB, ${seconds} s per attack`);
  for (const a of attacks) {
    const r = await L.phase(a, seconds);
    const bad = L.judge(r);
    console.log(`${bad.length ? 'FAIL' : 'ok  '} ${describePhase(r, L.idleRssKiB)}`);
    for (const b of bad) console.log(`     ${b}`);
    failed ||= bad.length > 0;
  }
  const m = await L.metrics();
  for (const line of m.split('\n')) if (/^rackboot_(dhcp_packets_total\{type="(inform|discover)",result="(ciaddr-off-network|unknown-budget|ignored)"|tftp_requests_total\{result="(foreign-source|unanswered-evicted)")/.test(line)) console.log(`  ${line}`);
} finally {
  await L.close();
}
process.exit(failed ? 1 : 0);
