// bench/storm --profile: where rackboot's main thread spent its time during a
// storm, from the V8 CPU profile `node --cpu-prof` wrote at exit: self time
// per function, the largest first.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * The top `n` functions by self time in the newest profile of `dir`, as
 * printable lines; with `windows`, only the samples taken inside them
 * (CLOCK_MONOTONIC µs, as process.hrtime.bigint() / 1000n: the profile's clock).
 */
export function summarizeProfile(dir: string, n = 25, windows?: Array<[number, number]>): string[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  if (!files.length) return [`no .cpuprofile in ${dir}`];
  const prof = JSON.parse(readFileSync(join(dir, files[files.length - 1]!), 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  const self = new Map<number, number>();
  let at = prof.startTime;
  const inside = (t: number) => !windows || windows.some(([a, b]) => t >= a && t < b);
  prof.samples.forEach((id, i) => {
    at += prof.timeDeltas[i] ?? 0;
    if (inside(at)) self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  });
  const total = windows ? windows.reduce((a, [from, to]) => a + Math.max(0, Math.min(to, prof.endTime) - Math.max(from, prof.startTime)), 0) : prof.endTime - prof.startTime;
  const byFn = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  const idle = [...byFn].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
  const busy = total - idle;
  const lines = [`profile ${files[files.length - 1]}: ${(total / 1e6).toFixed(1)} s, main thread busy ${(busy / 1e6).toFixed(1)} s (${((busy / total) * 100).toFixed(0)}%)`];
  for (const [k, us] of [...byFn].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, n)) {
    lines.push(`  ${((us / busy) * 100).toFixed(1).padStart(5)}% ${(us / 1e3).toFixed(0).padStart(7)} ms  ${k}`);
  }
  return lines;
}
