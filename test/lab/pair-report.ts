// The pair drill's table (what `npm run lab -- --pair --drill-server`
// prints) and its goals (issue 20), both pure, from the drill's JSON.
import type { Failures, PairDrillResult } from './pair-drill.js';

const s2 = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : `${v.toFixed(2)} s`);
const kinds = (f: Failures) => (f.failed ? ` (${Object.entries(f.byKind).map(([k, n]) => `${k} ${n}`).join(', ')})` : '');
const fails = (f: Failures) => `${f.failed}/${f.requests} failed${kinds(f)}`;

/** Each goal of the drill: met or not, with the figure. */
export function pairGoals(r: PairDrillResult): Array<{ goal: string; met: boolean; figure: string }> {
  const t = r.takeover;
  const out: Array<{ goal: string; met: boolean; figure: string }> = [];
  if (t) {
    out.push({ goal: 'VIP answers again within 3 s', met: t.vipBackS !== undefined && t.vipBackS <= 3, figure: s2(t.vipBackS) });
    out.push({ goal: 'no failed request once the VIP answers again', met: t.after.failed === 0, figure: fails(t.after) });
    out.push({ goal: 'every blade serves its NFS content again', met: t.nfs.every((n) => n.servesAgainAfterS !== undefined), figure: t.nfs.map((n) => `${n.blade} ${s2(n.servesAgainAfterS)}`).join(', ') });
    out.push({ goal: 'established connections survive (conntrackd; measured)', met: t.connections.survived === t.connections.established, figure: `${t.connections.survived}/${t.connections.established}` });
  }
  if (r.outageBoot) out.push({ goal: 'a blade powered on during the outage boots from the survivor', met: r.outageBoot.content === 'nfs' && r.outageBoot.dhcpFrom.every((s) => s === 'disk-b'), figure: `up ${s2(r.outageBoot.upAfter)}, pool ${s2(r.outageBoot.poolAfter)}, DHCP from ${r.outageBoot.dhcpFrom.join(', ')}` });
  if (r.leases) out.push({ goal: 'every acknowledged lease kept, none given twice', met: r.leases.lost.length === 0 && r.leases.doubles.length === 0, figure: `${r.leases.kept}/${r.leases.acked} kept, ${r.leases.doubles.length} twice` });
  if (r.rejoin) out.push({ goal: 'the old primary rejoins as standby', met: r.rejoin.role === 'backup' && r.rejoin.receiver === 'streaming', figure: `${r.rejoin.role}, ${r.rejoin.how}, ${s2(r.rejoin.standbyAfterS)}` });
  if (r.switchover) out.push({ goal: 'switchover back with no failed request', met: r.switchover.web.failed === 0 && r.switchover.to === 'disk-a', figure: `${r.switchover.from} -> ${r.switchover.to}, ${fails(r.switchover.web)}` });
  return out;
}

export function formatPairDrill(r: PairDrillResult): string {
  const lines = [`pair drill ${r.id}: ${r.blades} blade(s), ${r.seconds.toFixed(0)} s in all`];
  for (const b of r.boots) lines.push(`  ${b.name}: up ${s2(b.upAfter)} after power-on, in disk-a's pool after ${s2(b.poolAfter)}`);
  if (r.load) lines.push(`  load: wrk ${r.load.wrk.requestsPerSec.toFixed(0)} req/s, errors ${JSON.stringify(r.load.wrk.errors)}; probe ${r.load.spread.ok}/${r.load.spread.requests} ok by blade ${JSON.stringify(r.load.spread.byBlade)}`);
  const t = r.takeover;
  if (t) {
    lines.push(
      '  disk-a pulled (links down, every process SIGKILLed):',
      `    disk-b master after          ${s2(t.masterAfterS)}`,
      `    VIP answers again after      ${s2(t.vipBackS)}`,
      `    DHCP answers again after     ${s2(t.dhcpBackS)}`,
      `    requests before the kill     ${fails(t.before)}`,
      `    kill -> VIP back             ${fails(t.window)}`,
      `    after the VIP is back        ${fails(t.after)}`,
      `    downloads across the kill    ${t.connections.survived}/${t.connections.established} completed${t.connections.errors.length ? ` (${t.connections.errors.join('; ')})` : ''}`,
      ...t.nfs.map((n) => `    ${n.blade.padEnd(28)} NFS mounted again ${s2(n.remountedAfterS)}, serves again ${s2(n.servesAgainAfterS)}`),
    );
  }
  if (r.leases) lines.push(`  leases: ${r.leases.kept}/${r.leases.acked} acknowledged kept in disk-b's database${r.leases.lost.length ? ` (lost ${JSON.stringify(r.leases.lost)})` : ''}; given twice: ${r.leases.doubles.length}`);
  if (r.outageBoot) lines.push(`  ${r.outageBoot.name} powered on during the outage: up ${s2(r.outageBoot.upAfter)}, in disk-b's pool ${s2(r.outageBoot.poolAfter)}, DHCP from ${r.outageBoot.dhcpFrom.join(', ')}, content ${String(r.outageBoot.content)}`);
  if (r.rejoin) lines.push(`  disk-a returns: ${r.rejoin.role}, database ${r.rejoin.receiver} from disk-b (${r.rejoin.how}) ${s2(r.rejoin.standbyAfterS)} after its start`);
  const w = r.switchover;
  if (w) lines.push(`  switchover ${w.from} -> ${w.to}: ${w.totalMs} ms (${w.withoutMasterMs} ms without a master), ${fails(w.web)}, longest without a DHCP ACK ${w.longestDhcpGapMs} ms, NFS mounted again ${w.remounts} time(s)${w.remountS?.length ? ` (${w.remountS.map((x) => `${x.toFixed(1)} s`).join(', ')} from content lost)` : ''}`);
  const goals = pairGoals(r);
  if (goals.length) lines.push('  goals:', ...goals.map((g) => `    [${g.met ? 'met' : 'NOT met'}] ${g.goal}: ${g.figure}`));
  return lines.join('\n');
}
